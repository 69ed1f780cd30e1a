package e2e

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// The plugin's reads are the built-in method's reads: the same config and
// roles written through a mount of Vault's own kubernetes method and through
// a mount of the plugin read back with the same keys, the same values and
// the same JSON types, so Terraform's vault provider and scripts that parse
// reads see no drift after a switch. The only differences allowed are the
// deliberate ones, listed here and in README.md ("Differences from the
// built-in method").

// absent stands for a key a read does not carry.
var absent = &struct{ absent bool }{true}

// difference is a deliberate difference between the two reads of one key.
type difference struct {
	key     string
	builtin any // what the built-in method returns (absent: no such key)
	plugin  any // what the plugin returns
}

// Every deliberate difference a read may show, by the README's name for it.
var deliberateDifferences = map[string]func(plugin any) difference{
	// Vault 1.21.1's built-in method (v0.23.1, on the community edition of
	// SDK v0.20.0) has no alias_metadata: writes ignore it and reads lack
	// it. The plugin has it, as Vault's current method (SDK v0.24.0) does.
	"alias_metadata": func(plugin any) difference {
		return difference{key: "alias_metadata", builtin: absent, plugin: plugin}
	},
	// The review settings are the plugin's own: the built-in method ignores
	// them on write (with a warning) and has none to read. The plugin reads
	// them only for a role that sets one.
	"review_mode": func(plugin any) difference {
		return difference{key: "review_mode", builtin: absent, plugin: plugin}
	},
	"review_cache_ttl": func(plugin any) difference {
		return difference{key: "review_cache_ttl", builtin: absent, plugin: plugin}
	},
	"local_max_token_age": func(plugin any) difference {
		return difference{key: "local_max_token_age", builtin: absent, plugin: plugin}
	},
	// A role update changes only the fields it sends; the built-in method
	// clears the namespace selector of every update that does not send it.
	"update keeps the selector": func(plugin any) difference {
		return difference{key: "bound_service_account_namespace_selector", builtin: "", plugin: plugin}
	},
}

// allowed names the deliberate differences one comparison may show.
func allowed(t *testing.T, plugin map[string]any) []difference {
	t.Helper()
	var out []difference
	for name, v := range plugin {
		d, ok := deliberateDifferences[name]
		if !ok {
			t.Fatalf("%q is not a listed deliberate difference", name)
		}
		out = append(out, d(v))
	}
	return out
}

// readJSON reads a path as generic JSON.
func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	r := root(t, http.MethodGet, path, nil)
	expectStatus(t, r, http.StatusOK)
	return r.Data()
}

