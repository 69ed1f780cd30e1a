// Package refusal is the vocabulary of a login that did not pass: a refusal
// (failed authentication, HTTP 403) with its reason code, a bad input (HTTP
// 400) and a fault (the setup or Kubernetes failed) with its kind, and what
// an unauthenticated caller is told of each.
package refusal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
)

// A Refusal is a failed authentication. The caller only ever sees
// "permission denied"; the reason code and detail go to the log, and the
// code is stable so that counting refusals by reason can build on it.
type Refusal struct {
	Reason string
	Detail string
	// RetryAfter is set on a rate_limited refusal only (see Limited): when
	// the workload may log in again.
	RetryAfter time.Duration
}

func (r *Refusal) Error() string { return r.Reason + ": " + r.Detail }

func New(reason, format string, args ...any) error {
	return &Refusal{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// Reason codes, one per login check.
const (
	ReasonCIDR             = "source_address_not_allowed"
	ReasonAlgorithm        = "algorithm_not_allowed"
	ReasonExpired          = "token_expired"
	ReasonNotYetValid      = "token_not_yet_valid"
	ReasonSignature        = "signature_invalid"
	ReasonIssuer           = "issuer_mismatch"
	ReasonAudienceMismatch = "audience_mismatch"
	ReasonClaims           = "claims_invalid"
	ReasonName             = "service_account_name_not_bound"
	ReasonNamespace        = "namespace_not_bound"
	ReasonReviewRejected   = "token_review_rejected"
	ReasonReviewMismatch   = "token_review_identity_mismatch"
	ReasonReviewForbidden  = "token_review_forbidden"
	// ReasonSigningKeyUnknown: in review_mode local, none of the cluster's
	// keys has the token's kid (or it names none). Hybrid mode reviews such
	// a token instead.
	ReasonSigningKeyUnknown = "signing_key_unknown"
	// ReasonTokenTooOld: in review_mode local, the token is older than
	// local_max_token_age (by iat), or has no iat.
	ReasonTokenTooOld = "token_too_old"
	// ReasonPodNotBound: the role binds pods and the token's pod is not
	// one of them (not pod-bound, name, gone, recreated, labels).
	ReasonPodNotBound = "pod_not_bound"
	// ReasonNodeNotBound: the pod's node is unknown or not bound.
	ReasonNodeNotBound = "node_not_bound"
	// ReasonClusterUnknown: the token is from none of the mount's clusters
	// (no issuer or signing key of theirs matches it).
	ReasonClusterUnknown = "cluster_unknown"
	// ReasonClusterAmbiguous: more than one of the mount's clusters matches
	// the token's issuer and signing key.
	ReasonClusterAmbiguous = "cluster_ambiguous"
	// ReasonClusterNotBound: the token's cluster is not in the role's
	// bound_clusters.
	ReasonClusterNotBound = "cluster_not_bound"
	// ReasonRateLimited: the workload logged in more often than the role's
	// login_rate_limit allows (HTTP 429, not 403; see Limited).
	ReasonRateLimited = "rate_limited"
)

// Limited is the refusal of a login over its workload's limit: the caller
// is answered HTTP 429 and told to retry after retryAfter (see Answer).
func Limited(retryAfter time.Duration, format string, args ...any) error {
	return &Refusal{Reason: ReasonRateLimited, Detail: fmt.Sprintf(format, args...), RetryAfter: retryAfter}
}

// Reason codes only a renewal gives: the token no longer fits its role, or
// cannot be checked.
const (
	ReasonRoleGone        = "role_not_found"
	ReasonPoliciesChanged = "policies_changed"
	// ReasonWorkloadGone: token_bound_to_workload, and the service account
	// is gone or was recreated (a gone pod is ReasonPodNotBound).
	ReasonWorkloadGone = "service_account_gone"
	// ReasonReviewerRequired: a check needs Kubernetes and the cluster has
	// no reviewer credential, the only one a renewal (or a review_mode
	// local login, which never sends the login JWT) could use.
	ReasonReviewerRequired = "reviewer_required"
)

// ReasonCodes are every reason code: the values the metrics may label a
// refusal with (codes_test.go checks that none is missing).
var ReasonCodes = []string{
	ReasonCIDR, ReasonAlgorithm, ReasonExpired, ReasonNotYetValid, ReasonSignature,
	ReasonIssuer, ReasonAudienceMismatch, ReasonClaims, ReasonName, ReasonNamespace,
	ReasonReviewRejected, ReasonReviewMismatch, ReasonReviewForbidden, ReasonSigningKeyUnknown, ReasonTokenTooOld,
	ReasonPodNotBound, ReasonNodeNotBound, ReasonClusterUnknown, ReasonClusterAmbiguous, ReasonClusterNotBound, ReasonRateLimited,
	ReasonRoleGone, ReasonPoliciesChanged, ReasonWorkloadGone, ReasonReviewerRequired,
}

// An InputError is a malformed request: HTTP 400 with this message, which
// names the field and the problem.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

func Invalid(format string, args ...any) error {
	return &InputError{Msg: fmt.Sprintf(format, args...)}
}

// Kinds of login faults, the "kind" field of the log line "login failed".
const (
	FaultKubeTimeout     = "kubernetes_timeout"
	FaultKubeTLS         = "kubernetes_tls"
	FaultKubeStatus      = "kubernetes_status"
	FaultKubeUnreachable = "kubernetes_unreachable"
	// FaultKubeForbidden: Kubernetes refused the reviewer credential (401,
	// 403), a setup problem rather than a bad login.
	FaultKubeForbidden = "kubernetes_forbidden"
	FaultInternal      = "internal"
	FaultNotConfigured = "not_configured"
	// FaultCanceled: the caller went away (its request was canceled)
	// before the login finished; nothing in the setup failed.
	FaultCanceled = "canceled"
)

// FaultKinds are every fault kind, like ReasonCodes for refusals.
var FaultKinds = []string{
	FaultKubeTimeout, FaultKubeTLS, FaultKubeStatus, FaultKubeUnreachable,
	FaultKubeForbidden, FaultInternal, FaultNotConfigured, FaultCanceled,
}

// What an unauthenticated caller is told about a fault; the log says more.
var (
	ErrKubeFault     = errors.New("login failed: the Kubernetes API could not be reached or refused the check; see the Vault server log")
	ErrInternalFault = errors.New("login failed on an internal error; see the Vault server log")
	// Vault's method says as much ("could not load backend configuration").
	ErrNotConfigured = errors.New("login failed: the auth method is not configured")
	// Nobody is left to read it, but Vault needs an answer.
	ErrCanceled = errors.New("login canceled: the request ended before the login finished")
)

// callerGoneError is a login's fault that came after its caller went away.
type callerGoneError struct{ err error }

func (e *callerGoneError) Error() string { return "the request was canceled: " + e.err.Error() }
func (e *callerGoneError) Unwrap() error { return e.err }

// CallerGone marks err as the caller's own doing when the request's
// context was canceled: whatever failed then (typically the TokenReview,
// canceled once no login waits for it) failed because nobody was waiting.
// A context.Canceled from anything else (a key set closed by a config
// write) is no caller's and stays a fault of its kind, and a request that
// ran out of time is a timeout, not a departure.
func CallerGone(ctx context.Context, err error) error {
	var ref *Refusal
	var bad *InputError
	if err == nil || errors.As(err, &ref) || errors.As(err, &bad) || !errors.Is(ctx.Err(), context.Canceled) {
		return err
	}
	return &callerGoneError{err: err}
}

// ClassifyFault names a fault for the log and picks the generic error the
// caller gets in its place.
func ClassifyFault(err error) (kind string, public error) {
	if errors.Is(err, ErrNotConfigured) {
		return FaultNotConfigured, ErrNotConfigured
	}
	var gone *callerGoneError
	if errors.As(err, &gone) {
		return FaultCanceled, ErrCanceled
	}
	var api *kube.APIError
	if !errors.As(err, &api) {
		return FaultInternal, ErrInternalFault
	}
	switch {
	case api.Timeout > 0:
		return FaultKubeTimeout, ErrKubeFault
	case api.TLS:
		return FaultKubeTLS, ErrKubeFault
	case api.Status == http.StatusUnauthorized || api.Status == http.StatusForbidden:
		return FaultKubeForbidden, ErrKubeFault
	case api.Status != 0:
		return FaultKubeStatus, ErrKubeFault
	default:
		return FaultKubeUnreachable, ErrKubeFault
	}
}
