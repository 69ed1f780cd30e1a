package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// An annotation may not set the alias metadata key cluster, on a mount
// with config alone (where the plugin sets no cluster key) as on any
// other: the login is a 400 naming the annotation, as for the other keys
// the plugin sets.
func TestAliasMetadataClusterAnnotationRefused(t *testing.T) {
	t.Parallel()
	m := newMount(t)
	m.configure(t, map[string]any{"use_annotations_as_alias_metadata": true})
	ns := stk.NewNamespace(t, nil)
	sa := stk.NewServiceAccount(t, ns, "poser", map[string]string{
		"vault.hashicorp.com/alias-metadata-cluster": "prod",
		"vault.hashicorp.com/alias-metadata-team":    "payments",
	})
	w := realstack.Workload{Namespace: ns, SA: sa}
	m.bindRole(t, "poser", w, nil)
	r := m.login(t, "poser", vaultToken(t, w))
	expectBadRequest(t, r, "vault.hashicorp.com/alias-metadata-cluster", `reserved alias metadata key "cluster"`)
}

// A role name that no role can have (a parent reference, which Vault's
// storage refuses as a key, or 18 KiB) is a 400 naming role, from a real
// Vault, and the plugin logs nothing for it: no internal fault quoting the
// name.
func TestLoginRoleNameNotARoleName(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "app", nil)
	jwt := vaultToken(t, w)
	marker := realstack.UniqueName(t, "r")
	names := []string{marker + "..x", "../" + marker, marker + strings.Repeat("a", 18<<10)}
	for _, name := range names {
		r := m.login(t, name, jwt)
		expectBadRequest(t, r, "role: ")
		if len(r.String()) > 4<<10 {
			t.Errorf("the 400 for a %d-byte role name is %d bytes", len(name), len(r.String()))
		}
	}

	// A refusal logged after them: once its line is in Vault's log, a
	// line of theirs would be too (one pipe, in order).
	after := marker + "-after"
	m.bindRole(t, after, w, map[string]any{"audience": "not-vault"})
	realstack.ExpectDenied(t, m.login(t, after, jwt))
	realstack.WaitForLog(t, stk.VaultLogPath(), 10*time.Second, "login refused", "role="+after, "reason=audience_mismatch")
	if realstack.LogHasLine(t, stk.VaultLogPath(), marker+"..") || realstack.LogHasLine(t, stk.VaultLogPath(), "../"+marker) ||
		realstack.LogHasLine(t, stk.VaultLogPath(), marker+"aaaa") {
		t.Errorf("Vault's log has a line quoting a role name that is no role name")
	}
	if realstack.LogHasLine(t, stk.VaultLogPath(), "kind=internal", marker) {
		t.Errorf("Vault's log has an internal fault for %s", marker)
	}
}
