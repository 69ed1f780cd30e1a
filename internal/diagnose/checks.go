package diagnose

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	authv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/clusterkeys"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/satoken"
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

// caSource names where the CA bundle that verifies the API server comes
// from, as a sentence fragment.
func caSource(caCertSet, podCA bool, podCAPath string) string {
	switch {
	case caCertSet:
		return "kubernetes_ca_cert"
	case podCA:
		return "the pod's CA file " + podCAPath
	default:
		return "the system trust store"
	}
}

// APIServer: the API server answers, over TLS verified with the
// configured CA, and how fast.
func APIServer(p kube.Probe, host, ca string) Result {
	r := Result{Name: CheckAPI, Data: map[string]any{"host": host}}
	if p.Err != nil {
		r.Status, r.Detail = Failed, p.Err.Error()
		r.Fix = apiFailureFix(p.Err, host, ca)
		return r
	}
	r.Data["round_trip"] = p.RoundTrip.Round(time.Microsecond).String()
	r.Data["round_trip_ms"] = float64(p.RoundTrip.Microseconds()) / 1000
	r.Data["http_status"] = p.Status
	if p.Version != "" {
		r.Data["server_version"] = p.Version
	}
	tls := "not used (plain HTTP)"
	if p.TLS {
		tls = "verified with " + ca
		if !p.ServerNotAfter.IsZero() {
			r.Data["server_certificate_not_after"] = rfc3339(p.ServerNotAfter)
		}
		if p.VerifiedBy != nil {
			r.Data["verified_by"] = p.VerifiedBy.Subject.String()
		}
	}
	r.Data["tls"] = tls
	answer := fmt.Sprintf("answered GET /version with HTTP %d in %s", p.Status, p.RoundTrip.Round(time.Millisecond/10))
	if p.Version != "" {
		answer += " (Kubernetes " + p.Version + ")"
	}
	switch {
	case p.Status >= 500:
		r.Status = Failed
		r.Detail = fmt.Sprintf("%s %s: the API server (or a proxy in front of it) is failing", host, answer)
		r.Fix = "check the API server's health, or set kubernetes_host to the API server itself rather than a failing proxy"
	case !p.TLS:
		r.Status = Warning
		r.Detail = fmt.Sprintf("%s %s over plain HTTP: %s", host, answer, PlainHTTPRisk)
		r.Fix = PlainHTTPFix
	default:
		r.Status = Passed
		r.Detail = fmt.Sprintf("%s %s; TLS %s", host, answer, tls)
	}
	return r
}

// What plain HTTP to the API server costs, and the remedy: config/check
// says it of the answer it got, a config write of the address it stores.
const (
	PlainHTTPRisk = "the reviewer token and every login JWT cross the network unencrypted"
	PlainHTTPFix  = "set kubernetes_host to the API server's https:// address"
)

// apiFailureFix says what to change when the API server cannot be used.
func apiFailureFix(err error, host, ca string) string {
	var api *kube.APIError
	if !errors.As(err, &api) {
		return "check kubernetes_host"
	}
	switch {
	case api.Redirect != nil:
		return "set kubernetes_host to the API server itself, not an address that redirects"
	case api.TLS && ca == "kubernetes_ca_cert":
		return "set kubernetes_ca_cert to the PEM bundle of the CA that signed the API server's serving certificate"
	case api.TLS:
		return "set kubernetes_ca_cert to the PEM bundle of the CA that signed the API server's serving certificate (" + ca + " does not verify it)"
	default:
		return "check that kubernetes_host (" + host + ") is the API server's address and that Vault can reach it (DNS, routes, firewalls, proxies)"
	}
}

