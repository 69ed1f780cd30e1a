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
// the mount's clusters, and why.
type clusterVerdict struct {
	Name    string `json:"name"`
	Outcome string `json:"outcome"`
	Detail  string `json:"detail"`
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
	drop := func(i int, detail string, err error) {
		verdicts[i] = clusterVerdict{Name: refs[i].name, Outcome: clusterDropped, Detail: detail}
		if err != nil {
			faults = append(faults, fmt.Errorf("cluster %q: %w", refs[i].name, err))
		}
	}

	iss := tok.claims.Issuer
	var byIssuer []int
	for i, r := range refs {
		if r.err != nil {
			drop(i, "its stored config cannot be used: "+r.err.Error(), r.err)
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
			drop(i, "its issuer could not be read: "+err.Error(), err)
		case want != iss:
			drop(i, fmt.Sprintf("its issuer is %q, not the token's %q", want, iss), nil)
		default:
			byIssuer = append(byIssuer, i)
		}
	}

	matched := byIssuer
	how := fmt.Sprintf("its issuer %q is the token's, and no other cluster's", iss)
	if len(byIssuer) > 1 {
		matched = nil
		kid := tok.jws.Signatures[0].Header.KeyID
		how = fmt.Sprintf("the token's signature (kid %.64q) verifies with its signing key, and no other cluster's with issuer %q", kid, iss)
		for _, refresh := range []bool{false, true} {
			for _, i := range byIssuer {
				if verdicts[i].Outcome != "" {
					continue // dropped for a fault in the first pass
				}
				ok, err := signedBy(ctx, refs[i].state, tok.jws, refresh)
				switch {
				case err != nil:
					drop(i, "its signing keys could not be read: "+err.Error(), err)
				case ok:
					matched = append(matched, i)
				case refresh:
					drop(i, fmt.Sprintf("it shares issuer %q, but none of its signing keys verifies the token (kid %.64q)", iss, kid), nil)
				}
			}
			if len(matched) > 0 {
				break
			}
		}
		for _, i := range byIssuer {
			if verdicts[i].Outcome == "" && !slices.Contains(matched, i) {
				verdicts[i] = clusterVerdict{Name: refs[i].name, Outcome: clusterDropped,
					Detail: fmt.Sprintf("it shares issuer %q, but none of the signing keys it holds verifies the token (kid %.64q)", iss, kid)}
			}
		}
	}

	switch {
	case len(matched) == 1:
		i := matched[0]
		verdicts[i] = clusterVerdict{Name: refs[i].name, Outcome: clusterChosen, Detail: how}
		return refs[i], verdicts, nil
	case len(matched) > 1:
		names := make([]string, len(matched))
		for k, i := range matched {
			names[k] = refs[i].name
			verdicts[i] = clusterVerdict{Name: refs[i].name, Outcome: clusterKept, Detail: "its issuer and signing key both match the token"}
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
	if !st.canFetchKeys() {
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
	if !st.canFetchKeys() {
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

// canFetchKeys says whether the cluster's published issuer and keys can be
// read: with the reviewer credential (token_reviewer_jwt or Vault's own pod
// token), never with the token being verified.
func (s *configState) canFetchKeys() bool {
	_, selfReview := s.kube.Credential().(kube.LoginJWT)
	return !selfReview
}
