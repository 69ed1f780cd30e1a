package satoken

import (
	"slices"
	"strings"

	authv1 "k8s.io/api/authentication/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
)

// Keys of TokenReview status.user.extra for pod-bound tokens.
const (
	ExtraPodName  = "authentication.kubernetes.io/pod-name"
	ExtraPodUID   = "authentication.kubernetes.io/pod-uid"
	ExtraNodeName = "authentication.kubernetes.io/node-name"
)

// CheckReview holds the TokenReview answer against the token's claims: the
// API server must have authenticated exactly the service account the claims
// name, without any error, and for one of the audiences the review asked
// about (asked: what ReviewAudiences chose; none means the API server's own
// audience, which an answer does not have to repeat).
func CheckReview(st *authv1.TokenReviewStatus, claimed Identity, asked []string) (Identity, error) {
	// An error next to authenticated=true is a contradictory answer; the
	// stricter reading wins.
	if st.Error != "" {
		return Identity{}, refusal.New(refusal.ReasonReviewRejected, "TokenReview: %s", st.Error)
	}
	if !st.Authenticated {
		return Identity{}, refusal.New(refusal.ReasonReviewRejected, "TokenReview: not authenticated")
	}
	ns, name, ok := ParseUsername(st.User.Username)
	if !ok {
		return Identity{}, refusal.New(refusal.ReasonReviewMismatch, "TokenReview user %q is not a service account", st.User.Username)
	}
	if ns != claimed.Namespace || name != claimed.Name {
		return Identity{}, refusal.New(refusal.ReasonReviewMismatch,
			"TokenReview authenticated %s/%s but the token claims %s/%s", ns, name, claimed.Namespace, claimed.Name)
	}
	if st.User.UID != claimed.UID {
		return Identity{}, refusal.New(refusal.ReasonReviewMismatch,
			"TokenReview UID %q differs from the token's service-account UID %q", st.User.UID, claimed.UID)
	}
	// The TokenReview API asks clients that set spec.audiences to check that
	// status.audiences holds one of them: an API server that is not
	// audience-aware answers without any and has checked none.
	if len(asked) > 0 && !slices.ContainsFunc(st.Audiences, func(a string) bool { return slices.Contains(asked, a) }) {
		return Identity{}, refusal.New(refusal.ReasonAudienceMismatch,
			"TokenReview audiences %q include none of the audiences asked about %q", st.Audiences, asked)
	}
	return Identity{
		Namespace: ns,
		Name:      name,
		UID:       st.User.UID,
		PodName:   firstExtra(st.User.Extra, ExtraPodName),
		PodUID:    firstExtra(st.User.Extra, ExtraPodUID),
		NodeName:  firstExtra(st.User.Extra, ExtraNodeName),
	}, nil
}

// ParseUsername splits system:serviceaccount:<ns>:<name>.
func ParseUsername(username string) (namespace, name string, ok bool) {
	rest, found := strings.CutPrefix(username, "system:serviceaccount:")
	if !found {
		return "", "", false
	}
	namespace, name, found = strings.Cut(rest, ":")
	if !found || namespace == "" || name == "" || strings.Contains(name, ":") {
		return "", "", false
	}
	return namespace, name, true
}

func firstExtra(extra map[string]authv1.ExtraValue, key string) string {
	if v := extra[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// ReviewAudiences is what the TokenReview is asked to check: the role's
// audiences (audience, or audiences), else the token's own audiences
// (without any, the API server would check its own audience and refuse
// tokens minted for Vault).
func ReviewAudiences(roleAudiences, tokenAudiences []string) []string {
	if len(roleAudiences) > 0 {
		return roleAudiences
	}
	return tokenAudiences
}
