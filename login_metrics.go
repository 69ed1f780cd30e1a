package kubeauth

import (
	"slices"
	"strings"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/metrics"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
)

// newMetrics returns a mount's metrics, labeled with this package's reason
// codes and fault kinds.
func newMetrics() *metrics.Metrics {
	return metrics.New(metrics.Vocabulary{Reasons: refusal.ReasonCodes, FaultKinds: refusal.FaultKinds})
}

// countLogin records how a login ended, classified as loginFailed answers
// it. Only a role that exists names a series, by its stored (lower-cased)
// name: the login path is unauthenticated, and a caller sending made-up
// role names, or one name in every case, must not create series.
func (b *backend) countLogin(a *attempt, o refusal.Outcome) {
	role := ""
	if a.role != nil {
		role = strings.ToLower(a.roleName)
	}
	// nil until the cluster step has chosen; a cluster deleted since
	// counts nothing.
	var cluster *metrics.Cluster
	if a.cluster != "" && a.state != nil {
		cluster = a.state.metrics
	}
	switch o.Class {
	case refusal.Passed:
		b.metrics.LoginSucceeded(role, cluster)
	case refusal.Refused:
		b.metrics.LoginRefused(role, cluster, o.Code)
	case refusal.Malformed:
		b.metrics.LoginInvalid(role, cluster)
	default:
		b.metrics.LoginFaulted(role, cluster, o.Code)
	}
}

// cacheSizes is what kubeauth_cache_entries reads at each scrape: the
// review and namespace caches of every cluster whose state the mount holds
// (built by a login or a config write, and not replaced since), and the
// mount's login-limit buckets. It holds b.mu only to list the states, and
// each cache's own lock only to count it.
func (b *backend) cacheSizes() []metrics.CacheSize {
	type held struct {
		name  string
		state *liveCluster
	}
	b.mu.Lock()
	states := make([]held, 0, len(b.slots))
	for name, slot := range b.slots {
		if slot.state != nil {
			states = append(states, held{name, slot.state})
		}
	}
	b.mu.Unlock()
	slices.SortFunc(states, func(x, y held) int { return strings.Compare(x.name, y.name) })
	sizes := make([]metrics.CacheSize, 0, 2*len(states)+1)
	for _, h := range states {
		sizes = append(sizes,
			metrics.CacheSize{Cache: metrics.CacheReviews, Cluster: h.name, Entries: h.state.reviews.Len()},
			metrics.CacheSize{Cache: metrics.CacheNamespaces, Cluster: h.name, Entries: h.state.namespaces.Len()})
	}
	return append(sizes, metrics.CacheSize{Cache: metrics.CacheLoginLimits, Entries: b.loginLimits.Len()})
}
