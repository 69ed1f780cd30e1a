package kubeauth

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/clusterkeys"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/diagnose"
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
	return b.diagnoseCluster(ctx, req, defaultCluster)
}

// diagnoseCluster holds one cluster's stored config against the live cluster,
// with what the roles that accept its tokens need of it.
func (b *backend) diagnoseCluster(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	st, err := b.liveCluster(ctx, req.Storage, name)
	var results []diagnose.Result
	switch {
	case err == nil && st == nil && name == defaultCluster:
		return logical.ErrorResponse("config: the auth method is not configured; write config first"), nil
	case err == nil && st == nil:
		return logical.ErrorResponse(fmt.Sprintf("cluster %q does not exist; write cluster/%s first", name, name)), nil
	case err != nil:
		results = diagnose.Unusable(err)
	default:
		defer st.release()
		usage, err := b.roleUsage(ctx, req.Storage, name)
		if err != nil {
			return nil, err
		}
		results = diagnose.Run(ctx, b.diagnoseTarget(st), usage)
		if res, ok := diagnoseJWKSURL(ctx, st, usage); ok {
			results = append(results, res)
		}
	}
	if choice, ok, err := b.diagnoseClusterChoice(ctx, req.Storage, name); err != nil {
		return nil, err
	} else if ok {
		results = append(results, choice)
	}
	v := diagnose.Verdict(results)
	b.Logger().Debug("config check", "cluster", name, "verdict", v)
	checks := make([]map[string]any, len(results))
	for i, r := range results {
		checks[i] = r.Map()
	}
	return &logical.Response{Data: map[string]any{"verdict": v, "checks": checks}}, nil
}

// diagnoseClusterChoice is the cluster_choice check, only on a mount with
// named clusters (ok false on one with config alone, whose answer stays
// what it was).
func (b *backend) diagnoseClusterChoice(ctx context.Context, s logical.Storage, name string) (diagnose.Result, bool, error) {
	names, err := b.clusterNames(ctx, s)
	if err != nil || len(names) == 0 {
		return diagnose.Result{}, false, err
	}
	refs, err := b.mountClusters(ctx, s)
	if err != nil {
		return diagnose.Result{}, false, err
	}
	defer releaseClusters(refs)
	return clusterChoiceResult(ctx, name, refs, b.clusterWait), true, nil
}

// roleUsage is what the roles that accept the named cluster's tokens need.
func (b *backend) roleUsage(ctx context.Context, s logical.Storage, cluster string) (diagnose.Usage, error) {
	names, err := s.List(ctx, rolePrefix)
	if err != nil {
		return diagnose.Usage{}, fmt.Errorf("listing roles: %w", err)
	}
	var u diagnose.Usage
	for _, name := range names {
		r, err := b.roles.get(ctx, s, name)
		if err != nil {
			return diagnose.Usage{}, err
		}
		if r == nil || !r.bindsCluster(cluster) {
			continue // deleted since the list, or for other clusters
		}
		if r.ServiceAccountNamespaceSelector != "" {
			u.WithSelector = append(u.WithSelector, name)
		}
		if r.mode() == reviewHybrid {
			u.Hybrid = append(u.Hybrid, name)
		}
		if r.mode() == reviewLocal {
			u.Local = append(u.Local, name)
		}
		if r.readsPods() {
			u.WithPods = append(u.WithPods, name)
		}
		if r.TokenBoundToWorkload {
			u.BoundToWorkload = append(u.BoundToWorkload, name)
		}
		if r.AliasOwner {
			u.WithOwner = append(u.WithOwner, name)
		}
	}
	return u, nil
}

// diagnoseTarget is what config/check looks at for the cluster whose live
// state is st.
func (b *backend) diagnoseTarget(st *liveCluster) diagnose.Target {
	cfg := st.config
	certs, caErr := b.trustedCACerts(cfg)
	return diagnose.Target{
		Client: st.kube,
		Settings: diagnose.Settings{
			CACert:                        cfg.CACert != "",
			Issuer:                        cfg.Issuer,
			ExpectedIssuer:                cfg.expectedIssuer(),
			DisableISSValidation:          cfg.DisableISSValidation,
			PEMKeys:                       len(cfg.PEMKeys) > 0,
			UseAnnotationsAsAliasMetadata: cfg.UseAnnotationsAsAliasMetadata,
			Route:                         diagnose.Route{Proxy: redactedProxyURL(cfg.ProxyURL), ServerName: cfg.TLSServerName},
			ClientCert:                    clientLeaf(cfg),
			JWKSURL:                       cfg.JWKSURL != "",
		},
		PodCA:     st.podCA.exists,
		PodCAPath: b.localFiles.caPath(),
		CACerts:   certs,
		CAErr:     caErr,
		Keys:      st.keys,
		HeldKeys: func() clusterkeys.KeysStatus {
			held, _ := st.clusterKeys.status()
			return held
		},
		Now: b.now,
	}
}

// trustedCACerts are the CA certificates the client trusts, read as the
// client reads them; none for the system trust store.
func (b *backend) trustedCACerts(cfg *clusterConfig) ([]*x509.Certificate, error) {
	bundle, _, err := b.effectiveCA(cfg)
	if err != nil || bundle == "" {
		return nil, err
	}
	return satoken.ParseCABundle(bundle, satoken.Stored)
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
alone), and (with jwks_url) whether the key set there can be read, with
the credential the plugin would send, and holds a usable key. Each check is passed,
failed, warning or skipped (not applicable, or not possible because an
earlier check failed), with a one-sentence fix for each problem; verdict
sums them up in one line. The reviewer JWT is never returned.
`
