package kubeauth

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	sockaddr "github.com/hashicorp/go-sockaddr"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

func TestRoleCreateAndRead(t *testing.T) {
	e := newTestEnv(t)
	resp := e.mustDo(logical.CreateOperation, "role/Web", map[string]any{
		"bound_service_account_names":              "web,api-*",
		"bound_service_account_namespaces":         []string{"apps", "team-*"},
		"bound_service_account_namespace_selector": `{"matchLabels":{"vault":"yes"}}`,
		"audience":                "vault",
		"alias_name_source":       "serviceaccount_name",
		"token_policies":          "Read, write",
		"token_ttl":               "1h",
		"token_max_ttl":           7200,
		"token_num_uses":          3,
		"token_bound_cidrs":       "10.0.0.0/8",
		"token_type":              "service",
		"token_no_default_policy": true,
		"token_explicit_max_ttl":  "3h",
		"token_period":            0,
	})
	if resp != nil && len(resp.Warnings) > 0 {
		t.Fatalf("unexpected warnings: %v", resp.Warnings)
	}
	got := e.mustDo(logical.ReadOperation, "role/web", nil).Data
	want := map[string]any{
		"bound_service_account_names":              []string{"web", "api-*"},
		"bound_service_account_namespaces":         []string{"apps", "team-*"},
		"bound_service_account_namespace_selector": `{"matchLabels":{"vault":"yes"}}`,
		"audience":                "vault",
		"alias_name_source":       "serviceaccount_name",
		"token_policies":          []string{"Read", "write"}, // as written, like Vault's method
		"token_ttl":               int64(3600),
		"token_max_ttl":           int64(7200),
		"token_num_uses":          3,
		"token_type":              "service",
		"token_no_default_policy": true,
		"token_explicit_max_ttl":  int64(10800),
		"token_period":            int64(0),
	}
	for k, v := range want {
		if !reflect.DeepEqual(got[k], v) {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	if cidrs := cidrStrings(got["token_bound_cidrs"]); !reflect.DeepEqual(cidrs, []string{"10.0.0.0/8"}) {
		t.Errorf("token_bound_cidrs = %v", cidrs)
	}
	for _, legacy := range []string{"policies", "ttl", "max_ttl", "period", "num_uses", "bound_cidrs"} {
		if _, ok := got[legacy]; ok {
			t.Errorf("read returned the legacy field %s", legacy)
		}
	}
}

func TestRoleDefaults(t *testing.T) {
	e := newTestEnv(t)
	e.mustDo(logical.CreateOperation, "role/min", map[string]any{
		"bound_service_account_names": "*", "bound_service_account_namespaces": "*",
	})
	got := e.mustDo(logical.ReadOperation, "role/min", nil).Data
	_, hasAudience := got["audience"] // Vault's method reports audience only when set
	if hasAudience || got["alias_name_source"] != aliasNameSourceUID ||
		got["bound_service_account_namespace_selector"] != "" || len(got["token_policies"].([]string)) != 0 ||
		got["token_type"] != "default" {
		t.Fatalf("defaults: %#v", got)
	}
}

func TestRoleUpdateKeepsUnsentFields(t *testing.T) {
	e := newTestEnv(t)
	e.writeRole("web", map[string]any{"token_ttl": "10m", "alias_name_source": "serviceaccount_name",
		"bound_service_account_namespace_selector": "matchLabels: {a: b}"})
	e.mustDo(logical.UpdateOperation, "role/web", map[string]any{"token_policies": "other"})
	got := e.mustDo(logical.ReadOperation, "role/web", nil).Data
	if !reflect.DeepEqual(got["bound_service_account_names"], []string{testkit.SAName}) ||
		!reflect.DeepEqual(got["bound_service_account_namespaces"], []string{testkit.Namespace}) ||
		got["audience"] != "vault" || got["token_ttl"] != int64(600) ||
		got["alias_name_source"] != aliasNameSourceName ||
		got["bound_service_account_namespace_selector"] != "matchLabels: {a: b}" ||
		!reflect.DeepEqual(got["token_policies"], []string{"other"}) {
		t.Fatalf("update cleared fields it did not send: %#v", got)
	}

	// A field sent empty is cleared.
	e.mustDo(logical.UpdateOperation, "role/web", map[string]any{"audience": "", "bound_service_account_namespace_selector": ""})
	got = e.mustDo(logical.ReadOperation, "role/web", nil).Data
	if _, ok := got["audience"]; ok || got["bound_service_account_namespace_selector"] != "" {
		t.Fatalf("fields sent empty were kept: %#v", got)
	}
}

func TestRoleLegacyFieldNames(t *testing.T) {
	e := newTestEnv(t)
	e.mustDo(logical.CreateOperation, "role/old", map[string]any{
		"bound_service_account_names":      "web",
		"bound_service_account_namespaces": "apps",
		"policies":                         "a,b",
		"ttl":                              "5m",
		"max_ttl":                          "10m",
		"period":                           "2m",
		"num_uses":                         4,
		"bound_cidrs":                      "192.168.0.0/16",
	})
	got := e.mustDo(logical.ReadOperation, "role/old", nil).Data
	if !reflect.DeepEqual(got["token_policies"], []string{"a", "b"}) || got["token_ttl"] != int64(300) ||
		got["token_max_ttl"] != int64(600) || got["token_period"] != int64(120) || got["token_num_uses"] != 4 ||
		!reflect.DeepEqual(cidrStrings(got["token_bound_cidrs"]), []string{"192.168.0.0/16"}) {
		t.Fatalf("legacy names not mapped to token_* fields: %#v", got)
	}
	// As in Vault's method, the legacy fields are stored too and reported
	// by reads until the token_* name is written.
	raw := e.rawEntry("role/old")
	wantRaw := map[string]string{"policies": "[a b]", "ttl": "300000000000", "max_ttl": "600000000000",
		"period": "120000000000", "num_uses": "4", "BoundCIDRs": "[192.168.0.0/16]"}
	for k, v := range wantRaw {
		if got := fmt.Sprint(raw[k]); got != v {
			t.Errorf("stored legacy field %s = %s, want %s", k, got, v)
		}
	}
	if !reflect.DeepEqual(got["policies"], []string{"a", "b"}) || got["ttl"] != int64(300) || got["max_ttl"] != int64(600) ||
		got["period"] != int64(120) || got["num_uses"] != 4 ||
		!reflect.DeepEqual(cidrStrings(got["bound_cidrs"]), []string{"192.168.0.0/16"}) {
		t.Errorf("read does not report the legacy fields as Vault's method does: %#v", got)
	}
	// Writing the token_* name retires the legacy field.
	e.mustDo(logical.UpdateOperation, "role/old", map[string]any{"token_ttl": "6m"})
	got = e.mustDo(logical.ReadOperation, "role/old", nil).Data
	if _, ok := got["ttl"]; ok || got["token_ttl"] != int64(360) || got["max_ttl"] != int64(600) {
		t.Errorf("after writing token_ttl: %#v", got)
	}

	// Both names at once is a conflict that names the fields.
	resp, err := e.do(logical.UpdateOperation, "role/old", map[string]any{"policies": "x", "token_policies": "y"})
	requireBadRequest(t, resp, err, "policies: conflicts with token_policies")
	// The same value under both names is not a conflict.
	e.mustDo(logical.UpdateOperation, "role/old", map[string]any{"ttl": "7m", "token_ttl": 420})
}

func TestRoleListAndDelete(t *testing.T) {
	e := newTestEnv(t)
	for _, n := range []string{"b", "A", "c"} {
		e.writeRole(n, nil)
	}
	for _, op := range []struct {
		name string
		op   logical.Operation
		path string
	}{{"LIST role", logical.ListOperation, "role"}, {"LIST role/", logical.ListOperation, "role/"}} {
		t.Run(op.name, func(t *testing.T) {
			keys := e.mustDo(op.op, op.path, nil).Data["keys"].([]string)
			slices.Sort(keys)
			if !reflect.DeepEqual(keys, []string{"a", "b", "c"}) {
				t.Fatalf("keys %v", keys)
			}
		})
	}
	e.mustDo(logical.DeleteOperation, "role/B", nil)
	if resp, err := e.do(logical.ReadOperation, "role/b", nil); err != nil || resp != nil {
		t.Fatalf("deleted role still readable: %#v %v", resp, err)
	}
	keys := e.mustDo(logical.ListOperation, "role", nil).Data["keys"].([]string)
	slices.Sort(keys)
	if !reflect.DeepEqual(keys, []string{"a", "c"}) {
		t.Fatalf("keys after delete %v", keys)
	}
	// Deleting a missing role is not an error, as in Vault.
	e.mustDo(logical.DeleteOperation, "role/none", nil)
}

func TestRoleWarnings(t *testing.T) {
	e := newTestEnv(t)
	cases := []struct {
		name string
		data map[string]any
		want string
	}{
		{"no audience", map[string]any{"audience": nil}, "audience is not set"},
		{"max_ttl above mount", map[string]any{"token_max_ttl": "1000h"}, "greater than the mount's maximum lease TTL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := roleData()
			for k, v := range tc.data {
				if v == nil {
					delete(data, k)
				} else {
					data[k] = v
				}
			}
			resp := e.mustDo(logical.CreateOperation, "role/"+strings.ReplaceAll(tc.name, " ", "-"), data)
			if resp == nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], tc.want) {
				t.Fatalf("want one warning containing %q, got %#v", tc.want, resp)
			}
		})
	}
}

