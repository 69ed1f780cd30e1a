package e2e

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
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
	m, mountUUID, builtinVersion := enableBuiltin(t)
	path := m.path

	// Set up with the built-in method, with every shape it stores: a
	// pem_keys entry of two PEM blocks (it uses the first), a CA bundle
	// with text after the certificate, a role written with the legacy
	// field names, and, put straight into its storage, a role as old
	// versions wrote it (legacy fields only) and one with alias_metadata
	// (which Vault's current method stores; this Vault's does not).
	m.configure(t, map[string]any{
		"pem_keys":           []string{stk.SAPubPEM + publicKeyPEM(t)},
		"kubernetes_ca_cert": stk.KubeCA + "\n# the apiserver's serving CA, copied from the cluster's kubeconfig\n",
	})
	w := stk.NewWorkload(t, "migrant", nil)
	m.bindRole(t, "migrant", w, map[string]any{"token_policies": "mig", "token_ttl": "5m"})
	m.bindRole(t, "legacy-names", w, map[string]any{
		"policies": "leg-b,leg-a", "ttl": "4m", "max_ttl": "1h", "num_uses": 6, "bound_cidrs": "127.0.0.1/32",
	})
	putStored(t, mountUUID, "role/old-version", map[string]any{
		"bound_service_account_names":      []string{w.SA.Name},
		"bound_service_account_namespaces": []string{w.Namespace},
		"policies":                         []string{"old-read"},
		"num_uses":                         0,
		"ttl":                              int64(3 * time.Minute),
		"max_ttl":                          int64(time.Hour),
		"period":                           0,
		"BoundCIDRs":                       []string{"127.0.0.1/32"},
	})
	tagged := stk.NewWorkload(t, "tagged", nil) // logs in first after the switch: a new entity alias
	putStored(t, mountUUID, "role/alias-meta", storedRole(tagged, map[string]any{
		"token_policies": []string{"tagged"},
		"alias_metadata": map[string]string{"team": "payments"},
	}))
	before := m.mustLogin(t, "migrant", vaultToken(t, w))
	oldToken := before.Str("client_token")
	builtinReads := map[string]map[string]any{}
	for _, p := range []string{"config", "role/migrant", "role/legacy-names", "role/old-version", "role/alias-meta"} {
		builtinReads[p] = readJSON(t, "auth/"+path+"/"+p)
	}
	for _, role := range []string{"legacy-names", "old-version"} {
		m.mustLogin(t, role, vaultToken(t, w))
	}

	// Switch the mount to the plugin. Registering under the built-in's
	// name with a version shadows nothing: mounts that pin no version keep
	// the built-in.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	registerAsKubernetes(ctx, t)
	switchMount(ctx, t, m, stk.pluginVersion)
	r := root(t, http.MethodGet, "sys/auth/"+path, nil)
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

	// Every read is the built-in method's, but for alias_metadata, which
	// this Vault's built-in method lacks.
	for p, b := range builtinReads {
		var diffs []difference
		if strings.HasPrefix(p, "role/") {
			md := map[string]any{}
			if p == "role/alias-meta" {
				md["team"] = "payments"
			}
			diffs = allowed(t, map[string]any{"alias_metadata": md})
		}
		compareReads(t, p+" read by the plugin", b, readJSON(t, "auth/"+path+"/"+p), diffs...)
	}

	// Every stored shape logs in, with its settings.
	a := m.mustLogin(t, "legacy-names", vaultToken(t, w))
	if got := a.Strs("token_policies"); !slices.Equal(got, []string{"default", "leg-a", "leg-b"}) ||
		a.Num("lease_duration") != 240 || a.Num("num_uses") != 6 {
		t.Errorf("role legacy-names after the switch: %v", a)
	}
	a = m.mustLogin(t, "old-version", vaultToken(t, w))
	if got := a.Strs("token_policies"); !slices.Equal(got, []string{"default", "old-read"}) || a.Num("lease_duration") != 180 {
		t.Errorf("role old-version after the switch: %v", a)
	}
	if got := entityAlias(t, m, a.Str("entity_id")).Str("name"); got != string(w.SA.UID) {
		t.Errorf("role old-version (no alias_name_source): alias name %q, want the UID %s", got, w.SA.UID)
	}
	a = m.mustLogin(t, "alias-meta", vaultToken(t, tagged))
	if got := entityAlias(t, m, a.Str("entity_id")).StringMap("custom_metadata"); !maps.Equal(got, map[string]string{"team": "payments"}) {
		t.Errorf("role alias-meta: entity alias custom_metadata %v, want team=payments", got)
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

	// A role the plugin writes is one the built-in method reads back; so
	// is one in hybrid mode, whose young tokens the plugin verifies without
	// a TokenReview (for up to an hour after their service account is
	// deleted, as this role says).
	m.bindRole(t, "written-by-plugin", w, map[string]any{"token_policies": "from-plugin", "alias_name_source": "serviceaccount_name"})
	doomed := stk.NewWorkload(t, "doomed", nil)
	m.bindRole(t, "storm", doomed, map[string]any{"review_mode": "hybrid", "review_cache_ttl": "5m", "local_max_token_age": "1h"})
	stormJWT := vaultToken(t, doomed)
	m.mustLogin(t, "storm", stormJWT)
	// A role bound to a pod that does not exist: the plugin refuses every
	// login through it; the built-in method ignores the pod fields.
	m.bindRole(t, "pod-bound", w, map[string]any{"bound_pod_names": "no-such-pod", "token_bound_to_workload": true})
	realstack.ExpectDenied(t, m.login(t, "pod-bound", vaultToken(t, w)))
	switchMount(ctx, t, m, builtinVersion)
	a = m.mustLogin(t, "written-by-plugin", vaultToken(t, w))
	if got := a.Strs("token_policies"); !slices.Equal(got, []string{"default", "from-plugin"}) {
		t.Errorf("built-in login with the plugin's role: token_policies %q, want [default from-plugin]", got)
	}
	if got := entityAlias(t, m, a.Str("entity_id")).Str("name"); got != w.Namespace+"/"+w.SA.Name {
		t.Errorf("built-in alias name for the plugin's role = %q, want %s/%s", got, w.Namespace, w.SA.Name)
	}

	m.mustLogin(t, "pod-bound", vaultToken(t, w))
	podRole := readJSON(t, "auth/"+path+"/role/pod-bound")
	for _, k := range []string{"bound_pod_names", "token_bound_to_workload"} {
		if _, ok := podRole[k]; ok {
			t.Errorf("the built-in method reads %s of the plugin's role: %v", k, podRole)
		}
	}

	// Switched back, the review settings are ignored: the built-in method
	// reads the role without them and reviews every login, so the deleted
	// service account is refused once the apiserver stops accepting its
	// token, not an hour later.
	stormRole := readJSON(t, "auth/"+path+"/role/storm")
	for _, k := range []string{"review_mode", "review_cache_ttl", "local_max_token_age"} {
		if _, ok := stormRole[k]; ok {
			t.Errorf("the built-in method reads %s of the plugin's role: %v", k, stormRole)
		}
	}
	m.mustLogin(t, "storm", stormJWT)
	deleteServiceAccount(t, doomed.Namespace, doomed.SA.Name)
	eventuallyDenied(t, m, "storm", stormJWT, time.Now())
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

// putStored writes an entry straight into an auth mount's storage through
// sys/raw (enabled in Vault's dev mode), as an older version would have
// left it. The plugin reads it when the mount next loads.
func putStored(t *testing.T, mountUUID, key string, entry map[string]any) {
	t.Helper()
	if mountUUID == "" {
		t.Fatal("the mount's uuid is unknown")
	}
	b, err := json.Marshal(entry)
	if err != nil {
		t.Fatal(err)
	}
	expectOK(t, root(t, http.MethodPost, "sys/raw/auth/"+mountUUID+"/"+key, map[string]any{"value": string(b)}))
}

// storedRole is a role binding w as Vault's current method stores one
// written with the token_* names, with the given fields replaced.
func storedRole(w realstack.Workload, fields map[string]any) map[string]any {
	role := map[string]any{
		"token_bound_cidrs": nil, "token_explicit_max_ttl": 0, "token_max_ttl": 0,
		"token_no_default_policy": false, "token_num_uses": 0, "token_period": 0,
		"token_policies": []string{}, "token_type": 0, "token_ttl": 0, "alias_metadata": map[string]string{},
		"bound_service_account_names":              []string{w.SA.Name},
		"bound_service_account_namespaces":         []string{w.Namespace},
		"bound_service_account_namespace_selector": "",
		"audience":          "vault",
		"alias_name_source": "serviceaccount_uid",
		"policies":          nil, "num_uses": 0, "ttl": 0, "max_ttl": 0, "period": 0, "BoundCIDRs": nil,
	}
	maps.Copy(role, fields)
	return role
}

// registerAsKubernetes registers the plugin under the built-in method's
// name, with a version, so a built-in mount can be switched to it; the
// registration goes when the test ends, since registered under that name
// the plugin would be what new mounts of type kubernetes get (see
// enableBuiltin).
func registerAsKubernetes(ctx context.Context, t *testing.T) {
	t.Helper()
	err := stk.root.Sys().RegisterPluginWithContext(ctx, &vault.RegisterPluginInput{
		Name: "kubernetes", Type: vault.PluginTypeCredential, Command: pluginName,
		SHA256: stk.pluginSHA, Version: stk.pluginVersion,
	})
	if err != nil {
		t.Fatalf("registering the plugin as kubernetes %s: %v", stk.pluginVersion, err)
	}
	t.Cleanup(func() {
		_ = stk.root.Sys().DeregisterPluginWithContext(context.Background(), &vault.DeregisterPluginInput{
			Name: "kubernetes", Type: vault.PluginTypeCredential, Version: stk.pluginVersion,
		})
	})
}
