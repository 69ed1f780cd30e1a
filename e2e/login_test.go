package e2e

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// A login answers in the shape of Vault's documented sample for the
// kubernetes method: an auth block with the token, its policies, the
// service account as metadata, a renewable lease, and no data.
func TestLoginResponseShape(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "billing", nil)
	m.bindRole(t, "billing", w, map[string]any{"token_policies": "billing-read", "token_ttl": "15m"})

	r := m.login(t, "billing", vaultToken(t, w))
	expectStatus(t, r, http.StatusOK)
	if r.Body["data"] != nil || r.Body.Str("lease_id") != "" || r.Body["renewable"] != false {
		t.Errorf("a login reply carries a secret: %s", r)
	}
	a := r.Auth()
	for _, key := range []string{"client_token", "accessor", "entity_id"} {
		if a.Str(key) == "" {
			t.Errorf("auth.%s is empty: %s", key, r)
		}
	}
	if got := a.Strs("policies"); !slices.Equal(got, []string{"billing-read", "default"}) {
		t.Errorf("auth.policies = %q, want [billing-read default]", got)
	}
	if got := a.Strs("token_policies"); !slices.Equal(got, []string{"billing-read", "default"}) {
		t.Errorf("auth.token_policies = %q, want [billing-read default]", got)
	}
	if a.Num("lease_duration") != 900 || a["renewable"] != true || a.Str("token_type") != "service" {
		t.Errorf("auth lease: want 900 s, renewable, a service token; got %s", r)
	}
	wantMeta := map[string]string{
		"role":                        "billing",
		"service_account_name":        w.SA.Name,
		"service_account_namespace":   w.Namespace,
		"service_account_secret_name": "", // projected tokens name no secret
		"service_account_uid":         string(w.SA.UID),
	}
	if got := a.StringMap("metadata"); !maps.Equal(got, wantMeta) {
		t.Errorf("auth.metadata = %v, want %v", got, wantMeta)
	}
}

// The token is what a workload uses afterwards: lookup-self shows the
// role's policies, the same metadata, and the login path.
func TestLoginTokenLookup(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "worker", nil)
	m.bindRole(t, "worker", w, map[string]any{"token_policies": "p1,p2", "token_ttl": "10m", "token_num_uses": 7})
	a := m.mustLogin(t, "worker", vaultToken(t, w))
	tok := a.Str("client_token")

	r := call(t, http.MethodGet, "auth/token/lookup-self", tok, nil)
	expectStatus(t, r, http.StatusOK)
	d := r.Data()
	if got := d.Strs("policies"); !slices.Equal(got, []string{"default", "p1", "p2"}) {
		t.Errorf("lookup policies = %q, want [default p1 p2]", got)
	}
	if got, want := d.StringMap("meta"), a.StringMap("metadata"); !maps.Equal(got, want) {
		t.Errorf("lookup meta = %v, want the login's metadata %v", got, want)
	}
	if d.Str("path") != "auth/"+m.path+"/login" || d.Str("entity_id") != a.Str("entity_id") ||
		d.Str("accessor") != a.Str("accessor") {
		t.Errorf("lookup: path, entity or accessor differ from the login: %s", r)
	}
	if !strings.Contains(d.Str("display_name"), w.Namespace+"-"+w.SA.Name) {
		t.Errorf("display_name %q does not name %s-%s", d.Str("display_name"), w.Namespace, w.SA.Name)
	}
	// The lookup itself used one of the seven uses.
	if ttl, uses := d.Num("ttl"), d.Num("num_uses"); ttl <= 0 || ttl > 600 || uses != 6 {
		t.Errorf("lookup ttl %d (want 1..600), num_uses %d (want 6)", ttl, uses)
	}
}

// The entity alias is named as the role's alias_name_source says, carries
// the service account as metadata, and a second login finds the same entity.
func TestLoginEntityAlias(t *testing.T) {
	t.Parallel()
	cases := []struct {
		source string
		name   func(w realstack.Workload) string
	}{
		{"", func(w realstack.Workload) string { return string(w.SA.UID) }}, // the default
		{"serviceaccount_uid", func(w realstack.Workload) string { return string(w.SA.UID) }},
		{"serviceaccount_name", func(w realstack.Workload) string { return w.Namespace + "/" + w.SA.Name }},
	}
	for _, tc := range cases {
		t.Run("source="+tc.source, func(t *testing.T) {
			t.Parallel()
			m := configuredMount(t)
			w := stk.NewWorkload(t, "svc", nil)
			extra := map[string]any{}
			if tc.source != "" {
				extra["alias_name_source"] = tc.source
			}
			m.bindRole(t, "svc", w, extra)

			first := m.mustLogin(t, "svc", vaultToken(t, w))
			alias := entityAlias(t, m, first.Str("entity_id"))
			if got := alias.Str("name"); got != tc.name(w) {
				t.Errorf("alias name = %q, want %q", got, tc.name(w))
			}
			meta := alias.StringMap("metadata")
			for k, v := range map[string]string{
				"service_account_name":      w.SA.Name,
				"service_account_namespace": w.Namespace,
				"service_account_uid":       string(w.SA.UID),
			} {
				if meta[k] != v {
					t.Errorf("alias metadata %s = %q, want %q (all: %v)", k, meta[k], v, meta)
				}
			}

			second := m.mustLogin(t, "svc", vaultToken(t, w))
			if second.Str("entity_id") != first.Str("entity_id") {
				t.Errorf("a second login of the same service account made another entity: %s then %s",
					first.Str("entity_id"), second.Str("entity_id"))
			}
		})
	}
}

// entityAlias returns the alias of entity id that belongs to mount m.
func entityAlias(t *testing.T, m *mount, entityID string) realstack.Object {
	t.Helper()
	if entityID == "" {
		t.Fatal("login made no entity")
	}
	r := root(t, http.MethodGet, "identity/entity/id/"+entityID, nil)
	expectStatus(t, r, http.StatusOK)
	aliases, _ := r.Data()["aliases"].([]any)
	for _, a := range aliases {
		alias, _ := a.(map[string]any)
		if realstack.Object(alias).Str("mount_accessor") == m.accessor {
			return alias
		}
	}
	t.Fatalf("entity %s has no alias on auth/%s (accessor %s): %s", entityID, m.path, m.accessor, r)
	return nil
}
