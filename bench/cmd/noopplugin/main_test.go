package main

import (
	"context"
	"slices"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/fixture"
)

// The no-op login issues the token a real login on the benchmark's role
// earns: the role's policy, TTL and token type, metadata and an alias of the
// same shape; whatever the request carries.
func TestLoginIssuesTheBenchmarkRolesToken(t *testing.T) {
	conf := logical.TestBackendConfig()
	b, err := factory(context.Background(), conf)
	if err != nil {
		t.Fatal(err)
	}
	for _, data := range []map[string]any{
		{"role": fixture.RoleName, "jwt": "not even a JWT"},
		{},
	} {
		resp, err := b.HandleRequest(context.Background(), &logical.Request{
			Operation: logical.UpdateOperation, Path: "login", Data: data, Storage: &logical.InmemStorage{},
		})
		if err != nil || resp == nil || resp.Auth == nil {
			t.Fatalf("login(%v) = %#v, %v", data, resp, err)
		}
		if len(resp.Warnings) > 0 {
			t.Errorf("login(%v) warns: %v", data, resp.Warnings)
		}
		a := resp.Auth
		if !slices.Equal(a.Policies, []string{fixture.WorkloadPolicy}) {
			t.Errorf("policies = %v", a.Policies)
		}
		if a.TokenType.String() != fixture.TokenType || a.TTL != fixture.TokenTTL {
			t.Errorf("token type %v TTL %v, want %s %v", a.TokenType, a.TTL, fixture.TokenType, fixture.TokenTTL)
		}
		for _, k := range []string{"role", "service_account_name", "service_account_namespace", "service_account_secret_name", "service_account_uid"} {
			if _, ok := a.Metadata[k]; !ok {
				t.Errorf("metadata lacks %s: %v", k, a.Metadata)
			}
		}
		if a.Alias == nil || a.Alias.Name != a.Metadata["service_account_uid"] {
			t.Errorf("alias = %#v, want the service account's UID", a.Alias)
		}
	}
}
