package kubeauth

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/satoken"
)

// pathConfigCheck is config/check: the stored config held against the live
// cluster, for operators. It is authenticated like config itself (not in
// the unauthenticated list), changes nothing, and never returns the
// reviewer JWT or any part of it.
func pathConfigCheck(b *backend) *framework.Path {
	return &framework.Path{
		Pattern: "config/check$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: "kubernetes",
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback: b.pathConfigCheckRead,
				Summary: "Check the config against the live cluster: the API server, its CA, the clock, " +
					"the reviewer credential and its permissions, the issuer, pem_keys and the cluster's keys.",
				DisplayAttrs: &framework.DisplayAttributes{
					OperationVerb:   "check",
					OperationSuffix: "auth-configuration",
				},
			},
		},
		HelpSynopsis:    "Check the config against the live Kubernetes cluster.",
		HelpDescription: strings.TrimSpace(configCheckHelp),
	}
}

func (b *backend) pathConfigCheckRead(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	return b.checkCluster(ctx, req, defaultCluster)
}

// checkCluster holds one cluster's stored config against the live cluster,
// with what the roles that accept its tokens need of it.
func (b *backend) checkCluster(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	st, err := b.clusterState(ctx, req.Storage, name)
	var results []checkResult
	switch {
	case err == nil && st == nil && name == defaultCluster:
		return logical.ErrorResponse("config: the auth method is not configured; write config first"), nil
	case err == nil && st == nil:
		return logical.ErrorResponse(fmt.Sprintf("cluster %q does not exist; write cluster/%s first", name, name)), nil
	case err != nil:
		results = unusableConfig(err)
	default:
		defer st.release()
		usage, err := b.roleUsage(ctx, req.Storage, name)
		if err != nil {
			return nil, err
		}
		results = b.runConfigChecks(ctx, st, usage)
	}
	if choice, ok, err := b.clusterChoiceCheck(ctx, req.Storage, name); err != nil {
		return nil, err
	} else if ok {
		results = append(results, choice)
	}
	v := verdict(results)
	b.Logger().Debug("config check", "cluster", name, "verdict", v)
	checks := make([]map[string]any, len(results))
	for i, r := range results {
		checks[i] = r.toMap()
	}
	return &logical.Response{Data: map[string]any{"verdict": v, "checks": checks}}, nil
}

// clusterChoiceCheck is the cluster_choice check, only on a mount with
// named clusters (ok false on one with config alone, whose answer stays
// what it was).
func (b *backend) clusterChoiceCheck(ctx context.Context, s logical.Storage, name string) (checkResult, bool, error) {
	names, err := b.clusterNames(ctx, s)
	if err != nil || len(names) == 0 {
		return checkResult{}, false, err
	}
	refs, err := b.mountClusters(ctx, s)
	if err != nil {
		return checkResult{}, false, err
	}
	defer releaseClusters(refs)
	return inspectClusterChoice(ctx, name, refs, b.clusterWait), true, nil
}

// unusableConfig is the answer when no client can be built from the stored
// config (a pod CA file that cannot be read, say): nothing can be asked.
func unusableConfig(err error) []checkResult {
	results := []checkResult{{
		name:   checkNameAPI,
		status: checkFailed,
		detail: err.Error(),
		fix:    "fix what the error names, or write the config again",
	}}
	for _, name := range []string{checkNameCA, checkNameClock, checkNameCredential, checkNameIdentity,
		checkNameTokenReviews, checkNameNamespaces, checkNameServiceAccounts, checkNameIssuer, checkNamePEMKeys, checkNameClusterKeys} {
		results = append(results, skipped(name, "the stored config cannot be used (see kubernetes_api)"))
	}
	return results
}

// roleUsage is which roles need what of the cluster beyond TokenReviews.
type roleUsage struct {
	// withSelector use a namespace selector: the reviewer needs get on
	// namespaces.
	withSelector []string
	// hybrid verify young tokens with the cluster's issuer and keys.
	hybrid []string
	// withPods read pods (bound_pod_label_selector, bound_node_names,
	// token_bound_to_workload): the reviewer needs get on pods.
	withPods []string
	// boundToWorkload read service accounts at renewal.
	boundToWorkload []string
}

