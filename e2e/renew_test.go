package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// A token renews while its role exists and still binds its service account;
// the TTL comes from the role as it is at renewal time.
func TestRenewal(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "renewer", nil)
	m.bindRole(t, "renewer", w, map[string]any{"token_ttl": "2m", "token_max_ttl": "1h"})
	a := m.mustLogin(t, "renewer", vaultToken(t, w))
	tok := a.Str("client_token")
	renew := func() *realstack.Reply {
		return call(t, http.MethodPost, "auth/token/renew-self", tok, map[string]any{})
	}

	r := renew()
	expectStatus(t, r, http.StatusOK)
	if r.Auth().Str("client_token") != tok || r.Auth().Num("lease_duration") != 120 || r.Auth()["renewable"] != true {
		t.Errorf("renewal: want the same token for another 120 s, got %s", r)
	}

	m.writeRole(t, "renewer", map[string]any{"token_ttl": "3m"})
	r = renew()
	expectStatus(t, r, http.StatusOK)
	if got := r.Auth().Num("lease_duration"); got != 180 {
		t.Errorf("renewal after token_ttl=3m: lease_duration %d, want 180", got)
	}

	// The role no longer binds the service account: no renewal.
	m.writeRole(t, "renewer", map[string]any{"bound_service_account_names": "someone-else"})
	expectRenewRefused(t, renew(), "renewer")
	m.writeRole(t, "renewer", map[string]any{"bound_service_account_names": w.SA.Name})
	expectStatus(t, renew(), http.StatusOK)

	// The role is gone: no renewal, and the token keeps only what is left
	// of its current lease.
	expectStatus(t, root(t, http.MethodDelete, "auth/"+m.path+"/role/renewer", nil), http.StatusNoContent)
	expectRenewRefused(t, renew(), "renewer")
	r = call(t, http.MethodGet, "auth/token/lookup-self", tok, nil)
	expectStatus(t, r, http.StatusOK)
	if ttl := r.Data().Num("ttl"); ttl <= 0 || ttl > 180 {
		t.Errorf("after a refused renewal the token's ttl is %d, want what remained (1..180)", ttl)
	}
}

// expectRenewRefused checks a refused renewal. Vault's token store reports
// a backend's refusal to renew as HTTP 500 with the backend's message (so it
// does for the built-in kubernetes method); the message names the role.
func expectRenewRefused(t *testing.T, r *realstack.Reply, role string) {
	t.Helper()
	msg := strings.Join(r.Errors(), "\n")
	if r.Status != http.StatusInternalServerError || !strings.Contains(msg, "renewal refused") ||
		!strings.Contains(msg, `"`+role+`"`) {
		t.Fatalf("want HTTP 500 with the renewal refused for role %q, got %s", role, r)
	}
	if r.Auth() != nil {
		t.Fatalf("a refused renewal carries auth: %s", r)
	}
}
