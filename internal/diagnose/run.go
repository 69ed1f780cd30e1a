package diagnose

import (
	"context"
	"crypto"
	"crypto/x509"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/clusterkeys"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
)

// Client is what the checks ask the cluster; *kube.Client is one.
type Client interface {
	Probe(ctx context.Context, now func() time.Time) kube.Probe
	Host() string
	Credential() kube.Credential
	WhoAmI(ctx context.Context) (authv1.UserInfo, error)
	MayI(ctx context.Context, attrs authzv1.ResourceAttributes) (authzv1.SubjectAccessReviewStatus, error)
	Discovery(ctx context.Context) (kube.Discovery, error)
	PublishedKeys(ctx context.Context) ([]kube.PublishedKey, error)
	// Addresses and ProbeAddress: every address of the API server, and a
	// probe of one alone (kubernetes_addresses).
	Addresses() []kube.AddressState
	ProbeAddress(ctx context.Context, i int, now func() time.Time) kube.Probe
	// PublishedKeysAt is PublishedKeys of one address alone: whether the
	// addresses are one cluster.
	PublishedKeysAt(ctx context.Context, i int) ([]kube.PublishedKey, error)
}

// Settings are what the checks read of a cluster's stored config.
type Settings struct {
	CACert                        bool   // kubernetes_ca_cert is set
	Issuer                        string // the issuer field
	ExpectedIssuer                string // the iss a login requires ("" with validation off)
	DisableISSValidation          bool
	PEMKeys                       bool // pem_keys is set
	UseAnnotationsAsAliasMetadata bool
	Route                         Route             // the proxy and server name
	JWKSURL                       bool              // jwks_url is set
	ClientCert                    *x509.Certificate // token_reviewer_client_cert's leaf, when set
}

// Target is the cluster the checks look at: how to ask it, its settings,
// and what the plugin holds of it.
type Target struct {
	Client    Client
	Settings  Settings
	PodCA     bool // the CA comes from the pod's CA file, at PodCAPath
	PodCAPath string
	CACerts   []*x509.Certificate // the CA certificates the client trusts (none: the system trust store)
	CAErr     error               // why they could not be read
	Keys      []crypto.PublicKey  // pem_keys, parsed
	// HeldKeys is the plugin's copy of the cluster's keys, read only when
	// the cluster_keys check applies.
	HeldKeys func() clusterkeys.KeysStatus
	Now      func() time.Time
}

// Run makes the calls and runs every check in order. A check whose
// precondition failed (the API server cannot be used, the credential is
// refused) is skipped with that reason, so one fault is reported once.
func Run(ctx context.Context, t Target, usage Usage) []Result {
	r := &run{ctx: ctx, t: t, usage: usage}
	r.server()
	r.credential()
	r.identity()
	r.permissions()
	r.published()
	return r.results
}

// run is one Run between its phases: what the earlier checks found that
// the later ones depend on.
type run struct {
	ctx     context.Context
	t       Target
	usage   Usage
	results []Result

	// source names the reviewer credential (credentialSourceName).
	source string
	// blocked is why the calls of the later checks cannot be made, when
	// they cannot.
	blocked string
	// who is the reviewer as Kubernetes named it.
	who reviewerAccount
}

func (r *run) add(res Result) { r.results = append(r.results, res) }

// selfReview: there is no reviewer credential; each login's JWT reviews
// itself.
func (r *run) selfReview() bool { return kube.ReviewsItself(r.t.Client.Credential()) }

// server: kubernetes_api, ca_certificate and clock_skew, from one probe.
func (r *run) server() {
	t := r.t
	probe := t.Client.Probe(r.ctx, t.Now)
	ca := caSource(t.Settings.CACert, t.PodCA, t.PodCAPath)
	api := APIServer(probe, t.Client.Host(), ca, t.Settings.Route)
	r.add(api)
	if len(t.Client.Addresses()) > 1 {
		states, probes, keys := probeEach(r.ctx, t.Client, t.Now)
		r.add(Addresses(states, probes, keys, r.keysAsker(), ca, t.Settings.Route))
	}
	r.add(CA(t.CACerts, ca, t.CAErr, t.Now()))
	if probe.Err != nil {
		r.add(Skip(CheckClock, "the API server did not answer (see kubernetes_api)"))
	} else {
		r.add(ClockSkew(probe))
	}
	if api.Status == Failed {
		r.blocked = "the Kubernetes API cannot be used (see kubernetes_api)"
	}
}