// CA: the CA certificates trusted for the API server, and when
// they expire.
func CA(certs []*x509.Certificate, source string, readErr error, now time.Time) Result {
	r := Result{Name: CheckCA, Data: map[string]any{"source": source}}
	if readErr != nil {
		r.Status, r.Detail = Failed, readErr.Error()
		r.Fix = "fix the CA bundle or set kubernetes_ca_cert"
		return r
	}
	if len(certs) == 0 {
		return Skip(CheckCA, "no CA is configured: the API server's certificate is checked against the system trust store, whose certificates are not inspected here")
	}
	var list []map[string]any
	var expired, expiring []string
	var first *x509.Certificate
	for _, c := range certs {
		list = append(list, map[string]any{"subject": c.Subject.String(), "not_after": rfc3339(c.NotAfter)})
		switch {
		case !now.Before(c.NotAfter):
			expired = append(expired, fmt.Sprintf("%q expired on %s", c.Subject.String(), rfc3339(c.NotAfter)))
			continue
		case c.NotAfter.Sub(now) < caExpiryWarning:
			expiring = append(expiring, fmt.Sprintf("%q expires on %s, in %s", c.Subject.String(), rfc3339(c.NotAfter), roughly(c.NotAfter.Sub(now))))
		}
		if first == nil || c.NotAfter.Before(first.NotAfter) {
			first = c
		}
	}
	r.Data["certificates"] = list
	renew := "renew the cluster's CA and write the new bundle as kubernetes_ca_cert before the old one expires"
	if source != "kubernetes_ca_cert" {
		renew = "renew the cluster's CA before it expires"
	}
	switch {
	case first == nil:
		r.Status = Failed
		r.Detail = fmt.Sprintf("every CA certificate of %s has expired: %s", source, strings.Join(expired, "; "))
		r.Fix = "write kubernetes_ca_cert with the cluster's current CA bundle"
	case len(expiring) > 0:
		r.Status = Warning
		r.Detail = fmt.Sprintf("a CA certificate of %s expires within 30 days: %s", source, strings.Join(expiring, "; "))
		r.Fix = renew
	case len(expired) > 0:
		r.Status = Warning
		r.Detail = fmt.Sprintf("%s holds an expired CA certificate: %s", source, strings.Join(expired, "; "))
		r.Fix = "remove the expired certificate from kubernetes_ca_cert"
	default:
		r.Status = Passed
		r.Detail = fmt.Sprintf("%s holds %d CA certificate(s); the first to expire, %q, expires on %s, in %s",
			source, len(certs), first.Subject.String(), rfc3339(first.NotAfter), roughly(first.NotAfter.Sub(now)))
	}
	return r
}

// ClockSkew: Vault's clock against the API server's Date header.
// The header has a resolution of one second; the thresholds are far above.
func ClockSkew(p kube.Probe) Result {
	if p.Date.IsZero() {
		return Skip(CheckClock, "the API server's answer carried no Date header to compare with")
	}
	// The API server's clock read somewhere within the second its Date
	// header names: the skew is the least that agrees with that, the API
	// server's clock minus Vault's.
	var skew time.Duration
	switch {
	case p.VaultTime.Before(p.Date):
		skew = p.Date.Sub(p.VaultTime)
	case p.VaultTime.After(p.Date.Add(time.Second)):
		skew = p.Date.Add(time.Second).Sub(p.VaultTime)
	}
	skew = skew.Round(time.Second)
	r := Result{Name: CheckClock, Data: map[string]any{
		"vault_time":      rfc3339(p.VaultTime),
		"api_server_time": rfc3339(p.Date),
		"skew_seconds":    int64(skew / time.Second),
	}}
	abs, direction := skew, "behind"
	if skew < 0 {
		abs, direction = -skew, "ahead of"
	}
	off := fmt.Sprintf("Vault's clock is %s %s the API server's", roughly(abs), direction)
	// Behind: tokens the API server just issued look issued in the future.
	// Ahead: tokens look expired early.
	effect := "tokens the cluster has just issued are refused as not yet valid (token_not_yet_valid)"
	if skew < 0 {
		effect = "short-lived tokens are refused as expired before their time (token_expired)"
	}
	switch {
	case abs > satoken.ClockSkew:
		r.Status = Failed
		r.Detail = fmt.Sprintf("%s, more than the %s the token time checks allow: %s", off, roughly(satoken.ClockSkew), effect)
		r.Fix = "synchronize the clocks of Vault's host and the API server (NTP)"
	case abs > clockSkewWarning:
		r.Status = Warning
		r.Detail = fmt.Sprintf("%s; the token time checks allow %s", off, roughly(satoken.ClockSkew))
		r.Fix = "synchronize the clocks of Vault's host and the API server (NTP)"
	default:
		r.Status = Passed
		r.Detail = "Vault's clock and the API server's agree to within " + clockSkewWarning.String()
		if abs > 0 {
			r.Detail = off + ", within the " + clockSkewWarning.String() + " this check tolerates"
		}
	}
	return r
}

