package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

func TestRoleCreateReadUpdateDeleteList(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	rolePath := "auth/" + m.path + "/role/"

	// No roles yet: Vault answers an empty list with 404.
	expectStatus(t, root(t, "LIST", rolePath, nil), http.StatusNotFound)

	m.writeRole(t, "web", map[string]any{
		"bound_service_account_names":      "web,api-*",
		"bound_service_account_namespaces": []string{"shop", "team-*"},
		"audience":                         "vault",
		"token_policies":                   "read-web,write-web",
		"token_ttl":                        "10m",
		"token_max_ttl":                    3600,
	})
	r := root(t, http.MethodGet, rolePath+"web", nil)
	expectStatus(t, r, http.StatusOK)
	d := r.Data()
	want := map[string][]string{
		"bound_service_account_names":      {"web", "api-*"},
		"bound_service_account_namespaces": {"shop", "team-*"},
		"token_policies":                   {"read-web", "write-web"},
	}
	for field, v := range want {
		if got := d.Strs(field); !slices.Equal(got, v) {
			t.Errorf("%s = %q, want %q", field, got, v)
		}
	}
	if d.Str("audience") != "vault" || d.Str("alias_name_source") != "serviceaccount_uid" ||
		d.Num("token_ttl") != 600 || d.Num("token_max_ttl") != 3600 ||
		d.Str("bound_service_account_namespace_selector") != "" {
		t.Errorf("role read: %s", r)
	}

	// An update changes only the fields it sends.
	m.writeRole(t, "web", map[string]any{"token_ttl": "20m", "alias_name_source": "serviceaccount_name"})
	r = root(t, http.MethodGet, rolePath+"web", nil)
	d = r.Data()
	if d.Num("token_ttl") != 1200 || d.Str("alias_name_source") != "serviceaccount_name" {
		t.Errorf("update not applied: %s", r)
	}
	if !slices.Equal(d.Strs("bound_service_account_names"), want["bound_service_account_names"]) ||
		!slices.Equal(d.Strs("token_policies"), want["token_policies"]) ||
		d.Num("token_max_ttl") != 3600 || d.Str("audience") != "vault" {
		t.Errorf("an update cleared fields it did not send: %s", r)
	}

	// Role names are case-insensitive, as in Vault's built-in method.
	m.writeRole(t, "Batch", map[string]any{
		"bound_service_account_names":      "batch",
		"bound_service_account_namespaces": "jobs",
		"audience":                         "vault",
	})
	expectStatus(t, root(t, http.MethodGet, rolePath+"BATCH", nil), http.StatusOK)

	// Both spellings of a list.
	for _, r := range []*realstack.Reply{
		root(t, "LIST", rolePath, nil),
		root(t, http.MethodGet, rolePath+"?list=true", nil),
	} {
		expectStatus(t, r, http.StatusOK)
		if got := r.Data().Strs("keys"); !slices.Equal(got, []string{"batch", "web"}) {
			t.Errorf("%s: keys = %q, want [batch web]", r.Req, got)
		}
	}

	expectStatus(t, root(t, http.MethodDelete, rolePath+"web", nil), http.StatusNoContent)
	expectStatus(t, root(t, http.MethodGet, rolePath+"web", nil), http.StatusNotFound)
	r = root(t, "LIST", rolePath, nil)
	expectStatus(t, r, http.StatusOK)
	if got := r.Data().Strs("keys"); !slices.Equal(got, []string{"batch"}) {
		t.Errorf("after delete: keys = %q, want [batch]", got)
	}
	// Deleting what is not there is not an error.
	expectStatus(t, root(t, http.MethodDelete, rolePath+"web", nil), http.StatusNoContent)
}

// The pre-token_* names are still accepted and land in the token_* fields.
func TestRoleLegacyFieldNames(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	m.writeRole(t, "old", map[string]any{
		"bound_service_account_names":      "app",
		"bound_service_account_namespaces": "default",
		"audience":                         "vault",
		"policies":                         "legacy-a,legacy-b",
		"ttl":                              "5m",
		"max_ttl":                          "1h",
		"bound_cidrs":                      "127.0.0.1/32",
	})
	r := root(t, http.MethodGet, "auth/"+m.path+"/role/old", nil)
	expectStatus(t, r, http.StatusOK)
	d := r.Data()
	if !slices.Equal(d.Strs("token_policies"), []string{"legacy-a", "legacy-b"}) ||
		d.Num("token_ttl") != 300 || d.Num("token_max_ttl") != 3600 ||
		!slices.Equal(d.Strs("token_bound_cidrs"), []string{"127.0.0.1"}) {
		t.Errorf("legacy fields not carried into token_*: %s", r)
	}
}

// A bad role is refused with a message naming the field; nothing is stored.
func TestRoleRejectsBadInput(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	valid := func() map[string]any {
		return map[string]any{
			"bound_service_account_names":      "app",
			"bound_service_account_namespaces": "default",
			"audience":                         "vault",
		}
	}
	cases := []struct {
		name   string
		change map[string]any
		drop   string
		words  []string
	}{
		{"no names", nil, "bound_service_account_names", []string{"bound_service_account_names"}},
		{"no namespaces nor selector", nil, "bound_service_account_namespaces", []string{"bound_service_account_namespaces"}},
		{"star mixed with names", map[string]any{"bound_service_account_names": "*,app"}, "", []string{"bound_service_account_names"}},
		{"selector not a LabelSelector", map[string]any{"bound_service_account_namespace_selector": `{"matchLabel":{"a":"b"}}`}, "", []string{"bound_service_account_namespace_selector"}},
		{"unknown alias source", map[string]any{"alias_name_source": "pod_name"}, "", []string{"alias_name_source"}},
		{"ttl over max_ttl", map[string]any{"token_ttl": "2h", "token_max_ttl": "1h"}, "", []string{"token_ttl"}},
		{"root policy", map[string]any{"token_policies": "root"}, "", []string{"root"}},
		{"cidr not an address", map[string]any{"token_bound_cidrs": "not-an-ip"}, "", []string{"token_bound_cidrs", "not-an-ip"}},
		// The SDK's parser alone would store this as a Unix socket path
		// (Vault's built-in method does), so no client address could match.
		{"cidr prefix too long", map[string]any{"token_bound_cidrs": "10.0.0.0/99"}, "", []string{"token_bound_cidrs", "10.0.0.0/99"}},
		{"legacy cidr prefix too long", map[string]any{"bound_cidrs": "10.0.0.0/99"}, "", []string{"bound_cidrs", "10.0.0.0/99"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fields := valid()
			delete(fields, tc.drop)
			for k, v := range tc.change {
				fields[k] = v
			}
			name := fmt.Sprintf("bad%d", i)
			expectBadRequest(t, root(t, http.MethodPost, "auth/"+m.path+"/role/"+name, fields), tc.words...)
			expectStatus(t, root(t, http.MethodGet, "auth/"+m.path+"/role/"+name, nil), http.StatusNotFound)
		})
	}
}