func TestRoleInvalid(t *testing.T) {
	cases := []struct {
		name   string
		create bool // the failed write is the role's first (nothing may be stored)
		data   map[string]any
		want   string
	}{
		{"names missing", true, map[string]any{"bound_service_account_names": nil}, "bound_service_account_names: is required"},
		{"names emptied", false, map[string]any{"bound_service_account_names": ""}, "bound_service_account_names: is required"},
		{"names star with others", false, map[string]any{"bound_service_account_names": "*,web"}, `bound_service_account_names: "*" cannot be combined`},
		{"names empty entry", false, map[string]any{"bound_service_account_names": []string{"web", ""}}, "bound_service_account_names: entry 1 is empty"},
		{"namespaces missing", true, map[string]any{"bound_service_account_namespaces": nil}, "bound_service_account_namespaces: is required unless bound_service_account_namespace_selector"},
		{"namespaces star with others", false, map[string]any{"bound_service_account_namespaces": "apps,*"}, `bound_service_account_namespaces: "*" cannot be combined`},
		{"selector not YAML", false, map[string]any{"bound_service_account_namespace_selector": "{{"}, "bound_service_account_namespace_selector: not a LabelSelector"},
		{"selector unknown field", false, map[string]any{"bound_service_account_namespace_selector": `{"matchLabel":{"a":"b"}}`}, "bound_service_account_namespace_selector: not a LabelSelector"},
		{"selector bad operator", false, map[string]any{"bound_service_account_namespace_selector": `{"matchExpressions":[{"key":"a","operator":"Near","values":["b"]}]}`}, "bound_service_account_namespace_selector: "},
		{"selector bad label value", false, map[string]any{"bound_service_account_namespace_selector": `{"matchLabels":{"a":"b c"}}`}, "bound_service_account_namespace_selector: "},
		{"selector over the cap", false, map[string]any{"bound_service_account_namespace_selector": `{"matchLabels":{"a":"` + strings.Repeat("b", 4097) + `"}}`},
			"bound_service_account_namespace_selector: is 4121 bytes; the limit is 4096 bytes (4 KiB)"},
		{"selector selects all ({})", false, map[string]any{"bound_service_account_namespace_selector": "{}"}, "selects every namespace; to bind all namespaces say so with bound_service_account_namespaces=*"},
		{"selector selects all (null)", false, map[string]any{"bound_service_account_namespace_selector": "null"}, "bound_service_account_namespaces=*"},
		{"selector selects all (comment)", false, map[string]any{"bound_service_account_namespace_selector": "# every namespace"}, "bound_service_account_namespaces=*"},
		{"selector selects all (empty lists)", false, map[string]any{"bound_service_account_namespace_selector": `{"matchLabels":{},"matchExpressions":[]}`}, "bound_service_account_namespaces=*"},
		{"alias_name_source", false, map[string]any{"alias_name_source": "pod"}, "alias_name_source"},
		{"root policy", false, map[string]any{"token_policies": "default,root"}, "token_policies: the root policy cannot be granted"},
		{"root policy in capitals", false, map[string]any{"token_policies": []string{"default", " Root"}}, "token_policies: the root policy cannot be granted"},
		{"audience with a newline", false, map[string]any{"audience": "vault\n"}, `audience: "vault\n" starts or ends with white space; send "vault"`},
		{"ttl above max_ttl", false, map[string]any{"token_ttl": "2h", "token_max_ttl": "1h"}, "token_ttl"},
		{"negative ttl", false, map[string]any{"token_ttl": -5}, "token_ttl"},
		{"negative num_uses", false, map[string]any{"token_num_uses": -1}, "token_num_uses"},
		{"period above mount max", false, map[string]any{"token_period": "1000h"}, "token_period: 1000h0m0s is greater than the mount's maximum lease TTL"},
		{"bad cidr", false, map[string]any{"token_bound_cidrs": "10.0.0.0/8,not-a-cidr"}, "token_bound_cidrs"},
		{"cidr prefix too long", false, map[string]any{"token_bound_cidrs": "10.0.0.0/99"}, `token_bound_cidrs: "10.0.0.0/99" is not an IP address or CIDR block`},
		{"bad legacy cidr", false, map[string]any{"bound_cidrs": "nope"}, "bound_cidrs"},
		{"bad token_type", false, map[string]any{"token_type": "weird"}, "token_type"},
		{"bad ttl syntax", false, map[string]any{"token_ttl": "soon"}, "token_ttl"},
		{"batch token with period", false, map[string]any{"token_type": "batch", "token_period": "1h"}, "period"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			if !tc.create {
				e.writeRole("web", nil)
			}

			// A create sends a whole role; an update only the fields under test.
			data := map[string]any{}
			if tc.create {
				data = roleData()
			}
			for k, v := range tc.data {
				if v == nil {
					delete(data, k)
				} else {
					data[k] = v
				}
			}
			e.requireBadWrite("role/web", data, tc.want)
		})
	}
}

func TestRoleTTLValuesStoredAsDurations(t *testing.T) {
	e := newTestEnv(t)
	e.writeRole("web", map[string]any{"token_ttl": "90s"})
	r, err := loadRole(t.Context(), e.storage, "web")
	if err != nil {
		t.Fatal(err)
	}
	if r.TokenTTL != 90*time.Second {
		t.Fatalf("TokenTTL %v", r.TokenTTL)
	}
}

// cidrStrings renders token_bound_cidrs as read returns it.
func cidrStrings(v any) []string {
	var out []string
	for _, c := range v.([]*sockaddr.SockAddrMarshaler) {
		out = append(out, c.String())
	}
	return out
}