// credential: reviewer_credential, the credential itself, read as a login
// would read it.
func (r *run) credential() {
	cred := r.t.Client.Credential()
	r.source = credentialSourceName(cred)
	if r.source == credentialClientCert {
		r.add(ClientCertCredential(r.t.Settings.ClientCert, r.t.Now()))
		return
	}
	var token, path string
	var tokenErr error
	if !r.selfReview() {
		token, tokenErr = cred.Token("")
	}
	if f, ok := cred.(*kube.TokenFile); ok {
		path = f.Path()
	}
	r.add(ReviewerCredential(r.source, path, token, tokenErr, r.t.Now()))
	if tokenErr != nil && r.blocked == "" {
		r.blocked = "the reviewer credential cannot be read (see reviewer_credential)"
	}
}

// identity: reviewer_identity, who Kubernetes says the credential is.
func (r *run) identity() {
	switch {
	case r.selfReview():
		r.add(Skip(CheckIdentity, selfReviewReason))
	case r.blocked != "":
		r.add(Skip(CheckIdentity, r.blocked))
	default:
		user, err := r.t.Client.WhoAmI(r.ctx)
		var identity Result
		identity, r.who = ReviewerIdentity(user, err, r.t.Client.Credential())
		r.add(identity)
		if r.who.credentialRejected {
			r.blocked = "the API server does not accept the reviewer credential (see reviewer_identity)"
		}
	}
}

// wanted is a permission check and whether the roles and config need it.
type wanted struct {
	perm       permission
	applies    bool
	notApplies string
	data       map[string]any
}

// wantedPermissions are the permission checks in order: TokenReviews
// always, the reads only when a role or the config makes them.
func wantedPermissions(cfg Settings, usage Usage) []wanted {
	return []wanted{
		{perm: permTokenReviews, applies: true},
		{
			perm: permNamespaces, applies: len(usage.WithSelector) > 0,
			notApplies: "no role uses bound_service_account_namespace_selector, so namespaces are never read",
			data:       map[string]any{"roles_with_selector": FirstN(usage.WithSelector, 10), "roles_with_selector_count": len(usage.WithSelector)},
		},
		{
			perm: permServiceAccounts, applies: cfg.UseAnnotationsAsAliasMetadata || len(usage.BoundToWorkload) > 0,
			notApplies: "use_annotations_as_alias_metadata is false and no role uses token_bound_to_workload, so service accounts are never read",
		},
		{
			perm: permPods, applies: len(usage.WithPods) > 0,
			notApplies: "no role uses bound_pod_label_selector, bound_node_names, token_bound_to_workload, alias_metadata_pod_labels or alias_metadata_owner, so pods are never read",
			data:       map[string]any{"roles_reading_pods": FirstN(usage.WithPods, 10), "roles_reading_pods_count": len(usage.WithPods)},
		},
		ownerPermission(permReplicaSets, usage),
		ownerPermission(permJobs, usage),
	}
}

// ownerPermission is one of the reads alias_metadata_owner makes to follow a
// pod's owner to its workload.
func ownerPermission(p permission, usage Usage) wanted {
	return wanted{
		perm: p, applies: len(usage.WithOwner) > 0,
		notApplies: "no role uses alias_metadata_owner, so " + p.attrs.Resource + " are never read",
		data:       map[string]any{"roles_with_owner": FirstN(usage.WithOwner, 10), "roles_with_owner_count": len(usage.WithOwner)},
	}
}

// permissions: create_tokenreviews and the get_* checks.
func (r *run) permissions() {
	for _, p := range wantedPermissions(r.t.Settings, r.usage) {
		var res Result
		switch {
		case !p.applies:
			res = Skip(p.perm.check, p.notApplies)
		case r.selfReview():
			res = Skip(p.perm.check, selfReviewReason)
		case r.blocked != "":
			res = Skip(p.perm.check, r.blocked)
		default:
			status, err := r.t.Client.MayI(r.ctx, p.perm.attrs)
			res = Permission(p.perm, status, err, r.who)
		}
		for k, v := range p.data {
			if res.Data == nil {
				res.Data = map[string]any{}
			}
			res.Data[k] = v
		}
		r.add(res)
	}
}

// publishedRead is what was read of the cluster's discovery document and
// key set, and who asked (nil: no one, the request had no credentials).
type publishedRead struct {
	disc    kube.Discovery
	discErr error
	keys    []kube.PublishedKey
	keysErr error
	asker   kube.Credential
}

// readPublished reads discovery and the key set once for the checks that
// compare them: with the reviewer credential, or without credentials when
// there is none (clusters usually refuse that).
func (r *run) readPublished() publishedRead {
	cfg := r.t.Settings
	hybridFetches := len(r.usage.Hybrid)+len(r.usage.Local) > 0 && !r.selfReview() && (cfg.Issuer == "" || !cfg.PEMKeys)
	var p publishedRead
	if r.blocked == "" {
		p.disc, p.discErr = r.t.Client.Discovery(r.ctx)
		if cfg.PEMKeys || hybridFetches {
			p.keys, p.keysErr = r.t.Client.PublishedKeys(r.ctx)
		}
	}
	p.asker = r.keysAsker()
	return p
}

