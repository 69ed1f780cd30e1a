package e2e

import (
	"net/http"
	"testing"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// The recipe in docs/operations.md, "One role for every namespace": a
// single role for every namespace, and one policy templated on the entity
// alias's service_account_namespace, so each workload reads its own
// namespace's secrets and no other's, on a real Vault.
func TestOneRoleEveryNamespaceTemplatedPolicy(t *testing.T) {
	m := configuredMount(t)
	kv := realstack.UniqueName(t, "kv")
	expectOK(t, root(t, http.MethodPost, "sys/mounts/"+kv, map[string]any{"type": "kv"}))
	t.Cleanup(func() { root(t, http.MethodDelete, "sys/mounts/"+kv, nil) })

	policy := realstack.UniqueName(t, "per-ns")
	expectOK(t, root(t, http.MethodPut, "sys/policies/acl/"+policy, map[string]any{"policy": `
path "` + kv + `/{{identity.entity.aliases.` + m.accessor + `.metadata.service_account_namespace}}/*" {
  capabilities = ["read"]
}`}))
	t.Cleanup(func() { root(t, http.MethodDelete, "sys/policies/acl/"+policy, nil) })
	m.writeRole(t, "every-namespace", map[string]any{
		"bound_service_account_names":      "*",
		"bound_service_account_namespaces": "*",
		"audience":                         "vault",
		"token_policies":                   policy,
	})

	a, b := stk.NewWorkload(t, "app", nil), stk.NewWorkload(t, "app", nil)
	for _, w := range []realstack.Workload{a, b} {
		expectOK(t, root(t, http.MethodPost, kv+"/"+w.Namespace+"/config", map[string]any{"owner": w.Namespace}))
	}
	tokenA := m.mustLogin(t, "every-namespace", vaultToken(t, a)).Str("client_token")
	tokenB := m.mustLogin(t, "every-namespace", vaultToken(t, b)).Str("client_token")

	for _, c := range []struct {
		token, ns string
		want      int
	}{
		{tokenA, a.Namespace, http.StatusOK},
		{tokenA, b.Namespace, http.StatusForbidden},
		{tokenB, b.Namespace, http.StatusOK},
		{tokenB, a.Namespace, http.StatusForbidden},
	} {
		r := call(t, http.MethodGet, kv+"/"+c.ns+"/config", c.token, nil)
		expectStatus(t, r, c.want)
		if c.want == http.StatusOK && r.Data().Str("owner") != c.ns {
			t.Fatalf("read %s/config: %s", c.ns, r)
		}
	}
}
