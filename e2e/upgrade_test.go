package e2e

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// The plugin is a drop-in replacement: a mount of Vault's built-in
// kubernetes method is switched to the plugin in place, the way Vault
// upgrades any plugin (register the same name with a version, tune the
// mount, reload), and everything the built-in method stored keeps working;
// then back again.
func TestUpgradeFromBuiltinAndBack(t *testing.T) {
	t.Parallel()
	path := realstack.UniqueName(t, "builtin")
	expectOK(t, root(t, http.MethodPost, "sys/auth/"+path, map[string]any{"type": "kubernetes"}))
	t.Cleanup(func() { root(t, http.MethodDelete, "sys/auth/"+path, nil) })
	r := root(t, http.MethodGet, "sys/auth/"+path, nil)
	expectStatus(t, r, http.StatusOK)
	builtinVersion := r.Data().Str("running_plugin_version")
	m := &mount{path: path, accessor: r.Data().Str("accessor")}

	// Set up with the built-in method.
	m.configure(t, nil)
	w := stk.NewWorkload(t, "migrant", nil)
	m.bindRole(t, "migrant", w, map[string]any{"token_policies": "mig", "token_ttl": "5m"})
	before := m.mustLogin(t, "migrant", vaultToken(t, w))
	oldToken := before.Str("client_token")

	// Switch the mount to the plugin. Registering under the built-in's
	// name with a version shadows nothing: mounts that pin no version keep
	// the built-in.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := stk.root.Sys().RegisterPluginWithContext(ctx, &vault.RegisterPluginInput{
		Name: "kubernetes", Type: vault.PluginTypeCredential, Command: pluginName,
		SHA256: stk.pluginSHA, Version: stk.pluginVersion,
	})
	if err != nil {
		t.Fatalf("registering the plugin as kubernetes %s: %v", stk.pluginVersion, err)
	}
	switchMount(ctx, t, m, stk.pluginVersion)
	r = root(t, http.MethodGet, "sys/auth/"+path, nil)
	if r.Data().Str("running_sha256") != stk.pluginSHA {
		t.Fatalf("after the switch auth/%s is not served by the plugin binary: %s", path, r)
	}

	// The built-in method's config and role, read by the plugin.
	r = root(t, http.MethodGet, "auth/"+path+"/config", nil)
	expectStatus(t, r, http.StatusOK)
	if r.Data().Str("kubernetes_host") != stk.KubeHost || r.Data()["token_reviewer_jwt_set"] != true {
		t.Errorf("the plugin does not read the built-in method's config: %s", r)
	}
	expectNoReviewerJWT(t, r)
	r = root(t, http.MethodGet, "auth/"+path+"/role/migrant", nil)
	expectStatus(t, r, http.StatusOK)
	if !slices.Equal(r.Data().Strs("token_policies"), []string{"mig"}) || r.Data().Num("token_ttl") != 300 ||
		r.Data().Str("audience") != "vault" || !slices.Equal(r.Data().Strs("bound_service_account_names"), []string{w.SA.Name}) {
		t.Errorf("the plugin does not read the built-in method's role: %s", r)
	}

	// Logins find the same entity; a token the built-in method issued
	// renews through the plugin.
	after := m.mustLogin(t, "migrant", vaultToken(t, w))
	if after.Str("entity_id") != before.Str("entity_id") {
		t.Errorf("after the switch the same service account has another entity: %s, was %s",
			after.Str("entity_id"), before.Str("entity_id"))
	}
	if got, want := after.StringMap("metadata"), before.StringMap("metadata"); !maps.Equal(got, want) {
		t.Errorf("token metadata differs: plugin %v, built-in %v", got, want)
	}
	expectStatus(t, call(t, http.MethodPost, "auth/token/renew-self", oldToken, map[string]any{}), http.StatusOK)

	// A role the plugin writes is one the built-in method reads back.
	m.bindRole(t, "written-by-plugin", w, map[string]any{"token_policies": "from-plugin", "alias_name_source": "serviceaccount_name"})
	switchMount(ctx, t, m, builtinVersion)
	a := m.mustLogin(t, "written-by-plugin", vaultToken(t, w))
	if got := a.Strs("token_policies"); !slices.Equal(got, []string{"default", "from-plugin"}) {
		t.Errorf("built-in login with the plugin's role: token_policies %q, want [default from-plugin]", got)
	}
	if got := entityAlias(t, m, a.Str("entity_id")).Str("name"); got != w.Namespace+"/"+w.SA.Name {
		t.Errorf("built-in alias name for the plugin's role = %q, want %s/%s", got, w.Namespace, w.SA.Name)
	}
}

// switchMount points an auth mount at a version of its plugin and reloads
// it, as `vault auth tune -plugin-version` and `vault plugin reload` do.
func switchMount(ctx context.Context, t *testing.T, m *mount, version string) {
	t.Helper()
	expectOK(t, root(t, http.MethodPost, "sys/auth/"+m.path+"/tune", map[string]any{"plugin_version": version}))
	if _, err := stk.root.Sys().ReloadPluginWithContext(ctx, &vault.ReloadPluginInput{Mounts: []string{"auth/" + m.path}}); err != nil {
		t.Fatalf("reloading auth/%s: %v", m.path, err)
	}
	r := root(t, http.MethodGet, "sys/auth/"+m.path, nil)
	expectStatus(t, r, http.StatusOK)
	if got := r.Data().Str("running_plugin_version"); got != version {
		t.Fatalf("auth/%s runs version %q after the reload, want %q", m.path, got, version)
	}
}
