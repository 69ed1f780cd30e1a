package kubeauth

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
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

func vaultConfig(e *testEnv) string {
	b, _ := json.Marshal(map[string]any{
		"host":                              e.kube.srv.URL,
		"ca_cert":                           e.kube.caPEM,
		"token_reviewer_jwt":                testReviewer,
		"pem_keys":                          nil,
		"issuer":                            "",
		"disable_iss_validation":            true,
		"disable_local_ca_jwt":              false,
		"use_annotations_as_alias_metadata": false,
	})
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
	e.kube.setNamespaceLabels(testNamespace, map[string]string{"team": "a"})

	resp, err := e.login("legacy", e.token())
	if err != nil || resp.IsError() {
		t.Fatalf("login through a legacy role: %v %#v", err, resp)
	}
	a := resp.Auth
	if !reflect.DeepEqual(a.Policies, []string{"legacy-read"}) || a.TTL != 10*time.Minute || a.MaxTTL != time.Hour ||
		a.NumUses != 5 || len(a.BoundCIDRs) != 1 || a.BoundCIDRs[0].String() != "10.0.0.0/8" || a.Alias.Name != testSAUID {
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
	e.requireDenied(nil, err, reasonCIDR)

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
