package kubeauth

import (
	"encoding/json"
	"encoding/pem"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// These entries are shaped as Vault's built-in kubernetes auth method
// stores them (durations in nanoseconds, legacy roles with the pre-token_*
// fields and the untagged BoundCIDRs), so a mount switched from it to this
// plugin keeps working.
const (
	vaultLegacyRole = `{
		"bound_service_account_names": ["web"],
		"bound_service_account_namespaces": ["apps"],
		"policies": ["legacy-read"],
		"num_uses": 5,
		"ttl": 600000000000,
		"max_ttl": 3600000000000,
		"period": 0,
		"BoundCIDRs": ["10.0.0.0/8"]
	}`
	vaultModernRole = `{
		"token_bound_cidrs": null,
		"token_explicit_max_ttl": 0,
		"token_max_ttl": 7200000000000,
		"token_no_default_policy": true,
		"token_num_uses": 0,
		"token_period": 0,
		"token_policies": ["modern-read"],
		"token_type": 0,
		"token_ttl": 1800000000000,
		"alias_metadata": null,
		"bound_service_account_names": ["w*"],
		"bound_service_account_namespaces": [],
		"bound_service_account_namespace_selector": "{\"matchLabels\":{\"team\":\"a\"}}",
		"audience": "vault",
		"alias_name_source": "serviceaccount_name",
		"policies": null,
		"num_uses": 0,
		"ttl": 0,
		"max_ttl": 0,
		"period": 0,
		"BoundCIDRs": null
	}`
)

// vaultRoleFor is role "web" (service account apps/web, audience vault,
// policy web-read) as Vault's method v0.24 stores it when written with the
// token_* names, with stored fields replaced and the drop keys removed (as
// older versions, which lacked them, left them out).
func vaultRoleFor(t *testing.T, stored map[string]any, drop ...string) string {
	t.Helper()
	role := map[string]any{
		"token_bound_cidrs":                        nil,
		"token_explicit_max_ttl":                   0,
		"token_max_ttl":                            0,
		"token_no_default_policy":                  false,
		"token_num_uses":                           0,
		"token_period":                             0,
		"token_policies":                           []string{"web-read"},
		"token_type":                               0,
		"token_ttl":                                0,
		"alias_metadata":                           map[string]string{},
		"bound_service_account_names":              []string{testkit.SAName},
		"bound_service_account_namespaces":         []string{testkit.Namespace},
		"bound_service_account_namespace_selector": "",
		"audience":                                 "vault",
		"alias_name_source":                        aliasNameSourceUID,
		"policies":                                 nil,
		"num_uses":                                 0,
		"ttl":                                      0,
		"max_ttl":                                  0,
		"period":                                   0,
		"BoundCIDRs":                               nil,
	}
	maps.Copy(role, stored)
	for _, k := range drop {
		delete(role, k)
	}
	b, err := json.Marshal(role)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func vaultConfig(e *testEnv) string { return vaultConfigWith(e, nil) }

// vaultConfigWith is the config Vault's method stores for the fake API
// server, with the given stored fields replaced.
func vaultConfigWith(e *testEnv, stored map[string]any) string {
	cfg := map[string]any{
		"host":                              e.kube.srv.URL,
		"ca_cert":                           e.kube.caPEM,
		"token_reviewer_jwt":                testReviewer,
		"pem_keys":                          nil,
		"issuer":                            "",
		"disable_iss_validation":            true,
		"disable_local_ca_jwt":              false,
		"use_annotations_as_alias_metadata": false,
	}
	maps.Copy(cfg, stored)
	b, err := json.Marshal(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}

func putRaw(t *testing.T, e *testEnv, key, value string) {
	t.Helper()
	if err := e.storage.Put(t.Context(), &logical.StorageEntry{Key: key, Value: []byte(value)}); err != nil {
		t.Fatal(err)
	}
}

func TestStorageWrittenByVaultLogsIn(t *testing.T) {
	e := newTestEnv(t)
	putRaw(t, e, "config", vaultConfig(e))
	putRaw(t, e, "role/legacy", vaultLegacyRole)
	putRaw(t, e, "role/modern", vaultModernRole)
	e.kube.setNamespaceLabels(testkit.Namespace, map[string]string{"team": "a"})

	resp, err := e.login("legacy", e.token())
	if err != nil || resp.IsError() {
		t.Fatalf("login through a legacy role: %v %#v", err, resp)
	}
	a := resp.Auth
	if !reflect.DeepEqual(a.Policies, []string{"legacy-read"}) || a.TTL != 10*time.Minute || a.MaxTTL != time.Hour ||
		a.NumUses != 5 || len(a.BoundCIDRs) != 1 || a.BoundCIDRs[0].String() != "10.0.0.0/8" || a.Alias.Name != testkit.SAUID {
		t.Fatalf("legacy role settings not applied: %#v", a)
	}

	resp, err = e.login("modern", e.token())
	if err != nil || resp.IsError() {
		t.Fatalf("login through a modern role: %v %#v", err, resp)
	}
	a = resp.Auth
	if !reflect.DeepEqual(a.Policies, []string{"modern-read"}) || a.TTL != 30*time.Minute || a.MaxTTL != 2*time.Hour ||
		a.Alias.Name != "apps/web" {
		t.Fatalf("modern role settings not applied: %#v", a)
	}

	// The legacy role reads in the modern shape and enforces its CIDRs.
	got := e.mustDo(logical.ReadOperation, "role/legacy", nil).Data
	if !reflect.DeepEqual(got["token_policies"], []string{"legacy-read"}) || got["token_ttl"] != int64(600) ||
		got["alias_name_source"] != "" {
		t.Fatalf("legacy role read: %#v", got)
	}
	req := &logical.Request{Operation: logical.UpdateOperation, Path: "login", Storage: e.storage,
		Data: map[string]any{"role": "legacy", "jwt": e.token()}, Connection: &logical.Connection{RemoteAddr: "192.0.2.1"}}
	_, err = e.b.HandleRequest(t.Context(), req)
	e.requireDenied(nil, err, refusal.ReasonCIDR)

	// An update of one field keeps the legacy values, now also as token_*
	// fields (Vault's method stores both), and sets alias_name_source.
	e.mustDo(logical.UpdateOperation, "role/legacy", map[string]any{"audience": "vault"})
	raw := e.rawEntry("role/legacy")
	if raw["ttl"] != json.Number("600000000000") || raw["token_ttl"] != json.Number("600000000000") ||
		raw["alias_name_source"] != aliasNameSourceUID ||
		!reflect.DeepEqual(raw["token_policies"], []any{"legacy-read"}) || !reflect.DeepEqual(raw["token_bound_cidrs"], []any{"10.0.0.0/8"}) {
		t.Fatalf("legacy role rewritten as %v", raw)
	}
}

// What this plugin stores uses exactly the keys Vault's method reads, so an
// operator can also switch back.
func TestStorageKeysMatchVault(t *testing.T) {
	e := newTestEnv(t)
	e.writeConfig(nil)
	e.writeRole("Web", nil)

	var vaultRole map[string]any
	if err := json.Unmarshal([]byte(vaultModernRole), &vaultRole); err != nil {
		t.Fatal(err)
	}
	var vaultCfg map[string]any
	if err := json.Unmarshal([]byte(vaultConfig(e)), &vaultCfg); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  string
		want map[string]any
	}{{"config", vaultCfg}, {"role/web", vaultRole}} {
		got := e.rawEntry(tc.key)
		if got == nil {
			t.Fatalf("nothing stored at %q", tc.key)
		}
		gotKeys, wantKeys := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(tc.want))
		if !reflect.DeepEqual(gotKeys, wantKeys) {
			t.Errorf("%s keys:\n got %v\nwant %v", tc.key, gotKeys, wantKeys)
		}
	}
	if !slices.Contains(e.b.PathsSpecial.SealWrapStorage, "config") {
		t.Error("config is not seal-wrapped")
	}
	if !slices.Contains(e.b.PathsSpecial.Unauthenticated, "login") {
		t.Error("login is not unauthenticated")
	}
}

// relabel is the first PEM block of text under another label.
func relabel(t *testing.T, text, label string) string {
	t.Helper()
	block, _ := pem.Decode([]byte(text))
	if block == nil {
		t.Fatal("not PEM")
	}
	block.Type = label
	return string(pem.EncodeToMemory(block))
}

// withHeader is the first PEM block of text with a PEM header added.
func withHeader(t *testing.T, text string) string {
	t.Helper()
	block, _ := pem.Decode([]byte(text))
	if block == nil {
		t.Fatal("not PEM")
	}
	block.Headers = map[string]string{"Comment": "cluster A"}
	return string(pem.EncodeToMemory(block))
}

// pem_keys entries that Vault's method accepted and stored log in with the
// key it used (the first PEM block of each entry), and with no other.
func TestStoredPEMKeysReadAsVaultDoes(t *testing.T) {
	signer, other := testkit.Testdata(t, "signer.pub"), testkit.Testdata(t, "other.pub")
	cases := []struct {
		name   string
		entry  string
		signed bool // the login token's signer is the key Vault's method uses
	}{
		{"signer then another key in one entry", signer + other, true},
		{"another key then the signer in one entry", other + signer, false},
		{"text after the key", signer + "\nrotated 2026-01-01 by ops\n", true},
		{"text before the key", "# cluster A\n" + signer, true},
		{"certificate labeled PUBLIC KEY", relabel(t, testkit.Testdata(t, "signer.crt"), "PUBLIC KEY"), true},
		{"PKIX key labeled RSA PUBLIC KEY", relabel(t, signer, "RSA PUBLIC KEY"), true},
		{"PKCS#1 key this plugin stored", testkit.Testdata(t, "signer-pkcs1.pub"), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			putRaw(t, e, "config", vaultConfigWith(e, map[string]any{"pem_keys": []string{tc.entry}}))
			putRaw(t, e, "role/web", vaultRoleFor(t, nil))

			resp, err := e.login(testRole, e.token())
			if tc.signed {
				if err != nil || resp.IsError() {
					t.Fatalf("login: err=%v resp=%#v", err, resp)
				}
			} else {
				e.requireDenied(resp, err, refusal.ReasonSignature)
			}
			got := e.mustDo(logical.ReadOperation, "config", nil).Data["pem_keys"]
			if !reflect.DeepEqual(got, []string{tc.entry}) {
				t.Fatalf("pem_keys read back as %q, want them as stored", got)
			}
		})
	}
}

