package kubeauth

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"slices"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/diagnose"
)

// clusterChoiceResult says whether the cluster called name can be told
// apart from the mount's other clusters (refs) the way a login does it: by
// issuer, else by signing key. It reads what a login would read: the
// issuer field or the announced issuer, and pem_keys or the published keys.
func clusterChoiceResult(ctx context.Context, name string, refs []clusterRef, wait time.Duration) diagnose.Result {
	r := diagnose.Result{Name: diagnose.CheckClusterChoice, Data: map[string]any{}}
	self, others := splitCluster(refs, name)
	if self == nil {
		return diagnose.Skip(diagnose.CheckClusterChoice, "the cluster's stored config cannot be used (see kubernetes_api)")
	}
	iss, err := clusterIssuer(ctx, self, wait)
	if err != nil {
		r.Status, r.Detail = diagnose.Failed, "logins cannot match tokens to this cluster: its issuer could not be read: "+err.Error()
		r.Fix = "set issuer on " + clusterStorageKey(name) + " to the iss of its tokens"
		return r
	}
	r.Data["issuer"] = iss
	scan := scanIssuers(ctx, others, iss, wait)
	scan.name, scan.self = name, self
	r.Data["clusters_sharing_issuer"] = diagnose.FirstN(scan.sharing, 10)
	r.Data["clusters_issuer_unknown"] = diagnose.FirstN(scan.unknown, 10)
	if len(scan.sharing) == 0 {
		return scan.apartByIssuer(r)
	}
	return scan.apartByKey(ctx, r)
}

// splitCluster is the cluster called name among refs, and the others.
func splitCluster(refs []clusterRef, name string) (self *liveCluster, others []clusterRef) {
	for _, ref := range refs {
		if ref.name == name {
			self = ref.state
		} else {
			others = append(others, ref)
		}
	}
	return self, others
}

// issuerScan is how a cluster's issuer compares with the other clusters'.
type issuerScan struct {
	name string
	self *liveCluster
	iss  string
	// sharing have the same issuer; unknown's issuers could not be read.
	sharing, unknown []string
	sharingRefs      []clusterRef
}

// scanIssuers reads the other clusters' issuers and compares them with iss.
func scanIssuers(ctx context.Context, others []clusterRef, iss string, wait time.Duration) issuerScan {
	scan := issuerScan{iss: iss}
	for _, o := range others {
		if o.err != nil {
			scan.unknown = append(scan.unknown, o.name)
			continue
		}
		oiss, err := clusterIssuer(ctx, o.state, wait)
		switch {
		case err != nil:
			scan.unknown = append(scan.unknown, o.name)
		case oiss == iss:
			scan.sharing = append(scan.sharing, o.name)
			scan.sharingRefs = append(scan.sharingRefs, o)
		}
	}
	return scan
}

// apartByIssuer: no other cluster is known to share the issuer.
func (scan issuerScan) apartByIssuer(r diagnose.Result) diagnose.Result {
	iss, unknown := scan.iss, scan.unknown
	if len(unknown) == 0 {
		r.Status = diagnose.Passed
		r.Detail = fmt.Sprintf("tokens with issuer %q are matched to this cluster: no other cluster has it", iss)
		return r
	}
	// A login matches no token by issuer alone while another cluster's
	// issuer is unknown: it may be the same. Their own checks say why it
	// is unknown; this one says whether this cluster's tokens can still be
	// told apart, by signing key.
	if len(scan.self.keys) == 0 && !scan.self.hasReviewer() {
		r.Status = diagnose.Failed
		r.Detail = fmt.Sprintf("no other cluster whose issuer could be read has issuer %q, but the issuer of %q could not be read, "+
			"and this cluster has no pem_keys nor reviewer credential to tell its tokens apart by signing key: its logins fail", iss, unknown)
		r.Fix = fmt.Sprintf("set issuer on clusters %q (or pem_keys on %s)", unknown, clusterStorageKey(scan.name))
		return r
	}
	r.Status = diagnose.Passed
	r.Detail = fmt.Sprintf("no other cluster whose issuer could be read has issuer %q; while the issuer of %q is not known "+
		"(their own checks say why), this cluster's tokens are matched by its signing keys", iss, unknown)
	return r
}

// apartByKey: other clusters share the issuer, so logins tell them apart
// by signing key.
func (scan issuerScan) apartByKey(ctx context.Context, r diagnose.Result) diagnose.Result {
	iss, sharing := scan.iss, scan.sharing
	mine, err := signingKeyIDs(ctx, scan.self)
	if err != nil {
		r.Status = diagnose.Failed
		r.Detail = fmt.Sprintf("clusters %q share issuer %q, so logins tell them apart by signing key, and this cluster's keys could not be read: %v", sharing, iss, err)
		r.Fix = "set pem_keys on " + clusterStorageKey(scan.name) + ", or give it a reviewer credential that may read /openid/v1/jwks"
		return r
	}
	for _, o := range scan.sharingRefs {
		theirs, err := signingKeyIDs(ctx, o.state)
		if err != nil {
			continue // that cluster's own check reports it
		}
		if slices.ContainsFunc(mine, func(id string) bool { return slices.Contains(theirs, id) }) {
			r.Status = diagnose.Failed
			r.Detail = fmt.Sprintf("cluster %q has the same issuer %q and a signing key of this cluster: their tokens are refused as cluster_ambiguous", o.name, iss)
			r.Fix = "if both entries describe one cluster, delete one; else give each cluster its own signing key"
			return r
		}
	}
	r.Status = diagnose.Passed
	r.Detail = fmt.Sprintf("clusters %q share issuer %q; this cluster's tokens are told apart by its %d signing keys, which no other cluster has", sharing, iss, len(mine))
	return r
}

// signingKeyIDs are fingerprints of the cluster's signing keys: pem_keys,
// else those its API server publishes (read with its reviewer credential).
func signingKeyIDs(ctx context.Context, st *liveCluster) ([]string, error) {
	keys := st.keys
	if len(keys) == 0 {
		if !st.hasReviewer() {
			return nil, errNoDiscoveryCredential
		}
		published, err := st.kube.PublishedKeys(ctx)
		if err != nil {
			return nil, err
		}
		for _, p := range published {
			keys = append(keys, p.Key)
		}
	}
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		if der, err := x509.MarshalPKIXPublicKey(k); err == nil {
			sum := sha256.Sum256(der)
			ids = append(ids, string(sum[:]))
		}
	}
	return ids, nil
}