// roleUsage is what the roles that accept the named cluster's tokens need.
func (b *backend) roleUsage(ctx context.Context, s logical.Storage, cluster string) (roleUsage, error) {
	names, err := s.List(ctx, rolePrefix)
	if err != nil {
		return roleUsage{}, fmt.Errorf("listing roles: %w", err)
	}
	var u roleUsage
	for _, name := range names {
		r, err := b.roles.get(ctx, s, name)
		if err != nil {
			return roleUsage{}, err
		}
		if r == nil || !r.bindsCluster(cluster) {
			continue // deleted since the list, or for other clusters
		}
		if r.ServiceAccountNamespaceSelector != "" {
			u.withSelector = append(u.withSelector, name)
		}
		if r.mode() == reviewHybrid {
			u.hybrid = append(u.hybrid, name)
		}
		if r.readsPods() {
			u.withPods = append(u.withPods, name)
		}
		if r.TokenBoundToWorkload {
			u.boundToWorkload = append(u.boundToWorkload, name)
		}
	}
	return u, nil
}

// runConfigChecks makes the calls and runs every check in order. A check
// whose precondition failed (the API server cannot be used, the credential
// is refused) is skipped with that reason, so one fault is reported once.
func (b *backend) runConfigChecks(ctx context.Context, st *configState, usage roleUsage) []checkResult {
	cfg, client := st.config, st.kube
	var results []checkResult

	probe := client.Probe(ctx, b.now)
	ca := caSource(cfg, st.podCA.exists, b.localFiles.caPath())
	api := inspectAPIServer(probe, client.Host(), ca)
	results = append(results, api)
	certs, caErr := b.trustedCACerts(cfg)
	results = append(results, inspectCA(certs, ca, caErr, b.now()))
	if probe.Err != nil {
		results = append(results, skipped(checkNameClock, "the API server did not answer (see kubernetes_api)"))
	} else {
		results = append(results, inspectClockSkew(probe))
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
	results = append(results, inspectReviewerCredential(source, path, token, tokenErr, b.now()))

	// Why the calls below cannot be made, when they cannot.
	var blocked string
	switch {
	case api.status == checkFailed:
		blocked = "the Kubernetes API cannot be used (see kubernetes_api)"
	case tokenErr != nil:
		blocked = "the reviewer credential cannot be read (see reviewer_credential)"
	}

	var who reviewer
	switch {
	case source == credentialLoginJWT:
		results = append(results, skipped(checkNameIdentity, selfReviewReason))
	case blocked != "":
		results = append(results, skipped(checkNameIdentity, blocked))
	default:
		user, err := client.WhoAmI(ctx)
		var identity checkResult
		identity, who = inspectReviewerIdentity(user, err, client.Credential())
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
			perm: permNamespaces, applies: len(usage.withSelector) > 0,
			notApplies: "no role uses bound_service_account_namespace_selector, so namespaces are never read",
			data:       map[string]any{"roles_with_selector": firstN(usage.withSelector, 10), "roles_with_selector_count": len(usage.withSelector)},
		},
		{
			perm: permServiceAccounts, applies: cfg.UseAnnotationsAsAliasMetadata || len(usage.boundToWorkload) > 0,
			notApplies: "use_annotations_as_alias_metadata is false and no role uses token_bound_to_workload, so service accounts are never read",
		},
		{
			perm: permPods, applies: len(usage.withPods) > 0,
			notApplies: "no role uses bound_pod_label_selector, bound_node_names or token_bound_to_workload, so pods are never read",
			data:       map[string]any{"roles_reading_pods": firstN(usage.withPods, 10), "roles_reading_pods_count": len(usage.withPods)},
		},
	} {
		var r checkResult
		switch {
		case !p.applies:
			r = skipped(p.perm.check, p.notApplies)
		case source == credentialLoginJWT:
			r = skipped(p.perm.check, selfReviewReason)
		case blocked != "":
			r = skipped(p.perm.check, blocked)
		default:
			status, err := client.MayI(ctx, p.perm.attrs)
			r = inspectPermission(p.perm, status, err, who)
		}
		for k, v := range p.data {
			if r.data == nil {
				r.data = map[string]any{}
			}
			r.data[k] = v
		}
		results = append(results, r)
	}

	// Discovery and the key set, read once for the checks that compare
	// them: with the reviewer credential, or without credentials when there
	// is none (clusters usually refuse that).
	selfReview := source == credentialLoginJWT
	hybridFetches := len(usage.hybrid) > 0 && !selfReview && (cfg.Issuer == "" || len(cfg.PEMKeys) == 0)
	var disc kube.Discovery
	var keys []kube.PublishedKey
	var discErr, keysErr error
	if blocked == "" {
		disc, discErr = client.Discovery(ctx)
		if len(cfg.PEMKeys) > 0 || hybridFetches {
			keys, keysErr = client.PublishedKeys(ctx)
		}
	}
	asker := client.Credential()
	if selfReview {
		asker = nil
	}

	switch {
	case blocked != "":
		results = append(results, skipped(checkNameIssuer, blocked))
	case discErr != nil:
		results = append(results, skipped(checkNameIssuer, discoveryUnavailable("its OIDC discovery document", discErr, asker)))
	default:
		results = append(results, inspectIssuer(cfg, disc))
	}
	switch {
	case len(cfg.PEMKeys) == 0:
		results = append(results, skipped(checkNamePEMKeys, "pem_keys is not set: signatures are checked by the TokenReview alone"))
	case blocked != "":
		results = append(results, skipped(checkNamePEMKeys, blocked))
	case keysErr != nil:
		results = append(results, skipped(checkNamePEMKeys, discoveryUnavailable("its service-account key set", keysErr, asker)))
	default:
		results = append(results, inspectPEMKeys(st.keys, keys))
	}
	switch {
	case len(usage.hybrid) == 0:
		results = append(results, skipped(checkNameClusterKeys, "no role uses review_mode=hybrid, so the cluster's keys are never fetched"))
	case cfg.Issuer != "" && len(cfg.PEMKeys) > 0:
		results = append(results, skipped(checkNameClusterKeys, "review_mode=hybrid roles verify with the configured issuer and pem_keys; nothing is fetched"))
	case blocked != "" && !selfReview:
		results = append(results, skipped(checkNameClusterKeys, blocked))
	default:
		held, _ := st.clusterKeys.status()
		r := inspectClusterKeys(firstN(usage.hybrid, 10), cfg, selfReview, disc, discErr, keys, keysErr, who, held)
		r.data["hybrid_roles_count"] = len(usage.hybrid)
		results = append(results, r)
	}
	return results
}

