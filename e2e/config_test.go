package e2e

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

func TestConfigCreateReadUpdate(t *testing.T) {
	t.Parallel()
	m := newMount(t)
	cfgPath := "auth/" + m.path + "/config"

	// Nothing is configured yet: no config to read, and no login possible.
	expectStatus(t, root(t, http.MethodGet, cfgPath, nil), http.StatusNotFound)
	w := stk.NewWorkload(t, "app", nil)
	m.bindRole(t, "app", w, nil)
	// An operator's omission, not the workload's fault: HTTP 500 (as in
	// Vault's built-in method) with a message that says what is missing.
	if r := m.login(t, "app", vaultToken(t, w)); r.Status != http.StatusInternalServerError ||
		!strings.Contains(strings.Join(r.Errors(), "\n"), "config") {
		t.Fatalf("login on an unconfigured mount: want HTTP 500 naming the missing config, got %s", r)
	}

	m.configure(t, nil)
	r := root(t, http.MethodGet, cfgPath, nil)
	expectStatus(t, r, http.StatusOK)
	d := r.Data()
	if d.Str("kubernetes_host") != stk.KubeHost || d.Str("kubernetes_ca_cert") != stk.KubeCA {
		t.Errorf("config read does not return the host and CA written: %s", r)
	}
	if d["token_reviewer_jwt_set"] != true {
		t.Errorf("token_reviewer_jwt_set: want true, got %s", r)
	}
	if d["disable_iss_validation"] != true || d["disable_local_ca_jwt"] != false ||
		d["use_annotations_as_alias_metadata"] != false || d.Str("issuer") != "" ||
		len(d.Strs("pem_keys")) != 0 {
		t.Errorf("config defaults: want disable_iss_validation=true, the rest unset, got %s", r)
	}
	expectNoReviewerJWT(t, r)
	// The config works: a login goes through.
	m.mustLogin(t, "app", vaultToken(t, w))

	// A write replaces the whole config: fields left out go back to their
	// defaults, and the reviewer JWT left out is gone.
	expectOK(t, root(t, http.MethodPost, cfgPath, map[string]any{
		"kubernetes_host":        stk.KubeHost,
		"kubernetes_ca_cert":     stk.KubeCA,
		"pem_keys":               []string{stk.SAPubPEM},
		"issuer":                 stk.SAIssuer,
		"disable_iss_validation": false,
	}))
	r = root(t, http.MethodGet, cfgPath, nil)
	expectStatus(t, r, http.StatusOK)
	d = r.Data()
	if d["token_reviewer_jwt_set"] != false || d.Str("issuer") != stk.SAIssuer ||
		d["disable_iss_validation"] != false || len(d.Strs("pem_keys")) != 1 {
		t.Errorf("config after a replacing write: %s", r)
	}

	// Back to the reviewer, now with the local signature and issuer checks
	// on: the apiserver's own tokens still log in.
	m.configure(t, map[string]any{
		"pem_keys":               []string{stk.SAPubPEM},
		"issuer":                 stk.SAIssuer,
		"disable_iss_validation": false,
	})
	r = root(t, http.MethodGet, cfgPath, nil)
	expectNoReviewerJWT(t, r)
	m.mustLogin(t, "app", vaultToken(t, w))

	// A wrong issuer, checked locally, refuses the same token.
	m.configure(t, map[string]any{"issuer": "https://issuer.invalid", "disable_iss_validation": false})
	realstack.ExpectDenied(t, m.login(t, "app", vaultToken(t, w)))

	// There is no delete: like Vault's built-in method, config can only be
	// replaced. The config stays.
	if r := root(t, http.MethodDelete, cfgPath, nil); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE config: want HTTP 405, got %s", r)
	}
	expectStatus(t, root(t, http.MethodGet, cfgPath, nil), http.StatusOK)
}

// A bad config is refused with a message naming the field, and the config
// in force stays as it was.
func TestConfigRejectsBadInput(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	cfgPath := "auth/" + m.path + "/config"
	before := root(t, http.MethodGet, cfgPath, nil)
	expectStatus(t, before, http.StatusOK)

	cases := []struct {
		name  string
		field map[string]any
		words []string
	}{
		{"no host", map[string]any{"kubernetes_host": ""}, []string{"kubernetes_host"}},
		{"CA not PEM", map[string]any{"kubernetes_ca_cert": "not a certificate"}, []string{"kubernetes_ca_cert"}},
		{"pem key not PEM", map[string]any{"pem_keys": []string{"not a key"}}, []string{"pem_keys"}},
		{"pem key a private key", map[string]any{"pem_keys": []string{privateKeyPEM(t)}}, []string{"pem_keys"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := stk.ReviewerConfig(nil)
			for k, v := range tc.field {
				cfg[k] = v
			}
			expectBadRequest(t, root(t, http.MethodPost, cfgPath, cfg), tc.words...)
		})
	}
	after := root(t, http.MethodGet, cfgPath, nil)
	if !reflect.DeepEqual(after.Data(), before.Data()) {
		t.Errorf("a rejected write changed the config:\nbefore %s\nafter  %s", before, after)
	}
}

// expectNoReviewerJWT checks a reply holds neither the reviewer JWT nor a
// field that could carry it.
func expectNoReviewerJWT(t *testing.T, r *realstack.Reply) {
	t.Helper()
	if strings.Contains(string(r.Raw), stk.ReviewerJWT) {
		t.Fatalf("the reviewer JWT is in the reply to %s", r.Req)
	}
	if _, ok := r.Data()["token_reviewer_jwt"]; ok {
		t.Fatalf("%s returns a token_reviewer_jwt field", r.Req)
	}
	keys := make([]string, 0, len(r.Data()))
	for k := range r.Data() {
		keys = append(keys, k)
	}
	if !slices.Contains(keys, "token_reviewer_jwt_set") {
		t.Fatalf("%s does not say whether a reviewer JWT is set: %s", r.Req, r)
	}
}