// Sources of the reviewer credential, as the answer names them.
const (
	credentialConfigured = "token_reviewer_jwt"
	credentialPodToken   = "pod_token_file"
	credentialLoginJWT   = "login_jwt"
)

func credentialSourceName(c kube.Credential) string {
	switch c.(type) {
	case kube.StaticToken:
		return credentialConfigured
	case *kube.TokenFile:
		return credentialPodToken
	default:
		return credentialLoginJWT
	}
}

// selfReviewReason is why the reviewer checks are skipped in the mode
// where each login's JWT reviews itself.
const selfReviewReason = "there is no reviewer credential (token_reviewer_jwt is unset and there is no pod token to use): " +
	"each login's own JWT makes the calls, so every workload's service account needs the permissions (create tokenreviews: ClusterRole system:auth-delegator)"

// renewCredentialFix is how to replace a reviewer credential that expires:
// the kubelet replaces a pod's token, an operator mints a new JWT for the
// service account its subject names.
func renewCredentialFix(source, subject string) string {
	if source == credentialPodToken {
		return "the kubelet refreshes a pod's token well before it expires; check the pod's service-account token volume and the kubelet"
	}
	name, namespace := "<name>", "<namespace>"
	if ns, n, ok := satoken.ParseUsername(subject); ok {
		name, namespace = n, ns
	}
	return fmt.Sprintf("mint a new token for the reviewer (kubectl create token %s -n %s --duration=...) and write it as token_reviewer_jwt", name, namespace)
}

// ReviewerCredential: which credential calls Kubernetes, and when it
// expires if it is a JWT. The token is decoded without verification, only
// to read its times: Kubernetes' answer (reviewer_identity) says whether it
// is genuine. Nothing of the token itself goes into the answer.
func ReviewerCredential(source, path, token string, readErr error, now time.Time) Result {
	r := Result{Name: CheckCredential, Data: map[string]any{"source": source}}
	what := "token_reviewer_jwt"
	if source == credentialPodToken {
		what = "the pod's service-account token " + path
		r.Data["path"] = path
	}
	switch {
	case source == credentialLoginJWT:
		r.Status, r.Detail = Skipped, selfReviewReason
		return r
	case readErr != nil:
		r.Status, r.Detail = Failed, readErr.Error()
		r.Fix = "make the pod's service-account token readable by Vault, or set token_reviewer_jwt"
		return r
	}
	tok, err := jwt.ParseSigned(token, satoken.AllowedAlgorithms)
	var claims jwt.Claims
	if err == nil {
		err = tok.UnsafeClaimsWithoutVerification(&claims)
	}
	if err != nil {
		r.Status = Skipped
		r.Detail = what + " is not a JWT Kubernetes signs, so it has no expiry to read; reviewer_identity shows whether Kubernetes accepts it"
		return r
	}
	if claims.Subject != "" {
		r.Data["subject"] = claims.Subject
	}
	if claims.Issuer != "" {
		r.Data["issuer"] = claims.Issuer
	}
	if claims.Expiry == nil {
		r.Status = Passed
		r.Detail = what + " is a JWT without an expiry (a Secret-based token): it stays valid until its Secret or service account is deleted"
		return r
	}
	exp := claims.Expiry.Time()
	r.Data["expires_at"] = rfc3339(exp)
	warnAt := exp.Add(-credentialExpiryWarning)
	if claims.IssuedAt != nil {
		iat := claims.IssuedAt.Time()
		r.Data["issued_at"] = rfc3339(iat)
		if iat.Before(exp) {
			warnAt = exp.Add(-exp.Sub(iat) / 5)
		}
	}
	renew := renewCredentialFix(source, claims.Subject)
	switch {
	case !now.Before(exp):
		r.Status = Failed
		r.Detail = fmt.Sprintf("%s expired on %s (%s ago): the API server refuses it, so every login fails", what, rfc3339(exp), roughly(now.Sub(exp)))
		r.Fix = renew
	case !now.Before(warnAt):
		r.Status = Warning
		r.Detail = fmt.Sprintf("%s expires on %s, in %s: logins fail from then on", what, rfc3339(exp), roughly(exp.Sub(now)))
		r.Fix = renew
	default:
		r.Status = Passed
		r.Detail = fmt.Sprintf("%s is a JWT that expires on %s, in %s", what, rfc3339(exp), roughly(exp.Sub(now)))
	}
	return r
}