// A CA bundle Vault's method accepted and stored is trusted exactly as it
// trusted it: the certificates Go's AppendCertsFromPEM adds, nothing else.
func TestStoredCABundleReadAsVaultDoes(t *testing.T) {
	cases := []struct {
		name    string
		bundle  func(ca string) string
		trusted bool
	}{
		{"text after the certificate", func(ca string) string { return ca + "\n# end of bundle\n" }, true},
		{"openssl text before the certificate", func(ca string) string { return "subject=O = Acme Co\nissuer=O = Acme Co\n" + ca }, true},
		{"a public key block before the certificate", func(ca string) string { return testkit.Testdata(t, "other.pub") + ca }, true},
		{"no final newline", func(ca string) string { return strings.TrimSpace(ca) }, true},
		{"the certificate with PEM headers (ignored)", func(ca string) string { return withHeader(t, ca) }, false},
		{"another certificate only, with trailing text", func(string) string { return testkit.Testdata(t, "signer.crt") + "junk" }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			bundle := tc.bundle(e.kube.caPEM)
			putRaw(t, e, "config", vaultConfigWith(e, map[string]any{"ca_cert": bundle}))
			putRaw(t, e, "role/web", vaultRoleFor(t, nil))
			resp, err := e.login(testRole, e.token())
			if tc.trusted {
				if err != nil || resp.IsError() {
					t.Fatalf("login: err=%v resp=%#v", err, resp)
				}
			} else {
				// The caller gets a generic fault; the log says why: the
				// stored CA trusts nothing, or the API's certificate fails.
				public, why := refusal.ErrKubeFault, "failed TLS verification"
				if errors.Is(err, refusal.ErrInternalFault) {
					public, why = refusal.ErrInternalFault, "kubernetes_ca_cert: holds no usable CERTIFICATE block"
				}
				e.requireFault(public, resp, err, why)
			}
			if got := e.mustDo(logical.ReadOperation, "config", nil).Data["kubernetes_ca_cert"]; got != bundle {
				t.Fatalf("kubernetes_ca_cert read back as %q, want it as stored", got)
			}
		})
	}
}

