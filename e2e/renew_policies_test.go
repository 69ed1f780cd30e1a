package e2e

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// A periodic token renews only while its role grants the same policies:
// narrowing token_policies (or dropping the default policy) refuses the
// next renewal instead of leaving the token its old access for ever.
// Policies the token holds through an identity group are not the role's
// and do not count.
func TestRenewalPoliciesChanged(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "narrowed", nil)
	m.bindRole(t, "narrowed", w, map[string]any{"token_policies": "read,write", "token_period": "1h"})
	jwt := vaultToken(t, w)

	first := m.mustLogin(t, "narrowed", jwt)
	// The entity joins a group with a policy of its own; the next login's
	// token carries it besides the role's.
	group := realstack.UniqueName(t, "g")
	expectOK(t, root(t, http.MethodPost, "identity/group/name/"+group, map[string]any{
		"policies": []string{"from-group"}, "member_entity_ids": []string{first.Str("entity_id")},
	}))
	t.Cleanup(func() { root(t, http.MethodDelete, "identity/group/name/"+group, nil) })
	a := m.mustLogin(t, "narrowed", jwt)
	if ps := a.Strs("policies"); !slices.Contains(ps, "from-group") || !slices.Contains(ps, "write") {
		t.Fatalf("login policies %q, want the role's and the group's", ps)
	}
	tok := a.Str("client_token")
	renew := func() *realstack.Reply {
		return call(t, http.MethodPost, "auth/token/renew-self", tok, map[string]any{})
	}
	expectStatus(t, renew(), http.StatusOK)

	m.writeRole(t, "narrowed", map[string]any{"token_policies": "read"})
	r := renew()
	expectRenewRefused(t, r, "narrowed")
	if !strings.Contains(r.ErrorText(), "no longer match") {
		t.Fatalf("the refusal does not say the policies changed: %s", r)
	}
	t.Logf("renewal after narrowing: HTTP %d: %s", r.Status, r.ErrorText())

	m.writeRole(t, "narrowed", map[string]any{"token_policies": "write,read"})
	expectStatus(t, renew(), http.StatusOK)

	m.writeRole(t, "narrowed", map[string]any{"token_no_default_policy": true})
	expectRenewRefused(t, renew(), "narrowed")
}
