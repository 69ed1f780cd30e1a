package kubeauth

import (
	"maps"
	"reflect"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// What a client writes through the API reads back exactly as Vault's
// built-in method returns it (the wanted reads follow its path_config.go and
// path_role.go), so Terraform and scripts see no drift after a switch.

func TestConfigReadShape(t *testing.T) {
	e := newTestEnv(t)
	// Written as a file is: the CA ends in a newline, which a read returns.
	e.mustDo(logical.UpdateOperation, "config", map[string]any{
		"kubernetes_host":    e.kube.srv.URL,
		"kubernetes_ca_cert": e.kube.caPEM,
		"token_reviewer_jwt": testReviewer + "\n",
	})
	want := map[string]any{
		"kubernetes_host":                   e.kube.srv.URL,
		"kubernetes_ca_cert":                e.kube.caPEM,
		"pem_keys":                          []any{},
		"issuer":                            "",
		"disable_iss_validation":            true,
		"disable_local_ca_jwt":              false,
		"token_reviewer_jwt_set":            true,
		"use_annotations_as_alias_metadata": false,
	}
	requireSameJSON(t, "config read", readJSON(t, e, "config"), want)
	if raw := e.rawEntry("config"); !reflect.DeepEqual(raw["pem_keys"], []any{}) {
		t.Errorf("unset pem_keys stored as %#v, want [] as Vault's method stores them", raw["pem_keys"])
	}
	// The reviewer JWT is stored as sent, and sent without its newline.
	e.writeRole(testRole, nil)
	if resp, err := e.login(testRole, e.token()); err != nil || resp.IsError() {
		t.Fatalf("login with a reviewer JWT written with a final newline: err=%v resp=%#v", err, resp)
	}

	// A config stored by an old version without pem_keys reads them as null.
	putRaw(t, e, "config", vaultConfig(e))
	e.b.Invalidate(t.Context(), configPath)
	want["pem_keys"] = nil
	requireSameJSON(t, "config read of an old config", readJSON(t, e, "config"), want)
}

func TestRoleReadShape(t *testing.T) {
	e := newTestEnv(t)
	e.mustDo(logical.UpdateOperation, "role/Payments", map[string]any{
		"bound_service_account_names":              "api,worker-*",
		"bound_service_account_namespace_selector": "matchLabels:\n  team: payments\n",
		"token_policies":                           "payments-write,Payments-Read,default",
		"token_ttl":                                "1h",
		"token_bound_cidrs":                        "10.0.0.0/8",
	})
	want := decodeJSON(t, `{"bound_service_account_names":["api","worker-*"],
		"bound_service_account_namespaces":null,
		"bound_service_account_namespace_selector":"matchLabels:\n  team: payments\n",
		"alias_name_source":"serviceaccount_uid","token_bound_cidrs":["10.0.0.0/8"],
		"token_explicit_max_ttl":0,"token_max_ttl":0,"token_no_default_policy":false,"token_period":0,
		"token_policies":["payments-write","Payments-Read","default"],"token_type":"default",
		"token_ttl":3600,"token_num_uses":0,"alias_metadata":{}}`)
	requireSameJSON(t, "role read", readJSON(t, e, "role/payments"), want)

	// Written with the legacy names, the role reads with them too.
	e.mustDo(logical.UpdateOperation, "role/payments", map[string]any{"policies": "b,A", "max_ttl": "2h", "audience": "vault"})
	want["policies"] = []any{"a", "b"} // Vault sanitizes the legacy name's policies
	want["token_policies"] = []any{"a", "b"}
	want["max_ttl"] = float64(7200)
	want["token_max_ttl"] = float64(7200)
	want["audience"] = "vault"
	requireSameJSON(t, "role read after a write with legacy names", readJSON(t, e, "role/payments"), want)
}

// alias_metadata, the token field of current Vault SDKs: accepted, stored,
// returned, kept by updates that do not send it, and applied to the entity
// alias as its custom metadata, beside the service-account and annotation
// metadata of the alias itself.
func TestRoleAliasMetadata(t *testing.T) {
	e := configured(t)
	e.writeConfig(map[string]any{"use_annotations_as_alias_metadata": true})
	e.kube.addServiceAccount(testkit.Namespace, testkit.SAName, testkit.SAUID, map[string]string{
		aliasMetadataAnnotationPrefix + "owner": "team-a",
	})
	e.writeRole(testRole, map[string]any{"alias_metadata": []string{"env=prod", "tier=1"}})
	want := map[string]string{"env": "prod", "tier": "1"}

	if got := e.mustDo(logical.ReadOperation, "role/web", nil).Data["alias_metadata"]; !reflect.DeepEqual(got, want) {
		t.Fatalf("alias_metadata read %#v, want %v", got, want)
	}
	e.mustDo(logical.UpdateOperation, "role/web", map[string]any{"token_ttl": "5m"})
	if got := e.mustDo(logical.ReadOperation, "role/web", nil).Data["alias_metadata"]; !reflect.DeepEqual(got, want) {
		t.Fatalf("an update without alias_metadata changed it to %#v", got)
	}

	resp, err := e.login(testRole, e.token())
	if err != nil || resp.IsError() {
		t.Fatalf("login: err=%v resp=%#v", err, resp)
	}
	alias := resp.Auth.Alias
	if !maps.Equal(alias.CustomMetadata, want) {
		t.Errorf("alias custom metadata %v, want %v", alias.CustomMetadata, want)
	}
	wantMeta := map[string]string{
		"owner": "team-a", metaSAName: testkit.SAName, metaSANamespace: testkit.Namespace,
		metaSASecretName: "", metaSAUID: testkit.SAUID,
	}
	if !maps.Equal(alias.Metadata, wantMeta) {
		t.Errorf("alias metadata %v, want %v", alias.Metadata, wantMeta)
	}

	// Sent empty, it is cleared.
	e.mustDo(logical.UpdateOperation, "role/web", map[string]any{"alias_metadata": map[string]any{}})
	if got := e.mustDo(logical.ReadOperation, "role/web", nil).Data["alias_metadata"]; !reflect.DeepEqual(got, map[string]string{}) {
		t.Fatalf("alias_metadata sent empty reads %#v", got)
	}
}

// The role is found whatever the case of its name, the token names it as
// the client sent it (as Vault's method does), and the token renews.
func TestLoginRoleNameCase(t *testing.T) {
	e := configured(t)
	resp, err := e.login("Web", e.token())
	if err != nil || resp.IsError() {
		t.Fatalf("login: err=%v resp=%#v", err, resp)
	}
	if got := resp.Auth.Metadata[metaRole]; got != "Web" {
		t.Fatalf("role metadata %q, want the name as sent, Web", got)
	}
	renewed, err := e.b.HandleRequest(t.Context(), &logical.Request{
		Operation: logical.RenewOperation, Path: "login", Storage: e.storage, Auth: resp.Auth,
	})
	if err != nil || renewed == nil || renewed.Auth == nil {
		t.Fatalf("renewal of a token whose role was named Web: err=%v resp=%#v", err, renewed)
	}
}
