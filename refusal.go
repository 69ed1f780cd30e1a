package kubeauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
)

// A refusal is a failed authentication. The caller only ever sees
// "permission denied"; the reason code and detail go to the log, and the
// code is stable so that counting refusals by reason can build on it.
type refusal struct {
	reason string
	detail string
}

func (r *refusal) Error() string { return r.reason + ": " + r.detail }

func refuse(reason, format string, args ...any) error {
	return &refusal{reason: reason, detail: fmt.Sprintf(format, args...)}
}

// Reason codes, one per login check.
const (
	reasonCIDR             = "source_address_not_allowed"
	reasonAlgorithm        = "algorithm_not_allowed"
	reasonExpired          = "token_expired"
	reasonNotYetValid      = "token_not_yet_valid"
	reasonSignature        = "signature_invalid"
	reasonIssuer           = "issuer_mismatch"
	reasonAudienceMismatch = "audience_mismatch"
	reasonClaims           = "claims_invalid"
	reasonName             = "service_account_name_not_bound"
	reasonNamespace        = "namespace_not_bound"
	reasonReviewRejected   = "token_review_rejected"
	reasonReviewMismatch   = "token_review_identity_mismatch"
	reasonReviewForbidden  = "token_review_forbidden"
	// reasonSigningKeyUnknown is no longer produced: hybrid mode used to
	// refuse a token whose kid none of the cluster's keys held; it now
	// reviews it. Kept in the vocabulary (the metrics' label values, the
	// README) so that dashboards and alerts naming it keep working.
	reasonSigningKeyUnknown = "signing_key_unknown"
	// reasonPodNotBound: the role binds pods and the token's pod is not
	// one of them (not pod-bound, name, gone, recreated, labels).
	reasonPodNotBound = "pod_not_bound"
	// reasonNodeNotBound: the pod's node is unknown or not bound.
	reasonNodeNotBound = "node_not_bound"
	// reasonClusterUnknown: the token is from none of the mount's clusters
	// (no issuer or signing key of theirs matches it).
	reasonClusterUnknown = "cluster_unknown"
	// reasonClusterAmbiguous: more than one of the mount's clusters matches
	// the token's issuer and signing key.
	reasonClusterAmbiguous = "cluster_ambiguous"
	// reasonClusterNotBound: the token's cluster is not in the role's
	// bound_clusters.
	reasonClusterNotBound = "cluster_not_bound"
)

// Reason codes only a renewal gives: the token no longer fits its role, or
// cannot be checked.
const (
	reasonRoleGone        = "role_not_found"
	reasonPoliciesChanged = "policies_changed"
	// reasonWorkloadGone: token_bound_to_workload, and the service account
	// is gone or was recreated (a gone pod is reasonPodNotBound).
	reasonWorkloadGone = "service_account_gone"
	// reasonReviewerRequired: a check needs Kubernetes and the cluster has
	// no reviewer credential, the only one a renewal could use.
	reasonReviewerRequired = "reviewer_required"
)

// reasonCodes are every reason code: the values the metrics may label a
// refusal with (reason_codes_test.go checks that none is missing).
var reasonCodes = []string{
	reasonCIDR, reasonAlgorithm, reasonExpired, reasonNotYetValid, reasonSignature,
	reasonIssuer, reasonAudienceMismatch, reasonClaims, reasonName, reasonNamespace,
	reasonReviewRejected, reasonReviewMismatch, reasonReviewForbidden, reasonSigningKeyUnknown,
	reasonPodNotBound, reasonNodeNotBound, reasonClusterUnknown, reasonClusterAmbiguous, reasonClusterNotBound,
	reasonRoleGone, reasonPoliciesChanged, reasonWorkloadGone, reasonReviewerRequired,
}

// An inputError is a malformed request: HTTP 400 with this message, which
// names the field and the problem.
type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }

func invalidInput(format string, args ...any) error {
	return &inputError{msg: fmt.Sprintf(format, args...)}
}

// Kinds of login faults, the "kind" field of the log line "login failed".
const (
	faultKubeTimeout     = "kubernetes_timeout"
	faultKubeTLS         = "kubernetes_tls"
	faultKubeStatus      = "kubernetes_status"
	faultKubeUnreachable = "kubernetes_unreachable"
	// faultKubeForbidden: Kubernetes refused the reviewer credential (401,
	// 403), a setup problem rather than a bad login.
	faultKubeForbidden = "kubernetes_forbidden"
	faultInternal      = "internal"
	faultNotConfigured = "not_configured"
	// faultCanceled: the caller went away (its request was canceled)
	// before the login finished; nothing in the setup failed.
	faultCanceled = "canceled"
)

// faultKinds are every fault kind, like reasonCodes for refusals.
var faultKinds = []string{
	faultKubeTimeout, faultKubeTLS, faultKubeStatus, faultKubeUnreachable,
	faultKubeForbidden, faultInternal, faultNotConfigured, faultCanceled,
}

// What an unauthenticated caller is told about a fault; the log says more.
var (
	errKubeFault     = errors.New("login failed: the Kubernetes API could not be reached or refused the check; see the Vault server log")
	errInternalFault = errors.New("login failed on an internal error; see the Vault server log")
	// Vault's method says as much ("could not load backend configuration").
	errNotConfigured = errors.New("login failed: the auth method is not configured")
	// Nobody is left to read it, but Vault needs an answer.
	errCanceled = errors.New("login canceled: the request ended before the login finished")
)

// callerGoneError is a login's fault that came after its caller went away.
type callerGoneError struct{ err error }

func (e *callerGoneError) Error() string { return "the request was canceled: " + e.err.Error() }
func (e *callerGoneError) Unwrap() error { return e.err }

// callerGone marks err as the caller's own doing when the request's
// context was canceled: whatever failed then (typically the TokenReview,
// canceled once no login waits for it) failed because nobody was waiting.
// A context.Canceled from anything else (a key set closed by a config
// write) is no caller's and stays a fault of its kind, and a request that
// ran out of time is a timeout, not a departure.
func callerGone(ctx context.Context, err error) error {
	var ref *refusal
	var bad *inputError
	if err == nil || errors.As(err, &ref) || errors.As(err, &bad) || !errors.Is(ctx.Err(), context.Canceled) {
		return err
	}
	return &callerGoneError{err: err}
}

// classifyFault names a fault for the log and picks the generic error the
// caller gets in its place.
func classifyFault(err error) (kind string, public error) {
	if errors.Is(err, errNotConfigured) {
		return faultNotConfigured, errNotConfigured
	}
	var gone *callerGoneError
	if errors.As(err, &gone) {
		return faultCanceled, errCanceled
	}
	var api *kube.APIError
	if !errors.As(err, &api) {
		return faultInternal, errInternalFault
	}
	switch {
	case api.Timeout > 0:
		return faultKubeTimeout, errKubeFault
	case api.TLS:
		return faultKubeTLS, errKubeFault
	case api.Status == http.StatusUnauthorized || api.Status == http.StatusForbidden:
		return faultKubeForbidden, errKubeFault
	case api.Status != 0:
		return faultKubeStatus, errKubeFault
	default:
		return faultKubeUnreachable, errKubeFault
	}
}