// keysAsker is who reads what the cluster publishes: the reviewer, or no
// one when each login's JWT reviews itself.
func (r *run) keysAsker() kube.Credential {
	if r.selfReview() {
		return nil
	}
	return r.t.Client.Credential()
}

// published: issuer, pem_keys and cluster_keys, against what the cluster
// publishes.
func (r *run) published() {
	cfg, p := r.t.Settings, r.readPublished()
	switch {
	case r.blocked != "":
		r.add(Skip(CheckIssuer, r.blocked))
	case p.discErr != nil:
		r.add(Skip(CheckIssuer, discoveryUnavailable("its OIDC discovery document", p.discErr, p.asker)))
	default:
		r.add(Issuer(cfg, p.disc))
	}
	switch {
	case !cfg.PEMKeys:
		r.add(Skip(CheckPEMKeys, "pem_keys is not set: signatures are checked by the TokenReview alone"))
	case r.blocked != "":
		r.add(Skip(CheckPEMKeys, r.blocked))
	case p.keysErr != nil:
		r.add(Skip(CheckPEMKeys, discoveryUnavailable("its service-account key set", p.keysErr, p.asker)))
	default:
		r.add(PEMKeys(r.t.Keys, p.keys))
	}
	r.add(r.clusterKeys(p))
}

// clusterKeys is the cluster_keys check, for review_mode=hybrid roles.
func (r *run) clusterKeys(p publishedRead) Result {
	cfg := r.t.Settings
	switch {
	case len(r.usage.Hybrid) == 0 && len(r.usage.Local) == 0:
		return Skip(CheckClusterKeys, "no role uses review_mode=hybrid, so the cluster's keys are never fetched")
	case cfg.JWKSURL && len(r.usage.Hybrid) == 0:
		return Skip(CheckClusterKeys, "review_mode=local roles read the cluster's keys from jwks_url; see the jwks_url check")
	case cfg.Issuer != "" && cfg.PEMKeys:
		return Skip(CheckClusterKeys, "review_mode=hybrid roles verify with the configured issuer and pem_keys; nothing is fetched")
	case r.blocked != "" && !r.selfReview():
		return Skip(CheckClusterKeys, r.blocked)
	}
	res := ClusterKeys(KeysObserved{HybridRoles: FirstN(r.usage.Hybrid, 10), LocalRoles: FirstN(r.usage.Local, 10), Settings: cfg, SelfReview: r.selfReview(),
		Discovery: p.disc, DiscoveryErr: p.discErr, Keys: p.keys, KeysErr: p.keysErr, Reviewer: r.who, Held: r.t.HeldKeys()})
	res.Data["hybrid_roles_count"] = len(r.usage.Hybrid)
	return res
}

// FirstN is at most the first n of s, never nil (a JSON list, not null).
func FirstN(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return append([]string{}, s...)
}

// Unusable is the answer when no client can be built from the stored
// config (a pod CA file that cannot be read, say): nothing can be asked.
func Unusable(err error) []Result {
	results := []Result{{
		Name:   CheckAPI,
		Status: Failed,
		Detail: err.Error(),
		Fix:    "fix what the error names, or write the config again",
	}}
	for _, name := range []string{CheckCA, CheckClock, CheckCredential, CheckIdentity,
		CheckTokenReviews, CheckNamespaces, CheckServiceAccounts, CheckIssuer, CheckPEMKeys, CheckClusterKeys} {
		results = append(results, Skip(name, "the stored config cannot be used (see kubernetes_api)"))
	}
	return results
}

// Usage is which roles need what of the cluster beyond TokenReviews.
type Usage struct {
	// WithSelector use a namespace selector: the reviewer needs get on
	// namespaces.
	WithSelector []string
	// Hybrid verify young tokens with the cluster's issuer and keys.
	Hybrid []string
	// WithPods read pods (bound_pod_label_selector, bound_node_names,
	// token_bound_to_workload, alias_metadata_pod_labels,
	// alias_metadata_owner): the reviewer needs get on pods.
	WithPods []string
	// WithOwner follow a pod's owner (alias_metadata_owner): the reviewer
	// needs get on replicasets.apps and jobs.batch.
	WithOwner []string
	// BoundToWorkload read service accounts at renewal.
	BoundToWorkload []string
	// Local verify every token with the cluster's issuer and keys and
	// review none (review_mode=local).
	Local []string
}
