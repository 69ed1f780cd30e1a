package kubeauth

import (
	"errors"
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

func (r *explainRecorder) observe(name string, err error) {
	r.steps = append(r.steps, describeStep(name, r.a, err))
}

// finish reports the steps the login never reached after the one that
// ended it.
func (r *explainRecorder) finish(all []loginStep) {
	for _, s := range all[len(r.steps):] {
		r.steps = append(r.steps, explainedStep{Name: s.name, Outcome: outcomeSkipped, Detail: "not reached"})
	}
}

// describeStep turns a step's result into its explanation.
func describeStep(name string, a *attempt, err error) explainedStep {
	var ref *refusal.Refusal
	var bad *refusal.InputError
	switch {
	case err == nil:
		outcome, detail := passedStep(name, a)
		return explainedStep{Name: name, Outcome: outcome, Detail: detail}
	case errors.As(err, &ref):
		return explainedStep{Name: name, Outcome: outcomeRefused, Reason: ref.Reason, Detail: ref.Detail + answeredBy(name, a)}
	case errors.As(err, &bad):
		return explainedStep{Name: name, Outcome: outcomeRefused, Reason: explainInvalidInput, Detail: bad.Msg}
	default:
		kind, _ := refusal.ClassifyFault(err)
		return explainedStep{Name: name, Outcome: outcomeFault, Reason: kind, Detail: err.Error()}
	}
}

// answeredBy notes, for a review refused without a TokenReview, what
// answered instead, and for the client address, whose it was.
func answeredBy(name string, a *attempt) string {
	if name == "source_address" {
		return explainAddressNote
	}
	if name != "review" {
		return ""
	}
	switch a.verifiedBy {
	case verifiedByCache:
		return " (answer from the review cache)" + reviewedInstead(a)
	case verifiedByLocal:
		return " (hybrid mode, checked against the cluster's signing keys)"
	}
	return reviewedInstead(a)
}

// reviewedInstead says why hybrid mode reviewed a young token its
// cluster's keys could not vouch for, when it did.
func reviewedInstead(a *attempt) string {
	if a.localFallback == "" {
		return ""
	}
	return " (review_mode hybrid reviewed this young token, as the cluster's signing keys could not vouch for it: " + a.localFallback + ")"
}

// passedStep says why a step that let the login go on passed, or that it
// did not apply (skipped).
func passedStep(name string, a *attempt) (outcome, detail string) {
	r, st := a.role, a.state
	switch name {
	case "source_address":
		if len(r.TokenBoundCIDRs) == 0 {
			return outcomeSkipped, "the role has no token_bound_cidrs"
		}
		return outcomePassed, fmt.Sprintf("client address %s is in token_bound_cidrs %q", remoteAddr(a.conn), boundCIDRStrings(r)) + explainAddressNote
	case "parse":
		h := a.token.JWS.Signatures[0].Header
		return outcomePassed, fmt.Sprintf("a JWT signed with %s (kid %.64q) whose claims read unambiguously", h.Algorithm, h.KeyID)
	case "times":
		c := a.token.Claims
		if c.Expiry == nil {
			return outcomePassed, "the token has no exp (a legacy Secret-based token: the TokenReview decides whether it is still valid)"
		}
		return outcomePassed, "valid until " + c.Expiry.Time().UTC().Format("2006-01-02T15:04:05Z")
	case "cluster":
		if a.clusters == nil {
			return outcomeSkipped, "the mount has one cluster, config's; the role's bound_clusters include it"
		}
		return outcomePassed, fmt.Sprintf("the token is from cluster %q, which the role's bound_clusters %q include",
			a.cluster, a.role.boundClusters())
	case "issuer":
		want := st.config.expectedIssuer()
		if want == "" {
			return outcomeSkipped, fmt.Sprintf("disable_iss_validation is set: the issuer %q is not checked", a.token.Claims.Issuer)
		}
		return outcomePassed, fmt.Sprintf("issuer %q is the expected issuer", a.token.Claims.Issuer)
	case "audience":
		if r.Audience == "" {
			return outcomeSkipped, "the role has no audience"
		}
		return outcomePassed, fmt.Sprintf("token audiences %q include the role's audience %q", []string(a.token.Claims.Audience), r.Audience)
	case "identity":
		return outcomePassed, "the claims name " + describeServiceAccount(a.claimed.Namespace, a.claimed.Name, a.claimed.UID, a.claimed.PodName)
	case "bindings":
		nameBound := fmt.Sprintf("service account name %q is in bound_service_account_names %q", a.claimed.Name, r.ServiceAccountNames)
		if a.selectorPending {
			return outcomePassed, fmt.Sprintf("%s; namespace %q is not in bound_service_account_namespaces %q, so the namespace selector decides",
				nameBound, a.claimed.Namespace, r.ServiceAccountNamespaces)
		}
		return outcomePassed, fmt.Sprintf("%s; namespace %q is in bound_service_account_namespaces %q", nameBound, a.claimed.Namespace, r.ServiceAccountNamespaces)
	case "signature":
		if len(st.keys) == 0 {
			return outcomeSkipped, "the config has no pem_keys: Kubernetes vouches for the signature"
		}
		return outcomePassed, fmt.Sprintf("the signature verifies with one of the %d pem_keys", len(st.keys))
	case "review":
		return passedReview(a)
	case "namespace_selector":
		switch {
		case r.ServiceAccountNamespaceSelector == "":
			return outcomeSkipped, "the role has no bound_service_account_namespace_selector"
		case !a.selectorPending:
			return outcomeSkipped, "the namespace is bound by bound_service_account_namespaces; the selector is not consulted"
		}
		return outcomePassed, fmt.Sprintf("the labels of namespace %q match bound_service_account_namespace_selector", a.reviewed.Namespace)
	case "pod":
		return passedPod(a)
	case "alias_metadata":
		if !st.config.UseAnnotationsAsAliasMetadata {
			return outcomeSkipped, "use_annotations_as_alias_metadata is off"
		}
		return outcomePassed, fmt.Sprintf("%d annotations of service account %s/%s become alias metadata",
			len(a.aliasMetadata), a.reviewed.Namespace, a.reviewed.Name)
	}
	return outcomePassed, ""
}

// passedReview says what vouched for the token. A TokenReview passes; an
// answer from the review cache or the cluster's keys means no TokenReview
// was made, so the step is reported as skipped, with what answered.
func passedReview(a *attempt) (outcome, detail string) {
	who := describeServiceAccount(a.reviewed.Namespace, a.reviewed.Name, a.reviewed.UID, a.reviewed.PodName)
	switch a.verifiedBy {
	case verifiedByCache:
		return outcomeSkipped, fmt.Sprintf("review_mode %s: a TokenReview of this token made within review_cache_ttl (%s) answered; it authenticated %s%s",
			a.role.mode(), a.role.cacheTTL(), who, reviewedInstead(a))
	case verifiedByLocal:
		return outcomeSkipped, fmt.Sprintf("review_mode hybrid: the token is at most local_max_token_age (%s) old and verifies with the cluster's signing key %.64q; it names %s",
			a.role.maxTokenAge(), a.token.JWS.Signatures[0].Header.KeyID, who)
	}
	detail = "Kubernetes' TokenReview authenticated " + who
	if a.role.mode() != reviewAlways {
		detail += " (not kept: explain does not fill the review cache)"
	}
	return outcomePassed, detail + reviewedInstead(a)
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

// explainIdentity is who the token is for: what Kubernetes (or the keys)
// vouched for when the review passed, else what the claims say.
func explainIdentity(a *attempt) map[string]any {
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