// compareReads checks two reads key by key and value by value; a key may
// differ only as one of diffs says, and then exactly so.
func compareReads(t *testing.T, what string, builtin, plugin map[string]any, diffs ...difference) {
	t.Helper()
	expected := map[string]difference{}
	for _, d := range diffs {
		expected[d.key] = d
	}
	keys := slices.Sorted(maps.Keys(builtin))
	for k := range plugin {
		if _, ok := builtin[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		b, bOK := builtin[k]
		p, pOK := plugin[k]
		if d, ok := expected[k]; ok {
			if !sameValue(b, bOK, d.builtin) || !sameValue(p, pOK, d.plugin) {
				t.Errorf("%s: %s is built-in %s, plugin %s; the listed difference is built-in %s, plugin %s",
					what, k, show(b, bOK), show(p, pOK), show(d.builtin, d.builtin != absent), show(d.plugin, d.plugin != absent))
			}
			continue
		}
		if bOK != pOK || !reflect.DeepEqual(b, p) {
			t.Errorf("%s: %s is built-in %s, plugin %s", what, k, show(b, bOK), show(p, pOK))
		}
	}
}

func sameValue(v any, present bool, want any) bool {
	if want == absent {
		return !present
	}
	return present && reflect.DeepEqual(v, want)
}

func show(v any, present bool) string {
	if !present {
		return "(no such key)"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// publicKeyPEM is the PKIX PEM of a fresh RSA key that signs nothing.
func publicKeyPEM(t *testing.T) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&newRSAKey(t).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// builtinMount enables Vault's own kubernetes method at a fresh path.
func builtinMount(t *testing.T) *mount {
	t.Helper()
	m, _, _ := enableBuiltin(t)
	return m
}

// enableBuiltin enables Vault's own kubernetes method at a fresh path and
// returns the mount, its UUID and the built-in's version. Vault gives a new mount of type
// kubernetes the newest registered version of a plugin of that name, so
// this works only while no test has registered the plugin as "kubernetes"
// (TestUpgradeFromBuiltinAndBack does, and removes it when done): tests that
// call it run before the parallel tests, or are that test.
func enableBuiltin(t *testing.T) (*mount, string, string) {
	t.Helper()
	path := realstack.UniqueName(t, "builtin")
	expectOK(t, root(t, http.MethodPost, "sys/auth/"+path, map[string]any{"type": "kubernetes"}))
	t.Cleanup(func() { root(t, http.MethodDelete, "sys/auth/"+path, nil) })
	r := root(t, http.MethodGet, "sys/auth/"+path, nil)
	expectStatus(t, r, http.StatusOK)
	if !strings.HasSuffix(r.Data().Str("running_plugin_version"), "+builtin") {
		t.Fatalf("auth/%s is not the built-in method: %s", path, r)
	}
	return &mount{path: path, accessor: r.Data().Str("accessor")}, r.Data().Str("uuid"), r.Data().Str("running_plugin_version")
}

// Not parallel: see enableBuiltin.
func TestReadsMatchBuiltin(t *testing.T) {
	builtin, plugin := builtinMount(t), newMount(t)
	other := publicKeyPEM(t)

	configs := []struct {
		name string
		body map[string]any
	}{
		{"reviewer, CA as a file, pem_keys, issuer", stk.ReviewerConfig(map[string]any{
			"pem_keys": []string{stk.SAPubPEM, other}, "issuer": stk.SAIssuer, "disable_iss_validation": false,
		})},
		{"pem_keys as one comma-separated string, annotations", stk.ReviewerConfig(map[string]any{
			"pem_keys": stk.SAPubPEM + "," + other, "use_annotations_as_alias_metadata": true,
		})},
		{"host only", map[string]any{"kubernetes_host": stk.KubeHost, "disable_local_ca_jwt": true}},
	}
	for _, c := range configs {
		for _, m := range []*mount{builtin, plugin} {
			expectOK(t, root(t, http.MethodPost, "auth/"+m.path+"/config", c.body))
		}
		compareReads(t, "config ("+c.name+")",
			readJSON(t, "auth/"+builtin.path+"/config"), readJSON(t, "auth/"+plugin.path+"/config"))
	}

	type write struct {
		body    map[string]any
		differs map[string]any // deliberate differences after this write, by name, with the plugin's value
	}
	roles := []struct {
		name   string
		writes []write
	}{
		{"every token field", []write{{body: map[string]any{
			"bound_service_account_names":      "api,worker-*",
			"bound_service_account_namespaces": []string{"shop", "team-*"},
			"audience":                         "vault",
			"alias_name_source":                "serviceaccount_name",
			"token_policies":                   "zeta,Alpha,zeta",
			"token_ttl":                        "1h",
			"token_max_ttl":                    7200,
			"token_explicit_max_ttl":           "3h",
			"token_bound_cidrs":                "10.0.0.0/8,127.0.0.1",
			"token_num_uses":                   3,
			"token_type":                       "service",
			"token_no_default_policy":          true,
		}, differs: map[string]any{"alias_metadata": map[string]any{}}}}},
		{"legacy field names", []write{{body: map[string]any{
			"bound_service_account_names":      "app",
			"bound_service_account_namespaces": "default",
			"audience":                         "vault",
			"policies":                         "b,A",
			"ttl":                              "5m",
			"max_ttl":                          "1h",
			"period":                           "2m",
			"num_uses":                         4,
			"bound_cidrs":                      "127.0.0.1/32",
		}, differs: map[string]any{"alias_metadata": map[string]any{}}}}},
		{"selector only, no audience", []write{{body: map[string]any{
			"bound_service_account_names":              "*",
			"bound_service_account_namespace_selector": "matchLabels:\n  team: payments\n",
			"token_type": "batch",
		}, differs: map[string]any{"alias_metadata": map[string]any{}}}}},
		{"alias_metadata sent", []write{{body: map[string]any{
			"bound_service_account_names":      "app",
			"bound_service_account_namespaces": "default",
			"audience":                         "vault",
			"alias_metadata":                   map[string]any{"team": "payments"},
		}, differs: map[string]any{"alias_metadata": map[string]any{"team": "payments"}}}}},
		{"review settings", []write{{body: map[string]any{
			"bound_service_account_names":      "app",
			"bound_service_account_namespaces": "default",
			"audience":                         "vault",
			"review_mode":                      "hybrid",
			"review_cache_ttl":                 "30s",
		}, differs: map[string]any{
			"alias_metadata": map[string]any{}, "review_mode": "hybrid",
			"review_cache_ttl": float64(30), "local_max_token_age": float64(600),
		}}, {body: map[string]any{"token_ttl": "10m"}, differs: map[string]any{
			"alias_metadata": map[string]any{}, "review_mode": "hybrid",
			"review_cache_ttl": float64(30), "local_max_token_age": float64(600),
		}}}},
		{"updates", []write{{body: map[string]any{
			"bound_service_account_names":              "app",
			"bound_service_account_namespaces":         "default",
			"bound_service_account_namespace_selector": `{"matchLabels":{"team":"a"}}`,
			"audience":       "vault",
			"token_policies": "p2,p1",
		}, differs: map[string]any{"alias_metadata": map[string]any{}}}, {body: map[string]any{
			"token_ttl": "20m", "ttl": "20m", "alias_name_source": "serviceaccount_name",
		}, differs: map[string]any{
			"alias_metadata":            map[string]any{},
			"update keeps the selector": `{"matchLabels":{"team":"a"}}`,
		}}, {body: map[string]any{"audience": "", "token_ttl": "30m"}, differs: map[string]any{
			"alias_metadata":            map[string]any{},
			"update keeps the selector": `{"matchLabels":{"team":"a"}}`,
		}}}},
	}
	for i, rc := range roles {
		name := "role" + string(rune('a'+i))
		for n, w := range rc.writes {
			for _, m := range []*mount{builtin, plugin} {
				expectOK(t, root(t, http.MethodPost, "auth/"+m.path+"/role/"+name, w.body))
			}
			compareReads(t, "role ("+rc.name+", after write "+string(rune('1'+n))+")",
				readJSON(t, "auth/"+builtin.path+"/role/"+name), readJSON(t, "auth/"+plugin.path+"/role/"+name),
				allowed(t, w.differs)...)
		}
	}

	// The list of roles is the same too.
	compareReads(t, "role list", readJSON(t, "auth/"+builtin.path+"/role?list=true"),
		readJSON(t, "auth/"+plugin.path+"/role?list=true"))
}

// A login answers with the same token settings and metadata on both, the
// role named as the client sent it.
// Not parallel: see enableBuiltin.
func TestLoginMatchesBuiltin(t *testing.T) {
	builtin, plugin := builtinMount(t), newMount(t)
	w := stk.NewWorkload(t, "parity", nil)
	for _, m := range []*mount{builtin, plugin} {
		m.configure(t, nil)
		m.bindRole(t, "parity", w, map[string]any{"token_policies": "zeta,alpha", "token_ttl": "7m", "token_num_uses": 9})
	}
	jwt := vaultToken(t, w)
	b, p := builtin.mustLogin(t, "PARITY", jwt), plugin.mustLogin(t, "PARITY", jwt)
	if got := p.StringMap("metadata")["role"]; got != "PARITY" {
		t.Errorf("plugin: role metadata %q, want the name as sent", got)
	}
	for _, k := range []string{"metadata", "token_policies", "policies", "lease_duration", "renewable", "token_type", "num_uses", "orphan", "mfa_requirement"} {
		if !reflect.DeepEqual(b[k], p[k]) {
			t.Errorf("login %s: built-in %s, plugin %s", k, show(b[k], true), show(p[k], true))
		}
	}
	if got, want := entityAlias(t, plugin, p.Str("entity_id")).StringMap("metadata"), entityAlias(t, builtin, b.Str("entity_id")).StringMap("metadata"); !maps.Equal(got, want) {
		t.Errorf("entity alias metadata: plugin %v, built-in %v", got, want)
	}
}
