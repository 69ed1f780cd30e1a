package kubeauth

import (
	"testing"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
)

// The source_address step judges the explain request's own address, and
// its answer says so, passed or refused: it is not the workload's.
func TestExplainSaysWhoseAddress(t *testing.T) {
	e := configured(t)
	for _, tc := range []struct {
		cidrs, outcome, reason string
	}{
		{"10.0.0.0/8", outcomePassed, ""},
		{"192.168.0.0/16", outcomeRefused, refusal.ReasonCIDR},
	} {
		e.writeRole(testRole, map[string]any{"token_bound_cidrs": tc.cidrs})
		out, _ := e.explain(testRole, e.token())
		requireStep(t, out, "source_address", tc.outcome, tc.reason, "the address of this explain request, not the workload's")
	}
}
