package kubeauth

import (
	"fmt"
	"strings"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
)

// Outcomes of an explained step.
const (
	outcomePassed  = "passed"
	outcomeRefused = "refused"
	outcomeSkipped = "skipped"
	outcomeFault   = "fault"
)

// explainInvalidInput is the reason explain gives a step that found the
// request malformed: a login would answer it with HTTP 400, not 403.
const explainInvalidInput = "invalid_input"

// explainAddressNote ends the source_address step's answer. The step is
// judged, as the login judges it, so that explain replays the login's steps
// and codes, and answers truly when run from where the workload logs in
// from; but the address is the explain request's, which elsewhere is the
// operator's, and an answer that did not say so would read as the
// workload's.
const explainAddressNote = " (the address of this explain request, not the workload's: a login is judged by its own address)"

// explainedStep is one step of an explained login.
type explainedStep struct {
	Name    string `json:"name"`
	Outcome string `json:"outcome"`
	// Reason is the refusal's reason code or the fault's kind, the same
	// codes the log uses; empty for passed and skipped steps.
	Reason string `json:"reason,omitempty"`
	Detail string `json:"detail"`
}

// explainRecorder observes a login's steps (see observeSteps) and says, for
// each, what it decided and why, from the attempt as the step left it.
type explainRecorder struct {
	a     *attempt
	steps []explainedStep
}

func (r *explainRecorder) observe(s loginStep, err error) {
	r.steps = append(r.steps, describeStep(s, r.a, err))
}

// finish reports the steps the login never reached after the one that
// ended it.
func (r *explainRecorder) finish(all []loginStep) {
	for _, s := range all[len(r.steps):] {
		r.steps = append(r.steps, explainedStep{Name: s.name, Outcome: outcomeSkipped, Detail: "not reached"})
	}
}

// describeStep turns a step's result into its explanation.
func describeStep(s loginStep, a *attempt, err error) explainedStep {
	o := refusal.Classify(err)
	switch o.Class {
	case refusal.Passed:
		outcome, detail := s.explain(a)
		return explainedStep{Name: s.name, Outcome: outcome, Detail: detail}
	case refusal.Refused:
		return explainedStep{Name: s.name, Outcome: outcomeRefused, Reason: o.Code, Detail: o.Detail + s.refusalNote(a)}
	case refusal.Malformed:
		return explainedStep{Name: s.name, Outcome: outcomeRefused, Reason: explainInvalidInput, Detail: o.Detail}
	default:
		return explainedStep{Name: s.name, Outcome: outcomeFault, Reason: o.Code, Detail: o.Detail}
	}
}

// reviewedInstead says why hybrid mode reviewed a young token its
// cluster's keys could not vouch for, when it did.
func reviewedInstead(a *attempt) string {
	if a.localFallback == "" {
		return ""
	}
	return " (review_mode hybrid reviewed this young token, as the cluster's signing keys could not vouch for it: " + a.localFallback + ")"
}

func describeServiceAccount(namespace, name, uid, pod string) string {
	s := fmt.Sprintf("service account %s/%s (uid %s)", namespace, name, uid)
	if pod != "" {
		s += ", pod " + pod
	}
	return s
}

func boundCIDRStrings(r *roleEntry) []string {
	out := make([]string, len(r.TokenBoundCIDRs))
	for i, c := range r.TokenBoundCIDRs {
		out[i] = c.String()
	}
	return out
}

// identityAnswer is who the token is for: what Kubernetes (or the keys)
// vouched for when the review passed, else what the claims say.
func identityAnswer(a *attempt) map[string]any {
	if a.claimed.Name == "" {
		return nil
	}
	id := map[string]any{
		"service_account_name":      a.claimed.Name,
		"service_account_namespace": a.claimed.Namespace,
		"service_account_uid":       a.claimed.UID,
		"pod_name":                  a.claimed.PodName,
		"pod_uid":                   a.claimed.PodUID,
		"vouched_for_by":            "",
	}
	if a.reviewed.Name != "" {
		id["service_account_name"] = a.reviewed.Name
		id["service_account_namespace"] = a.reviewed.Namespace
		id["service_account_uid"] = a.reviewed.UID
		id["pod_name"] = a.reviewed.PodName
		id["pod_uid"] = a.reviewed.PodUID
		id["vouched_for_by"] = a.verifiedBy
	}
	return id
}

// explainToken is the token a passing login would get, from the same auth
// the login returns; ttl, max_ttl and period are seconds, 0 meaning the
// mount's default.
func explainToken(a *attempt) map[string]any {
	auth := a.auth()
	return map[string]any{
		"policies":         rolePolicies(a.role),
		"ttl":              int64(auth.TTL.Seconds()),
		"max_ttl":          int64(auth.MaxTTL.Seconds()),
		"explicit_max_ttl": int64(auth.ExplicitMaxTTL.Seconds()),
		"period":           int64(auth.Period.Seconds()),
		"num_uses":         auth.NumUses,
		"type":             auth.TokenType.String(),
		"bound_cidrs":      boundCIDRStrings(a.role),
		"metadata":         auth.Metadata,
		"display_name":     auth.DisplayName,
		"alias_name":       auth.Alias.Name,
		"alias_metadata":   auth.Alias.Metadata,
	}
}

// explainVerdict is the one line that sums the steps up.
func explainVerdict(steps []explainedStep, a *attempt) (outcome, verdict string) {
	for _, s := range steps {
		switch s.Outcome {
		case outcomeRefused:
			if s.Reason == explainInvalidInput {
				return outcomeRefused, fmt.Sprintf("the login would be answered 400 at step %s: %s", s.Name, s.Detail)
			}
			return outcomeRefused, fmt.Sprintf("the login would be refused (403) at step %s: %s", s.Name, s.Reason)
		case outcomeFault:
			return outcomeFault, fmt.Sprintf("the login would fail at step %s on a fault (%s); see detail", s.Name, s.Reason)
		}
	}
	return outcomePassed, fmt.Sprintf("the login would pass: service account %s/%s gets policies %s",
		a.reviewed.Namespace, a.reviewed.Name, strings.Join(rolePolicies(a.role), ","))
}
