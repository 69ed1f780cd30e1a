package kubeauth

import (
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