// trustedCACerts are the CA certificates the client trusts, read as the
// client reads them; none for the system trust store.
func (b *backend) trustedCACerts(cfg *kubeConfig) ([]*x509.Certificate, error) {
	bundle, _, err := b.effectiveCA(cfg)
	if err != nil || bundle == "" {
		return nil, err
	}
	return satoken.ParseCABundle(bundle, satoken.Stored)
}

// firstN is at most the first n of s, never nil (a JSON list, not null).
func firstN(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return append([]string{}, s...)
}

const configCheckHelp = `
Reads the stored config and checks it against the live cluster, changing
nothing: the API server is reachable and its certificate verifies with the
configured CA (and when that CA expires), the round trip, the clock skew
between Vault and the API server, which reviewer credential is in use, who
Kubernetes says it is and when it expires, whether it may create TokenReviews
and (when roles or the config need it) get namespaces and service accounts,
the issuer the cluster announces against issuer and disable_iss_validation,
pem_keys against the cluster's published keys, and (for review_mode=hybrid
roles) whether the cluster's issuer and keys can be read and how old the
plugin's own copy of the keys is (stale, it no longer vouches for tokens
alone). Each check is passed,
failed, warning or skipped (not applicable, or not possible because an
earlier check failed), with a one-sentence fix for each problem; verdict
sums them up in one line. The reviewer JWT is never returned.
`
