package kubeauth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/clusterkeys"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/satoken"
)

// localEligible says whether hybrid mode may verify a token locally: a
// bound token (projected claims, not bound to a Secret, with exp and iat)
// at most maxAge old, for a role that checks an audience. Everything else
// (a legacy Secret-based token, which never expires, an older token, a
// role stored without an audience) is reviewed.
func localEligible(c *satoken.Claims, roleAudiences []string, now time.Time, maxAge time.Duration) bool {
	k := c.Kubernetes
	switch {
	case len(roleAudiences) == 0, k == nil, k.Secret != nil, c.Expiry == nil, c.IssuedAt == nil:
		return false
	}
	return now.Sub(c.IssuedAt.Time()) <= maxAge
}

// verifyLocally vouches for a young bound token without a TokenReview: its
// issuer is the cluster's and its signature verifies with the cluster's
// key named by its kid. The other checks (times, audience, names,
// bindings, pem_keys) ran before, as for every login. The issuer comes
// first: it costs nothing once known, and a token from another cluster is
// then refused without making the key set look for its kid.
//
// When the keys cannot vouch either way (no kid, a kid the cluster's
// keys do not hold even after the refresh the throttle allows, keys that
// are stale or whose refresh was refused the credential, an issuer or keys
// that cannot be read) the answer is a *keysCannotVouch and the caller
// reviews the token instead: the TokenReview, not the plugin's copy,
// decides. Only a kid the keys hold with a signature that does not verify
// is a refusal: the cluster did not sign that token.
//
// What a TokenReview would add, and this cannot see, is whether the
// service account, and the pod or node the token is bound to, still exist:
// a young token stays usable until it is local_max_token_age old.
func (b *backend) verifyLocally(ctx context.Context, a *attempt) error {
	st := a.state
	// Set first, so that a refusal here says what refused (explain).
	a.verifiedBy = verifiedByLocal
	var keys clusterKeySource
	if len(st.keys) == 0 || st.config.Issuer == "" {
		keys = st.clusterKeys.get()
	}
	want := st.config.Issuer
	if want == "" {
		iss, err := keys.Issuer(ctx)
		if err != nil {
			return cannotVouch(ctx, st, "the cluster's issuer cannot be read", err)
		}
		want = iss
	}
	if a.token.Claims.Issuer != want {
		return refusal.New(refusal.ReasonIssuer, "issuer %q is not the cluster's issuer %q", a.token.Claims.Issuer, want)
	}
	// With pem_keys the signature step has verified it against them.
	if len(st.keys) == 0 {
		kid := a.token.JWS.Signatures[0].Header.KeyID
		key, err := keys.FreshKey(ctx, kid)
		switch {
		case err != nil && kid == "":
			return cannotVouch(ctx, st, "the token names no kid", err)
		case isUnknownKey(err):
			return cannotVouch(ctx, st, fmt.Sprintf("no signing key the plugin holds for the cluster has kid %.64q", kid), err)
		case errors.Is(err, clusterkeys.ErrStale):
			return cannotVouch(ctx, st, "the plugin's copy of the cluster's signing keys is stale", err)
		case err != nil:
			return cannotVouch(ctx, st, "the cluster's signing keys cannot be read", err)
		}
		if _, err := a.token.JWS.Verify(key); err != nil {
			return refusal.New(refusal.ReasonSignature, "signature does not verify with the cluster's signing key %.64q", kid)
		}
	}
	// The keys vouch for exactly what the claims say.
	a.reviewed = a.claimed
	return nil
}

// keysCannotVouch: the cluster's keys or issuer cannot vouch for a token
// either way; hybrid mode reviews it instead (stepReview).
type keysCannotVouch struct {
	why string
	err error
}

func (e *keysCannotVouch) Error() string { return e.why + ": " + e.err.Error() }
func (e *keysCannotVouch) Unwrap() error { return e.err }

// cannotVouch is a *keysCannotVouch, unless the login's own context ended
// (its caller went away, or its time is up): then reviewing cannot help
// and the fault is the login's, as before.
func cannotVouch(ctx context.Context, st *liveCluster, why string, err error) error {
	if ctx.Err() != nil {
		return keyFault(st.kube, err)
	}
	return &keysCannotVouch{why: why, err: err}
}

// keyFault is a failure to get the cluster's keys or issuer.
func keyFault(client *kube.Client, err error) error {
	return credentialFault(client, err, "get on the API server's /openid/v1/jwks and /.well-known/openid-configuration "+
		"(ClusterRole system:service-account-issuer-discovery)")
}
