package kubeauth

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/policyutil"
	"github.com/hashicorp/vault/sdk/logical"
)

// pathLoginRenew renews a token only while its role exists, grants exactly
// the token's policies (a narrowed role must not leave a periodic token its
// old access), still binds the token's service account and, with
// token_bound_to_workload, while the workload still exists; the TTLs come
// from the role as it is now.
func (b *backend) pathLoginRenew(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	if req.Auth == nil {
		return nil, errors.New("renewal request carries no auth")
	}
	roleName, _ := req.Auth.InternalData[metaRole].(string)
	if roleName == "" {
		return nil, errors.New("renewal refused: the token does not name its role")
	}
	role, err := b.roles.get(ctx, req.Storage, roleName)
	if err != nil {
		return nil, err
	}
	if role == nil {
		return nil, fmt.Errorf("renewal refused: role %q no longer exists", roleName)
	}
	if have, want := renewedPolicies(req.Auth), rolePolicies(role); !slices.Equal(have, want) {
		return nil, fmt.Errorf("renewal refused: the token's policies %q no longer match role %q's policies %q; log in again to get the role's current policies", have, roleName, want)
	}
	cluster, err := b.renewedCluster(ctx, req.Storage, req.Auth, roleName, role)
	if err != nil {
		return nil, err
	}
	name, namespace := req.Auth.Metadata[metaSAName], req.Auth.Metadata[metaSANamespace]
	if err := b.checkStillBound(ctx, req.Storage, role, cluster, namespace, name); err != nil {
		var ref *refusal
		if errors.As(err, &ref) {
			return nil, fmt.Errorf("renewal refused: role %q no longer binds service account %s/%s: %s", roleName, namespace, name, ref.detail)
		}
		return nil, err
	}
	if role.TokenBoundToWorkload {
		if err := b.checkWorkload(ctx, req.Storage, cluster, req.Auth.Metadata); err != nil {
			return nil, fmt.Errorf("renewal refused: role %q binds tokens to their workload (token_bound_to_workload): %w", roleName, err)
		}
	}

	resp := &logical.Response{Auth: req.Auth}
	resp.Auth.TTL = role.TokenTTL
	resp.Auth.MaxTTL = role.TokenMaxTTL
	resp.Auth.Period = role.TokenPeriod
	return resp, nil
}

// renewedCluster is the cluster the token's login came from (recorded only
// on mounts with named clusters; else the default one), which the role must
// still accept and, for a named cluster, the mount still have.
func (b *backend) renewedCluster(ctx context.Context, s logical.Storage, auth *logical.Auth, roleName string, role *roleEntry) (string, error) {
	cluster, _ := auth.InternalData[metaCluster].(string)
	if cluster == "" {
		cluster = defaultCluster
	}
	if !role.bindsCluster(cluster) {
		return "", fmt.Errorf("renewal refused: role %q no longer accepts tokens from cluster %q (bound_clusters %q)",
			roleName, cluster, role.boundClusters())
	}
	if cluster == defaultCluster {
		return cluster, nil
	}
	cfg, err := loadClusterConfig(ctx, s, cluster)
	if err != nil {
		return "", err
	}
	if cfg == nil {
		return "", fmt.Errorf("renewal refused: cluster %q no longer exists", cluster)
	}
	return cluster, nil
}

// rolePolicies are the token policies a login with the role gets now, as
// Vault records them: lower-cased, with "default" unless
// token_no_default_policy, sorted.
func rolePolicies(r *roleEntry) []string {
	return normalizePolicies(r.TokenPolicies, !r.TokenNoDefaultPolicy)
}

// renewedPolicies are the token policies of the token being renewed, in the
// same form. Vault hands back what it recorded at login: TokenPolicies, and
// Policies, which adds the entity's identity policies (IdentityPolicies).
// TokenPolicies is empty for a token without token policies, and for tokens
// from Vault versions that recorded Policies alone, hence the fallback.
func renewedPolicies(auth *logical.Auth) []string {
	policies := auth.TokenPolicies
	if len(policies) == 0 {
		policies = slices.DeleteFunc(slices.Clone(auth.Policies), func(p string) bool {
			return slices.Contains(auth.IdentityPolicies, p)
		})
	}
	return normalizePolicies(policies, !auth.NoDefaultPolicy)
}

func normalizePolicies(policies []string, addDefault bool) []string {
	out := policyutil.SanitizePolicies(slices.Clone(policies), addDefault)
	slices.Sort(out)
	return out
}

// checkStillBound re-applies the role's bindings at renewal. Only a
// namespace selector needs Kubernetes, and then a reviewer credential,
// since the login JWT is long gone.
func (b *backend) checkStillBound(ctx context.Context, s logical.Storage, role *roleEntry, cluster, namespace, name string) error {
	if err := checkServiceAccountName(role, name); err != nil {
		return err
	}
	if namespaceBoundByGlob(role, namespace) || role.ServiceAccountNamespaceSelector == "" {
		return checkNamespace(ctx, role, nil, "", namespace)
	}
	state, err := b.clusterState(ctx, s, cluster)
	if err != nil {
		return err
	}
	if state == nil {
		return fmt.Errorf("renewal refused: cluster %q is not configured", cluster)
	}
	defer state.release()
	if !state.hasReviewer() {
		return errors.New("renewal refused: the namespace selector cannot be re-checked without a reviewer credential (token_reviewer_jwt)")
	}
	return checkNamespace(ctx, role, state.kube, "", namespace)
}
