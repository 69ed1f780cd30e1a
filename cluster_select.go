package kubeauth

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/go-jose/go-jose/v4"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
)

// Outcomes of a cluster in the choice of a login's cluster (explain).
const (
	clusterChosen  = "chosen"
	clusterDropped = "dropped"
	// clusterKept: it matched, as did another, so none was chosen.
	clusterKept = "kept"
)

// clusterVerdict is what the choice of the login's cluster made of one of
// the mount's clusters, and why: the facts, from which detail writes the
// sentence only when explain or a refusal asks, so that a login pays a
// string comparison per cluster and no formatting.
type clusterVerdict struct {
	name    string
	outcome string
	why     verdictReason
	issuer  string // the cluster's issuer, when it was read
	err     error  // what could not be read
}

// verdictReason is why a cluster was chosen, kept or dropped.
type verdictReason uint8

const (
	whyUnusable          verdictReason = iota + 1 // its stored config cannot be used (err)
	whyIssuerUnreadable                           // err
	whyIssuerDiffers                              // issuer
	whyKeysUnreadable                             // err
	whyNoKeyVerifies                              // shares the issuer; none of its keys, refreshed, verifies
	whyNoHeldKeyVerifies                          // shares the issuer; none of the keys it holds verifies (another's did)
	whyByIssuer                                   // chosen: the only cluster with the token's issuer
	whyByKey                                      // chosen: the only one of those sharing the issuer whose key verifies
	whyBothMatch                                  // kept: issuer and key match, as another's do
)

// explainedCluster is a verdict as explain answers it.
type explainedCluster struct {
	Name    string `json:"name"`
	Outcome string `json:"outcome"`
	Detail  string `json:"detail"`
}

// detail is the verdict in a sentence, for a token with issuer iss and
// key id kid.
func (v clusterVerdict) detail(iss, kid string) string {
	switch v.why {
	case whyUnusable:
		return "its stored config cannot be used: " + v.err.Error()
	case whyIssuerUnreadable:
		return "its issuer could not be read: " + v.err.Error()
	case whyIssuerDiffers:
		return fmt.Sprintf("its issuer is %q, not the token's %q", v.issuer, iss)
	case whyKeysUnreadable:
		return "its signing keys could not be read: " + v.err.Error()
	case whyNoKeyVerifies:
		return fmt.Sprintf("it shares issuer %q, but none of its signing keys verifies the token (kid %.64q)", iss, kid)
	case whyNoHeldKeyVerifies:
		return fmt.Sprintf("it shares issuer %q, but none of the signing keys it holds verifies the token (kid %.64q)", iss, kid)
	case whyByIssuer:
		return fmt.Sprintf("its issuer %q is the token's, and no other cluster's", iss)
	case whyByKey:
		return fmt.Sprintf("the token's signature (kid %.64q) verifies with its signing key, and no other cluster's with issuer %q", kid, iss)
	case whyBothMatch:
		return "its issuer and signing key both match the token"
	}
	return ""
}

// explainClusters are the attempt's cluster verdicts as explain answers
// them.
func explainClusters(a *attempt) []explainedCluster {
	if a.clusters == nil || a.clusterVerdicts == nil {
		return nil // config alone, or the login ended before the cluster step
	}
	iss, kid := a.token.claims.Issuer, a.token.jws.Signatures[0].Header.KeyID
	out := make([]explainedCluster, 0, len(a.clusterVerdicts))
	for _, v := range a.clusterVerdicts {
		out = append(out, explainedCluster{Name: v.name, Outcome: v.outcome, Detail: v.detail(iss, kid)})
	}
	return out
}

// errNoDiscoveryCredential: a cluster without issuer or pem_keys whose
// published issuer and keys cannot be read, for want of a credential.
var errNoDiscoveryCredential = errors.New("it has no token_reviewer_jwt (nor Vault's own pod token) to read its API server's " +
	"issuer and signing keys with; set issuer (and pem_keys if clusters share an issuer) on it")

// stepCluster decides which of the mount's clusters the token comes from,
// from the token alone, and holds that against the role's bound_clusters.
// A mount with only config has nothing to decide.
func stepCluster(ctx context.Context, a *attempt) error {
	if a.clusters != nil {
		chosen, verdicts, err := chooseCluster(ctx, a.clusters, a.token)
		a.clusterVerdicts = verdicts
		if err != nil {
			return err
		}
		a.cluster, a.state = chosen.name, chosen.state
	}
	if !a.role.bindsCluster(a.cluster) {
		return refuse(reasonClusterNotBound, "the token is from cluster %q, which is not in the role's bound_clusters %q",
			a.cluster, a.role.boundClusters())
	}
	return nil
}

