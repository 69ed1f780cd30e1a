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
}

// Settings are what the checks read of a cluster's stored config.
type Settings struct {
	CACert                        bool   // kubernetes_ca_cert is set
	Issuer                        string // the issuer field
	ExpectedIssuer                string // the iss a login requires ("" with validation off)
	DisableISSValidation          bool
	PEMKeys                       bool // pem_keys is set
	UseAnnotationsAsAliasMetadata bool
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
	cfg, client := t.Settings, t.Client
	var results []Result

	probe := client.Probe(ctx, t.Now)
	ca := caSource(cfg.CACert, t.PodCA, t.PodCAPath)
	api := APIServer(probe, client.Host(), ca)
	results = append(results, api)
	results = append(results, CA(t.CACerts, ca, t.CAErr, t.Now()))
	if probe.Err != nil {
		results = append(results, Skip(CheckClock, "the API server did not answer (see kubernetes_api)"))
	} else {
		results = append(results, ClockSkew(probe))
	}

	source := credentialSourceName(client.Credential())
	var token, path string
	var tokenErr error
	if source != credentialLoginJWT {
		token, tokenErr = client.Credential().Token("")
	}
	if f, ok := client.Credential().(*kube.TokenFile); ok {
		path = f.Path()
	}
	results = append(results, ReviewerCredential(source, path, token, tokenErr, t.Now()))

	// Why the calls below cannot be made, when they cannot.
	var blocked string
	switch {
	case api.Status == Failed:
		blocked = "the Kubernetes API cannot be used (see kubernetes_api)"
	case tokenErr != nil:
		blocked = "the reviewer credential cannot be read (see reviewer_credential)"
	}

	var who reviewer
	switch {
	case source == credentialLoginJWT:
		results = append(results, Skip(CheckIdentity, selfReviewReason))
	case blocked != "":
		results = append(results, Skip(CheckIdentity, blocked))
	default:
		user, err := client.WhoAmI(ctx)
		var identity Result
		identity, who = ReviewerIdentity(user, err, client.Credential())
		results = append(results, identity)
		if who.credentialRejected {
			blocked = "the API server does not accept the reviewer credential (see reviewer_identity)"
		}
	}

	for _, p := range []struct {
		perm       permission
		applies    bool
		notApplies string
		data       map[string]any
	}{
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
			notApplies: "no role uses bound_pod_label_selector, bound_node_names or token_bound_to_workload, so pods are never read",
			data:       map[string]any{"roles_reading_pods": FirstN(usage.WithPods, 10), "roles_reading_pods_count": len(usage.WithPods)},
		},
	} {
		var r Result
		switch {
		case !p.applies:
			r = Skip(p.perm.check, p.notApplies)
		case source == credentialLoginJWT:
			r = Skip(p.perm.check, selfReviewReason)
		case blocked != "":
			r = Skip(p.perm.check, blocked)
		default:
			status, err := client.MayI(ctx, p.perm.attrs)
			r = Permission(p.perm, status, err, who)
		}
		for k, v := range p.data {
			if r.Data == nil {
				r.Data = map[string]any{}
			}
			r.Data[k] = v
		}
		results = append(results, r)
	}

	// Discovery and the key set, read once for the checks that compare
	// them: with the reviewer credential, or without credentials when there
	// is none (clusters usually refuse that).
	selfReview := source == credentialLoginJWT
	hybridFetches := len(usage.Hybrid) > 0 && !selfReview && (cfg.Issuer == "" || !cfg.PEMKeys)
	var disc kube.Discovery
	var keys []kube.PublishedKey
	var discErr, keysErr error
	if blocked == "" {
		disc, discErr = client.Discovery(ctx)
		if cfg.PEMKeys || hybridFetches {
			keys, keysErr = client.PublishedKeys(ctx)
		}
	}
	asker := client.Credential()
	if selfReview {
		asker = nil
	}

	switch {
	case blocked != "":
		results = append(results, Skip(CheckIssuer, blocked))
	case discErr != nil:
		results = append(results, Skip(CheckIssuer, discoveryUnavailable("its OIDC discovery document", discErr, asker)))
	default:
		results = append(results, Issuer(cfg, disc))
	}
	switch {
	case !cfg.PEMKeys:
		results = append(results, Skip(CheckPEMKeys, "pem_keys is not set: signatures are checked by the TokenReview alone"))
	case blocked != "":
		results = append(results, Skip(CheckPEMKeys, blocked))
	case keysErr != nil:
		results = append(results, Skip(CheckPEMKeys, discoveryUnavailable("its service-account key set", keysErr, asker)))
	default:
		results = append(results, PEMKeys(t.Keys, keys))
	}
	switch {
	case len(usage.Hybrid) == 0:
		results = append(results, Skip(CheckClusterKeys, "no role uses review_mode=hybrid, so the cluster's keys are never fetched"))
	case cfg.Issuer != "" && cfg.PEMKeys:
		results = append(results, Skip(CheckClusterKeys, "review_mode=hybrid roles verify with the configured issuer and pem_keys; nothing is fetched"))
	case blocked != "" && !selfReview:
		results = append(results, Skip(CheckClusterKeys, blocked))
	default:
		r := ClusterKeys(KeysObserved{HybridRoles: FirstN(usage.Hybrid, 10), Settings: cfg, SelfReview: selfReview,
			Discovery: disc, DiscoveryErr: discErr, Keys: keys, KeysErr: keysErr, Reviewer: who, Held: t.HeldKeys()})
		r.Data["hybrid_roles_count"] = len(usage.Hybrid)
		results = append(results, r)
	}
	return results
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
	// token_bound_to_workload): the reviewer needs get on pods.
	WithPods []string
	// BoundToWorkload read service accounts at renewal.
	BoundToWorkload []string
}
