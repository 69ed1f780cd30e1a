package targets

import (
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/fixture"
)

// RoleSettings are the review fields of this plugin's roles that the
// command line sets.
type RoleSettings struct {
	ReviewCacheTTL   time.Duration // plugin-cached and plugin-hybrid
	LocalMaxTokenAge time.Duration // plugin-hybrid
}

// Role is the role written to a target's mount: the same for every
// kubernetes method (every workload account of the namespace, audience
// vault, batch tokens), plus the review fields of this plugin's modes.
func Role(t Target, rs RoleSettings) map[string]any {
	role := map[string]any{
		"bound_service_account_names":      fixture.WorkloadSAPrefix + "*",
		"bound_service_account_namespaces": fixture.Namespace,
		"audience":                         fixture.Audience,
		"token_policies":                   fixture.WorkloadPolicy,
		"token_ttl":                        int(fixture.TokenTTL.Seconds()),
		"token_type":                       fixture.TokenType,
	}
	switch t.ReviewMode {
	case "":
	case "cached":
		role["review_mode"] = t.ReviewMode
		role["review_cache_ttl"] = int(rs.ReviewCacheTTL.Seconds())
	default:
		role["review_mode"] = t.ReviewMode
		role["review_cache_ttl"] = int(rs.ReviewCacheTTL.Seconds())
		role["local_max_token_age"] = int(rs.LocalMaxTokenAge.Seconds())
	}
	return role
}
