package diagnose

import (
	"fmt"
	"strings"
	"time"
)

// Check statuses. A check that does not apply, or cannot be made because
// something it needs failed, is skipped: never passed.
const (
	Passed  = "passed"
	Failed  = "failed"
	Skipped = "skipped"
	Warning = "warning"
)

// Check names, in the order the answer lists them.
const (
	CheckAPI             = "kubernetes_api"
	CheckCA              = "ca_certificate"
	CheckClock           = "clock_skew"
	CheckCredential      = "reviewer_credential"
	CheckIdentity        = "reviewer_identity"
	CheckTokenReviews    = "create_tokenreviews"
	CheckNamespaces      = "get_namespaces"
	CheckServiceAccounts = "get_serviceaccounts"
	CheckPods            = "get_pods"
	CheckReplicaSets     = "get_replicasets"
	CheckJobs            = "get_jobs"
	CheckIssuer          = "issuer"
	CheckPEMKeys         = "pem_keys"
	CheckClusterKeys     = "cluster_keys"
	// CheckClusterChoice, on mounts with named clusters: how a login tells
	// this cluster's tokens from the other clusters'.
	CheckClusterChoice = "cluster_choice"
)

// Thresholds of the checks.
const (
	// caExpiryWarning: a CA certificate this close to its notAfter is
	// reported while there is still time to roll out a new one.
	caExpiryWarning = 30 * 24 * time.Hour
	// clockSkewWarning: clocks this far apart are worth fixing before they
	// reach satoken.ClockSkew, the tolerance of the exp/nbf/iat checks.
	clockSkewWarning = 5 * time.Second
	// credentialExpiryWarning applies to a reviewer JWT without iat; one
	// with iat is reported once less than a fifth of its lifetime is left,
	// the point at which the kubelet replaces a pod's token.
	credentialExpiryWarning = 24 * time.Hour
)

// Result is one check in the answer.
type Result struct {
	Name   string
	Status string
	Detail string         // what was found, in a sentence or two
	Fix    string         // for a failure or warning: what to do, in one sentence
	Data   map[string]any // the facts behind the detail
}

// Problem says whether the check failed or warns.
func (r Result) Problem() bool { return r.Status == Failed || r.Status == Warning }

// Map is the check as the answer lists it.
func (r Result) Map() map[string]any {
	data := r.Data
	if data == nil {
		data = map[string]any{}
	}
	return map[string]any{"name": r.Name, "status": r.Status, "detail": r.Detail, "fix": r.Fix, "data": data}
}

// Skip is a check that does not apply, or cannot be made, and why.
func Skip(name, why string) Result {
	return Result{Name: name, Status: Skipped, Detail: why}
}

// Verdict is the one-line summary: "ok: ..." when nothing failed or warned,
// else how many problems and which checks have them.
func Verdict(results []Result) string {
	var problems []string
	passed, skippedN := 0, 0
	for _, r := range results {
		switch {
		case r.Problem():
			problems = append(problems, r.Name+" ("+r.Status+")")
		case r.Status == Passed:
			passed++
		default:
			skippedN++
		}
	}
	if len(problems) == 0 {
		return fmt.Sprintf("ok: %d checks passed, %d skipped", passed, skippedN)
	}
	noun := "problems"
	if len(problems) == 1 {
		noun = "problem"
	}
	return fmt.Sprintf("%d %s: %s; see each check's fix", len(problems), noun, strings.Join(problems, ", "))
}

// rfc3339 formats a time for the answer's data, in UTC.
func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// roughly renders a duration for a sentence: days when long, else to the
// second.
func roughly(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	case d <= 90*time.Second:
		return fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second))
	default:
		return d.Round(time.Second).String()
	}
}