// reviewerAccount is who Kubernetes says the credential is, for naming it in a fix.
type reviewerAccount struct {
	username            string
	namespace, saName   string // set when it is a service account
	credentialRejected  bool   // the API server answered 401
	identityUnavailable bool   // SelfSubjectReview could not say
}

// subjectFlag is the kubectl flag that names the reviewer in a binding.
func (r reviewerAccount) subjectFlag() string {
	switch {
	case r.saName != "":
		return "--serviceaccount=" + r.namespace + ":" + r.saName
	case r.username != "":
		return "--user=" + r.username
	default:
		return "--serviceaccount=<namespace>:<name>"
	}
}

// bindingName is a name for a ClusterRoleBinding of the reviewer.
func (r reviewerAccount) bindingName(suffix string) string {
	if r.saName != "" {
		return r.saName + "-" + suffix
	}
	return "vault-reviewer-" + suffix
}

func (r reviewerAccount) String() string {
	if r.username != "" {
		return r.username
	}
	return "the reviewer credential"
}

// ReviewerIdentity: who the API server says the credential is
// (SelfSubjectReview). A 401 means it no longer accepts the credential.
func ReviewerIdentity(user authv1.UserInfo, err error, cred kube.Credential) (Result, reviewerAccount) {
	r := Result{Name: CheckIdentity, Data: map[string]any{}}
	if err != nil {
		who := reviewerAccount{identityUnavailable: true}
		switch kube.Status(err) {
		case http.StatusUnauthorized:
			who.credentialRejected = true
			r.Status = Failed
			r.Detail = fmt.Sprintf("the API server does not accept %s (HTTP 401): it has expired, been revoked, or its service account was deleted; every login fails", cred)
			r.Fix = "mint a new token for the reviewer service account and write it as token_reviewer_jwt"
			if credentialSourceName(cred) == credentialPodToken {
				r.Fix = "check the pod's service-account token volume, or set token_reviewer_jwt"
			}
		case http.StatusForbidden:
			// Authenticated, or it would be a 401: the credential works,
			// only this question is not allowed.
			r.Status = Passed
			r.Detail = fmt.Sprintf("the API server accepts %s but may not tell who it is (SelfSubjectReview refused with HTTP 403)", cred)
		case http.StatusNotFound:
			r.Status = Skipped
			r.Detail = "the API server does not serve SelfSubjectReview (authentication.k8s.io/v1, Kubernetes 1.28 and later)"
		default:
			r.Status = Failed
			r.Detail = err.Error()
			r.Fix = "see kubernetes_api: the API server did not answer"
		}
		return r, who
	}
	who := reviewerAccount{username: user.Username}
	if ns, name, ok := satoken.ParseUsername(user.Username); ok {
		who.namespace, who.saName = ns, name
	}
	r.Data["username"] = user.Username
	if user.UID != "" {
		r.Data["uid"] = user.UID
	}
	r.Data["groups"] = user.Groups
	r.Status = Passed
	r.Detail = fmt.Sprintf("Kubernetes authenticates %s as %s", cred, user.Username)
	return r, who
}