// chooseCluster finds the one cluster whose issuer is the token's and, when
// several share it, whose signing key signed it. Keys are first looked up
// among those already held, so a token of one cluster does not make every
// other cluster's key set refresh; only when none holds the kid are they
// fetched. When no cluster matches and one could not be asked (its config
// unusable, its API server down), that is a fault, not the token's.
func chooseCluster(ctx context.Context, refs []clusterRef, tok *parsedToken) (clusterRef, []clusterVerdict, error) {
	verdicts := make([]clusterVerdict, len(refs))
	var faults []error
	drop := func(i int, why verdictReason, err error) {
		verdicts[i] = clusterVerdict{name: refs[i].name, outcome: clusterDropped, why: why, err: err}
		if err != nil {
			faults = append(faults, fmt.Errorf("cluster %q: %w", refs[i].name, err))
		}
	}

	iss := tok.claims.Issuer
	var candidates [16]int // no allocation for up to 16 clusters sharing an issuer
	byIssuer := candidates[:0]
	for i, r := range refs {
		if r.err != nil {
			drop(i, whyUnusable, r.err)
			continue
		}
		if iss == defaultIssuer {
			// Every cluster's legacy Secret-based tokens carry it.
			byIssuer = append(byIssuer, i)
			continue
		}
		want, err := clusterIssuer(ctx, r.state)
		switch {
		case err != nil:
			drop(i, whyIssuerUnreadable, err)
		case want != iss:
			drop(i, whyIssuerDiffers, nil)
			verdicts[i].issuer = want
		default:
			byIssuer = append(byIssuer, i)
		}
	}

	matched, how := byIssuer, whyByIssuer
	if len(byIssuer) > 1 {
		matched, how = nil, whyByKey
		for _, refresh := range []bool{false, true} {
			for _, i := range byIssuer {
				if verdicts[i].outcome != "" {
					continue // dropped for a fault in the first pass
				}
				ok, err := signedBy(ctx, refs[i].state, tok.jws, refresh)
				switch {
				case err != nil:
					drop(i, whyKeysUnreadable, err)
				case ok:
					matched = append(matched, i)
				case refresh:
					drop(i, whyNoKeyVerifies, nil)
				}
			}
			if len(matched) > 0 {
				break
			}
		}
		for _, i := range byIssuer {
			if verdicts[i].outcome == "" && !slices.Contains(matched, i) {
				verdicts[i] = clusterVerdict{name: refs[i].name, outcome: clusterDropped, why: whyNoHeldKeyVerifies}
			}
		}
	}

	switch {
	case len(matched) == 1:
		i := matched[0]
		verdicts[i] = clusterVerdict{name: refs[i].name, outcome: clusterChosen, why: how}
		return refs[i], verdicts, nil
	case len(matched) > 1:
		names := make([]string, len(matched))
		for k, i := range matched {
			names[k] = refs[i].name
			verdicts[i] = clusterVerdict{name: refs[i].name, outcome: clusterKept, why: whyBothMatch}
		}
		return clusterRef{}, verdicts, refuse(reasonClusterAmbiguous, "clusters %q all have the token's issuer %q and signing key", names, iss)
	case len(faults) > 0:
		return clusterRef{}, verdicts, errors.Join(faults...)
	}
	return clusterRef{}, verdicts, refuse(reasonClusterUnknown, "no cluster of the mount has the token's issuer %q and signing key", iss)
}

// clusterIssuer is the issuer of the cluster's tokens: its issuer field
// when set (enforced or not), else what its API server announces.
func clusterIssuer(ctx context.Context, st *configState) (string, error) {
	if st.config.Issuer != "" {
		return st.config.Issuer, nil
	}
	if !st.hasReviewer() {
		return "", errNoDiscoveryCredential
	}
	iss, err := st.clusterKeys.get().Issuer(ctx)
	if err != nil {
		return "", keyFault(st.kube, err)
	}
	return iss, nil
}

// signedBy says whether one of the cluster's signing keys (pem_keys, else
// the keys its API server publishes) verifies the token. Without refresh,
// only keys already held are tried.
func signedBy(ctx context.Context, st *configState, jws *jose.JSONWebSignature, refresh bool) (bool, error) {
	if len(st.keys) > 0 {
		return verifySignature(jws, st.keys) == nil, nil
	}
	if !st.hasReviewer() {
		return false, errNoDiscoveryCredential
	}
	kid := jws.Signatures[0].Header.KeyID
	set := st.clusterKeys.get()
	if !refresh {
		key, ok := set.Cached(kid)
		if !ok {
			return false, nil
		}
		_, err := jws.Verify(key)
		return err == nil, nil
	}
	key, err := set.Key(ctx, kid)
	switch {
	case isUnknownKey(err):
		return false, nil
	case err != nil:
		return false, keyFault(st.kube, err)
	}
	_, err = jws.Verify(key)
	return err == nil, nil
}

// hasReviewer says whether the cluster has a reviewer credential
// (token_reviewer_jwt or Vault's own pod token) rather than each login JWT
// reviewing itself. Only with one may the plugin ask the cluster anything
// on its own behalf: its published issuer and keys, lookups at renewal,
// answers shared between logins.
func (s *configState) hasReviewer() bool {
	_, selfReview := s.kube.Credential().(kube.LoginJWT)
	return !selfReview
}