// readJSON reads path and returns its data as Vault's HTTP API renders it
// (JSON), so keys, nulls, list order and value types can be compared with
// what Vault's method returns for the same stored object.
func readJSON(t *testing.T, e *testEnv, path string) map[string]any {
	t.Helper()
	b, err := json.Marshal(e.mustDo(logical.ReadOperation, path, nil).Data)
	if err != nil {
		t.Fatal(err)
	}
	return decodeJSON(t, string(b))
}

func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("%v in %s", err, s)
	}
	return m
}

// requireSameJSON compares two decoded objects key by key.
func requireSameJSON(t *testing.T, what string, got, want map[string]any) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: key %s missing, want %v", what, k, want[k])
		} else if !reflect.DeepEqual(g, want[k]) {
			t.Errorf("%s: %s = %#v, want %#v", what, k, g, want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: extra key %s = %#v", what, k, got[k])
		}
	}
}

// Every role shape Vault's method can have stored logs in, applies its
// settings, and reads back exactly as Vault's method reads it (the wanted
// reads follow its path_role.go: audience only when set, legacy keys while
// the legacy fields are set, lists and alias_name_source as stored).
func TestStoredRoleShapes(t *testing.T) {
	cases := []struct {
		name     string
		stored   string
		labels   map[string]string // the namespace's labels
		wantRead string
		check    func(t *testing.T, a *logical.Auth)
	}{{
		name:   "legacy fields only, as old versions wrote",
		stored: vaultLegacyRole,
		wantRead: `{"bound_service_account_names":["web"],"bound_service_account_namespaces":["apps"],
			"bound_service_account_namespace_selector":"","alias_name_source":"",
			"token_bound_cidrs":["10.0.0.0/8"],"token_explicit_max_ttl":0,"token_max_ttl":3600,
			"token_no_default_policy":false,"token_period":0,"token_policies":["legacy-read"],
			"token_type":"default","token_ttl":600,"token_num_uses":5,"alias_metadata":{},
			"policies":["legacy-read"],"bound_cidrs":["10.0.0.0/8"],"ttl":600,"max_ttl":3600,"num_uses":5}`,
		check: func(t *testing.T, a *logical.Auth) {
			if a.Alias.Name != testkit.SAUID || a.TTL != 10*time.Minute || a.NumUses != 5 {
				t.Errorf("auth %#v", a)
			}
		},
	}, {
		name: "legacy and token_* fields, written with the legacy names",
		stored: vaultRoleFor(t, map[string]any{
			"policies": []string{"a", "b"}, "token_policies": []string{"a", "b"},
			"period": 120e9, "token_period": 120e9,
		}),
		wantRead: `{"bound_service_account_names":["web"],"bound_service_account_namespaces":["apps"],
			"bound_service_account_namespace_selector":"","audience":"vault","alias_name_source":"serviceaccount_uid",
			"token_bound_cidrs":[],"token_explicit_max_ttl":0,"token_max_ttl":0,"token_no_default_policy":false,
			"token_period":120,"token_policies":["a","b"],"token_type":"default","token_ttl":0,"token_num_uses":0,
			"alias_metadata":{},"policies":["a","b"],"period":120}`,
		check: func(t *testing.T, a *logical.Auth) {
			if a.Period != 2*time.Minute || !reflect.DeepEqual(a.Policies, []string{"a", "b"}) {
				t.Errorf("auth %#v", a)
			}
		},
	}, {
		name:   "older than alias_name_source and alias_metadata",
		stored: vaultRoleFor(t, nil, "alias_name_source", "alias_metadata"),
		wantRead: `{"bound_service_account_names":["web"],"bound_service_account_namespaces":["apps"],
			"bound_service_account_namespace_selector":"","audience":"vault","alias_name_source":"",
			"token_bound_cidrs":[],"token_explicit_max_ttl":0,"token_max_ttl":0,"token_no_default_policy":false,
			"token_period":0,"token_policies":["web-read"],"token_type":"default","token_ttl":0,"token_num_uses":0,
			"alias_metadata":{}}`,
		check: func(t *testing.T, a *logical.Auth) {
			if a.Alias.Name != testkit.SAUID || len(a.Alias.CustomMetadata) != 0 {
				t.Errorf("alias %#v, want the UID and no custom metadata", a.Alias)
			}
		},
	}, {
		name:   "alias_metadata",
		stored: vaultRoleFor(t, map[string]any{"alias_metadata": map[string]string{"team": "payments", "tier": "1"}}),
		wantRead: `{"bound_service_account_names":["web"],"bound_service_account_namespaces":["apps"],
			"bound_service_account_namespace_selector":"","audience":"vault","alias_name_source":"serviceaccount_uid",
			"token_bound_cidrs":[],"token_explicit_max_ttl":0,"token_max_ttl":0,"token_no_default_policy":false,
			"token_period":0,"token_policies":["web-read"],"token_type":"default","token_ttl":0,"token_num_uses":0,
			"alias_metadata":{"team":"payments","tier":"1"}}`,
		check: func(t *testing.T, a *logical.Auth) {
			if want := map[string]string{"team": "payments", "tier": "1"}; !maps.Equal(a.Alias.CustomMetadata, want) {
				t.Errorf("alias custom metadata %v, want %v", a.Alias.CustomMetadata, want)
			}
			if _, ok := a.Alias.Metadata["team"]; ok || a.Alias.Metadata[metaSAUID] != testkit.SAUID {
				t.Errorf("alias metadata %v: want the service-account keys only", a.Alias.Metadata)
			}
		},
	}, {
		name: "selector only, namespaces never set, YAML with its final newline",
		stored: vaultRoleFor(t, map[string]any{
			"bound_service_account_namespaces":         nil,
			"bound_service_account_namespace_selector": "matchLabels:\n  team: a\n",
		}),
		labels: map[string]string{"team": "a"},
		wantRead: `{"bound_service_account_names":["web"],"bound_service_account_namespaces":null,
			"bound_service_account_namespace_selector":"matchLabels:\n  team: a\n","audience":"vault",
			"alias_name_source":"serviceaccount_uid","token_bound_cidrs":[],"token_explicit_max_ttl":0,
			"token_max_ttl":0,"token_no_default_policy":false,"token_period":0,"token_policies":["web-read"],
			"token_type":"default","token_ttl":0,"token_num_uses":0,"alias_metadata":{}}`,
	}, {
		name:   "policies in the order written, no audience",
		stored: vaultRoleFor(t, map[string]any{"token_policies": []string{"zeta", "Alpha", "zeta"}, "audience": ""}),
		wantRead: `{"bound_service_account_names":["web"],"bound_service_account_namespaces":["apps"],
			"bound_service_account_namespace_selector":"","alias_name_source":"serviceaccount_uid",
			"token_bound_cidrs":[],"token_explicit_max_ttl":0,"token_max_ttl":0,"token_no_default_policy":false,
			"token_period":0,"token_policies":["zeta","Alpha","zeta"],"token_type":"default","token_ttl":0,
			"token_num_uses":0,"alias_metadata":{}}`,
		check: func(t *testing.T, a *logical.Auth) {
			// Vault normalizes token policies itself when it issues the token.
			if !reflect.DeepEqual(a.Policies, []string{"zeta", "Alpha", "zeta"}) {
				t.Errorf("policies %v", a.Policies)
			}
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			putRaw(t, e, "config", vaultConfig(e))
			putRaw(t, e, "role/web", tc.stored)
			if tc.labels != nil {
				e.kube.setNamespaceLabels(testkit.Namespace, tc.labels)
			}
			requireSameJSON(t, "role read", readJSON(t, e, "role/web"), decodeJSON(t, tc.wantRead))
			resp, err := e.login(testRole, e.token())
			if err != nil || resp.IsError() {
				t.Fatalf("login: err=%v resp=%#v", err, resp)
			}
			if tc.check != nil {
				tc.check(t, resp.Auth)
			}
		})
	}
}