// permission is one thing the reviewer must be allowed to do.
type permission struct {
	check string // the check's name
	attrs authzv1.ResourceAttributes
	// role is the ClusterRole a fix binds the reviewer to; "" means a
	// ClusterRole with just this rule, created by the fix.
	role string
	// consequence is what fails without it.
	consequence string
}

var (
	permTokenReviews = permission{
		check:       CheckTokenReviews,
		attrs:       authzv1.ResourceAttributes{Group: "authentication.k8s.io", Resource: "tokenreviews", Verb: "create"},
		role:        "system:auth-delegator",
		consequence: "every login fails",
	}
	permNamespaces = permission{
		check:       CheckNamespaces,
		attrs:       authzv1.ResourceAttributes{Resource: "namespaces", Verb: "get"},
		consequence: "logins that only a namespace selector binds fail",
	}
	permPods = permission{
		check:       CheckPods,
		attrs:       authzv1.ResourceAttributes{Resource: "pods", Verb: "get"},
		consequence: "logins through roles with bound_pod_label_selector fail, and renewals of token_bound_to_workload tokens are refused",
	}
	permServiceAccounts = permission{
		check:       CheckServiceAccounts,
		attrs:       authzv1.ResourceAttributes{Resource: "serviceaccounts", Verb: "get"},
		consequence: "every login fails, as use_annotations_as_alias_metadata reads the service account",
	}
)

func (p permission) String() string {
	s := p.attrs.Verb + " " + p.attrs.Resource
	if p.attrs.Group != "" {
		s += "." + p.attrs.Group
	}
	return s
}

// fix is the one-sentence fix for a reviewer lacking the permission.
func (p permission) fix(who reviewerAccount) string {
	if p.role != "" {
		return fmt.Sprintf("bind the reviewer to ClusterRole %s: kubectl create clusterrolebinding %s --clusterrole=%s %s",
			p.role, who.bindingName(strings.ReplaceAll(strings.TrimPrefix(p.role, "system:"), ":", "-")), p.role, who.subjectFlag())
	}
	role := "vault-reviewer-" + p.attrs.Verb + "-" + p.attrs.Resource
	return fmt.Sprintf("grant the reviewer %s in every namespace: kubectl create clusterrole %s --verb=%s --resource=%s, then kubectl create clusterrolebinding %s --clusterrole=%s %s",
		p, role, p.attrs.Verb, p.attrs.Resource, who.bindingName(p.attrs.Verb+"-"+p.attrs.Resource), role, who.subjectFlag())
}

// Permission: the SelfSubjectAccessReview's answer for one permission.
func Permission(p permission, st authzv1.SubjectAccessReviewStatus, err error, who reviewerAccount) Result {
	r := Result{Name: p.check, Data: map[string]any{
		"verb": p.attrs.Verb, "resource": p.attrs.Resource, "group": p.attrs.Group,
	}}
	if err != nil {
		r.Status = Warning
		r.Detail = fmt.Sprintf("could not ask whether %s may %s: %v", who, p, err)
		r.Fix = "see kubernetes_api and reviewer_identity"
		if kube.Status(err) == http.StatusForbidden {
			r.Fix = "let the reviewer create selfsubjectaccessreviews (ClusterRole system:basic-user grants it to every authenticated user by default)"
		}
		return r
	}
	r.Data["allowed"] = st.Allowed
	if st.Reason != "" {
		r.Data["reason"] = st.Reason
	}
	if st.EvaluationError != "" {
		r.Data["evaluation_error"] = st.EvaluationError
	}
	if st.Allowed {
		r.Status = Passed
		r.Detail = fmt.Sprintf("Kubernetes allows %s to %s", who, p)
		if st.Reason != "" {
			r.Detail += " (" + st.Reason + ")"
		}
		return r
	}
	r.Status = Failed
	r.Detail = fmt.Sprintf("%s may not %s, so %s", who, p, p.consequence)
	if p.attrs.Resource == "serviceaccounts" {
		r.Detail += " (asked for every namespace; a RoleBinding in each namespace that logs in would also do)"
	}
	r.Fix = p.fix(who)
	return r
}

