package kubeauth

import (
	"crypto"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/satoken"
)

// liveCluster is a cluster's live state: everything derived from its
// stored config (config's, or cluster/<name>'s), built once and shared by
// all logins until that config changes. The registry (clusters.go) holds
// one per cluster; a request takes it with liveCluster or liveDefault and
// gives it back with release.
type liveCluster struct {
	// name is the cluster's: defaultCluster for config's.
	name   string
	config *clusterConfig
	keys   []crypto.PublicKey
	kube   *kube.Client
	// podCA is the version of the pod's CA file the client trusts, when
	// the config leaves the CA to the pod (usesPodCA).
	podCA fileStamp
	loginCaches
	// clusterKeys are the cluster's signing keys, for hybrid and local
	// modes; keysFetcher reads them (config/check reads jwks_url with it).
	clusterKeys lazyKeys
	keysFetcher keyFetcher
}

// buildState parses keys and builds the Kubernetes client for the config
// cfg of the cluster called name.
func (b *backend) buildState(name string, cfg *clusterConfig, mode satoken.Mode) (*liveCluster, error) {
	keys, err := satoken.ParsePEMKeys(cfg.PEMKeys, mode)
	if err != nil {
		return nil, err
	}
	caPEM, podCA, err := b.trustedCA(cfg, mode)
	if err != nil {
		return nil, err
	}
	m := b.metrics.Cluster(name)
	var caOrigin string
	if podCA.exists {
		caOrigin = "the pod's CA file " + b.localFiles.caPath() + ", or set kubernetes_ca_cert"
	}
	clientCert, err := cfg.clientCertificate()
	if err != nil {
		return nil, err
	}
	if err := checkFIPSKeys(keys, clientCert, b.fipsOnly); err != nil {
		return nil, err
	}
	proxy, err := parseProxyURL(cfg.ProxyURL)
	if err != nil {
		return nil, err
	}
	client, err := kube.New(kube.Options{
		Host:          cfg.Host,
		Hosts:         cfg.addresses(),
		CAPEM:         caPEM,
		CAOrigin:      caOrigin,
		Credential:    b.reviewerCredential(cfg),
		Timeout:       b.requestTimeout,
		Metrics:       m,
		UserAgent:     "vault-plugin-auth-kubernetes/" + Version,
		TLSServerName: cfg.TLSServerName,
		Proxy:         proxy,
		ClientCert:    clientCert,
		FailoverAfter: b.failoverAfter,
	})
	if err != nil {
		return nil, err
	}
	st := &liveCluster{name: name, config: cfg, keys: keys, kube: client, podCA: podCA}
	st.loginCaches = newLoginCaches(func() time.Time { return b.now() }, client.Review, m)
	fetcher, err := newKeyFetcher(cfg, client, caPEM, caOrigin, b.requestTimeout)
	if err != nil {
		client.Close()
		return nil, err
	}
	st.keysFetcher = fetcher
	st.clusterKeys.start = func() clusterKeySource { return b.newClusterKeys(fetcher, m) }
	return st, nil
}

// retire stops what the state runs once no request uses it (the key
// fetcher's connections too: config/check may have used it without the
// key set).
func (s *liveCluster) retire() {
	s.clusterKeys.close()
	s.keysFetcher.close()
}

// release ends a request's use of the state.
func (s *liveCluster) release() {
	if s.kube.Release() {
		s.retire()
	}
}

// close retires the state: its connections are closed, and its key set
// stopped, once no request uses it any more.
func (s *liveCluster) close() {
	if s.kube.Close() {
		s.retire()
	}
}

// hasReviewer says whether the cluster has a reviewer credential
// (token_reviewer_jwt or Vault's own pod token) rather than each login JWT
// reviewing itself. Only with one may the plugin ask the cluster anything
// on its own behalf: its published issuer and keys, lookups at renewal,
// answers shared between logins.
func (s *liveCluster) hasReviewer() bool { return !kube.ReviewsItself(s.kube.Credential()) }

// canVerifyLocally says whether this config lets hybrid mode verify tokens
// locally. The cluster's keys are fetched with the reviewer credential;
// when each login JWT reviews itself there is none, so only pem_keys and a
// configured issuer, or a jwks_url (read without a credential where the
// API server's own keys need one), can do without it, and otherwise every
// token is reviewed.
func (s *liveCluster) canVerifyLocally() bool {
	return len(s.keys) > 0 && s.config.Issuer != "" || s.config.JWKSURL != "" || s.hasReviewer()
}