// Issuer: the issuer the cluster announces against the issuer the
// config requires (or would require, with validation turned on).
func Issuer(cfg Settings, d kube.Discovery) Result {
	announced := d.Issuer
	r := Result{Name: CheckIssuer, Data: map[string]any{
		"announced":              announced,
		"configured":             cfg.Issuer,
		"disable_iss_validation": cfg.DisableISSValidation,
	}}
	setIt := "write the config with issuer=" + announced
	if cfg.DisableISSValidation {
		switch cfg.Issuer {
		case "":
			r.Status = Skipped
			r.Detail = "issuer validation is off (disable_iss_validation=true), so the TokenReview alone vouches for the issuer; the cluster announces " + announced
		case announced:
			r.Status = Skipped
			r.Detail = "issuer " + announced + " is the cluster's, but not enforced while disable_iss_validation=true"
		default:
			r.Status = Warning
			r.Detail = fmt.Sprintf("issuer is %q but the cluster announces %q: turning on issuer validation would refuse every projected token (issuer_mismatch)", cfg.Issuer, announced)
			r.Fix = setIt
		}
		return r
	}
	expected := cfg.ExpectedIssuer
	r.Data["expected"] = expected
	switch {
	case expected == announced:
		r.Status = Passed
		r.Detail = "tokens must carry iss " + announced + ", the issuer the cluster announces"
	case cfg.Issuer == "":
		r.Status = Warning
		r.Detail = fmt.Sprintf("with disable_iss_validation=false and no issuer, tokens must carry iss %q, which only legacy Secret-based tokens do; "+
			"projected tokens (iss %q) are refused (issuer_mismatch)", expected, announced)
		r.Fix = setIt
	default:
		r.Status = Failed
		r.Detail = fmt.Sprintf("issuer is %q but the cluster announces %q: projected tokens are refused (issuer_mismatch)", expected, announced)
		r.Fix = setIt
	}
	return r
}

// PEMKeys: pem_keys against the keys the cluster publishes. A cluster
// key missing from pem_keys refuses the tokens it signs; a pem_keys entry
// the cluster does not publish is one it no longer uses.
func PEMKeys(configured []crypto.PublicKey, published []kube.PublishedKey) Result {
	r := Result{Name: CheckPEMKeys}
	missing, kids := []string{}, []string{}
	for _, pk := range published {
		kids = append(kids, pk.KID)
		if !containsKey(configured, pk.Key) {
			missing = append(missing, pk.KID)
		}
	}
	unmatched := []int{}
	for i, k := range configured {
		if !slices.ContainsFunc(published, func(pk kube.PublishedKey) bool { return sameKey(pk.Key, k) }) {
			unmatched = append(unmatched, i)
		}
	}
	r.Data = map[string]any{
		"published_kids":     kids,
		"missing_kids":       missing,
		"unmatched_pem_keys": unmatched,
	}
	switch {
	case len(missing) > 0:
		r.Status = Failed
		r.Detail = fmt.Sprintf("the cluster publishes %d key(s) that pem_keys lacks (kid %s): tokens signed with them are refused (signature_invalid)",
			len(missing), strings.Join(missing, ", "))
		r.Fix = "write pem_keys with the cluster's keys (kubectl get --raw " + kube.JWKSPath + " lists them), or unset pem_keys"
	case len(unmatched) > 0:
		r.Status = Warning
		r.Detail = fmt.Sprintf("pem_keys entries %v are not among the keys the cluster publishes: they verify only tokens the cluster no longer signs", unmatched)
		r.Fix = "remove those entries from pem_keys"
	default:
		r.Status = Passed
		r.Detail = fmt.Sprintf("pem_keys holds exactly the %d key(s) the cluster publishes (kid %s)", len(kids), strings.Join(kids, ", "))
	}
	return r
}

// sameKey compares public keys by value; RSA and ECDSA keys (the only
// kinds pem_keys holds) know how.
func sameKey(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

func containsKey(keys []crypto.PublicKey, k crypto.PublicKey) bool {
	for _, c := range keys {
		if sameKey(c, k) {
			return true
		}
	}
	return false
}

// KeysObserved is what the cluster_keys check reads: the config, what was
// read of the cluster's discovery document and key set (and why not), who
// asked, and the plugin's own copy of the keys.
type KeysObserved struct {
	HybridRoles  []string // the review_mode=hybrid roles to name, at most ten
	Settings     Settings
	SelfReview   bool // there is no reviewer credential
	Discovery    kube.Discovery
	DiscoveryErr error
	Keys         []kube.PublishedKey
	KeysErr      error
	Reviewer     reviewerAccount
	Held         clusterkeys.KeysStatus // the zero value while no hybrid login has loaded the keys
}

// ClusterKeys: hybrid roles verify young tokens locally with the
// issuer the cluster announces (when the config sets none) and the keys it
// publishes (when pem_keys is not set), fetched with the reviewer
// credential. Without them, or without a credential to fetch them with,
// or while the plugin's copy of the keys is stale, those roles review
// every token as cached does: logins work, hybrid saves nothing.
func ClusterKeys(o KeysObserved) Result {
	r := Result{Name: CheckClusterKeys, Data: map[string]any{"hybrid_roles": o.HybridRoles}}
	roles := strings.Join(o.HybridRoles, ", ")
	needIssuer, needKeys := o.Settings.Issuer == "", !o.Settings.PEMKeys
	disc, keys, who := o.Discovery, o.Keys, o.Reviewer
	if o.SelfReview {
		r.Status = Warning
		r.Detail = fmt.Sprintf("review_mode=hybrid roles (%s) cannot fetch the cluster's keys without a reviewer credential, so they review every token as cached does", roles)
		r.Fix = "set token_reviewer_jwt, or set both pem_keys and issuer in the config"
		return r
	}
	if needKeys {
		describeHeldKeys(r.Data, o.Held)
	}
	grantFix := fmt.Sprintf("bind the reviewer to ClusterRole system:service-account-issuer-discovery: kubectl create clusterrolebinding %s "+
		"--clusterrole=system:service-account-issuer-discovery %s", who.bindingName("issuer-discovery"), who.subjectFlag())
	var err error
	var what string
	switch {
	case needIssuer && o.DiscoveryErr != nil:
		err, what = o.DiscoveryErr, "its OIDC discovery document"
	case needKeys && o.KeysErr != nil:
		err, what = o.KeysErr, "its service-account key set"
	}
	if err != nil {
		r.Status = Warning
		r.Detail = fmt.Sprintf("review_mode=hybrid roles (%s) verify young tokens with the cluster's issuer and keys, but %s cannot be read: %v; "+
			"they review every token as cached does", roles, what, err)
		switch kube.Status(err) {
		case http.StatusUnauthorized, http.StatusForbidden:
			r.Fix = grantFix
		case http.StatusNotFound:
			r.Fix = "the API server does not publish them: set issuer and pem_keys in the config, or use review_mode=cached on those roles"
		default:
			r.Fix = "see kubernetes_api: the API server did not answer"
		}
		return r
	}
	var uses []string
	if needIssuer {
		r.Data["issuer"] = disc.Issuer
		uses = append(uses, "the issuer the cluster announces ("+disc.Issuer+")")
	} else {
		uses = append(uses, "the configured issuer")
	}
	if needKeys {
		kids := make([]string, 0, len(keys))
		for _, k := range keys {
			kids = append(kids, k.KID)
		}
		r.Data["kids"] = kids
		uses = append(uses, fmt.Sprintf("the %d key(s) it publishes (kid %s)", len(keys), strings.Join(kids, ", ")))
	} else {
		uses = append(uses, "pem_keys")
	}
	if ks := o.Held; needKeys && ks.Loaded && !ks.Fresh {
		return heldKeysStale(r, ks, roles, uses)
	}
	r.Status = Passed
	r.Detail = fmt.Sprintf("review_mode=hybrid roles (%s) verify young tokens locally with %s", roles, strings.Join(uses, " and "))
	return r
}

// heldKeysStale is cluster_keys while the plugin's copy of the keys is
// stale: what hybrid roles would verify with (uses), and why they do not.
func heldKeysStale(r Result, ks clusterkeys.KeysStatus, roles string, uses []string) Result {
	r.Status = Warning
	why := fmt.Sprintf("is %s old, over %s, and refreshing it failed: %v", ks.Age.Round(time.Second), ks.MaxAge, ks.LastErr)
	r.Fix = "nothing if this check's own read (above) keeps succeeding: the next hybrid login refreshes the keys with the same credential; " +
		"else see the log line \"refreshing the cluster's signing keys failed\""
	if ks.Denied {
		why = fmt.Sprintf("had a refresh refused the credential since it was fetched (latest error: %v)", ks.LastErr)
	}
	r.Detail = fmt.Sprintf("review_mode=hybrid roles (%s) verify young tokens locally with %s, but the plugin's copy of the keys %s: "+
		"until a refresh succeeds they review every token as cached does", roles, strings.Join(uses, " and "), why)
	return r
}

// describeHeldKeys adds to data how old the plugin's copy of the cluster's
// keys is, as kubeauth_cluster_keys_age_seconds shows it (held is the zero
// value while no hybrid login has loaded them).
func describeHeldKeys(data map[string]any, ks clusterkeys.KeysStatus) {
	data["key_set_loaded"] = ks.Loaded
	data["key_set_max_age_seconds"] = int64(clusterkeys.DefaultMaxAge / time.Second)
	if !ks.Loaded {
		return
	}
	data["key_set_max_age_seconds"] = int64(ks.MaxAge / time.Second)
	data["key_set_age_seconds"] = int64(ks.Age / time.Second)
	data["key_set_fetched_at"] = ks.FetchedAt.UTC().Format(time.RFC3339)
	data["key_set_fresh"] = ks.Fresh
	data["key_set_kids"] = ks.Kids
	if ks.LastErr != nil {
		data["key_set_last_refresh_error"] = ks.LastErr.Error()
	}
}

// discoveryUnavailable says why a check that needs the cluster's
// discovery document or key set is skipped. cred is who asked; nil means
// no one: the request went out without credentials.
func discoveryUnavailable(what string, err error, cred kube.Credential) string {
	status := kube.Status(err)
	switch {
	case status == http.StatusNotFound:
		return "the API server does not publish " + what + " (its --service-account-issuer is not an https URL), so there is nothing to compare with"
	case (status == http.StatusUnauthorized || status == http.StatusForbidden) && cred == nil:
		return fmt.Sprintf("the API server refused %s to a caller without credentials (HTTP %d), the only way to ask without a reviewer credential, "+
			"so there is nothing to compare with", what, status)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return fmt.Sprintf("the API server refused %s to %s (HTTP %d), so there is nothing to compare with; "+
			"ClusterRole system:service-account-issuer-discovery allows reading it", what, cred, status)
	default:
		return "could not read " + what + ": " + err.Error()
	}
}
