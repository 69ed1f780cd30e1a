package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// explainer is a Vault token whose only policy grants update on the
// mount's explain path, as the README tells operators to write it.
func (m *mount) explainer(t *testing.T) string {
	t.Helper()
	name := "explain-" + m.path
	policy := `path "auth/` + m.path + `/explain" { capabilities = ["update"] }`
	expectOK(t, root(t, http.MethodPut, "sys/policies/acl/"+name, map[string]any{"policy": policy}))
	t.Cleanup(func() { root(t, http.MethodDelete, "sys/policies/acl/"+name, nil) })
	r := root(t, http.MethodPost, "auth/token/create", map[string]any{"policies": []string{name}, "ttl": "10m"})
	expectStatus(t, r, http.StatusOK)
	return r.Auth().Str("client_token")
}

func (m *mount) explain(t *testing.T, token, role, jwt string) *realstack.Reply {
	t.Helper()
	return call(t, http.MethodPost, "auth/"+m.path+"/explain", token, map[string]any{"role": role, "jwt": jwt})
}

// explained checks an answer and returns the step that decided it: the
// first refused or faulted one, or nil when all passed. The JWT is never
// in the answer.
func explained(t *testing.T, r *realstack.Reply, jwt, wantOutcome string) realstack.Object {
	t.Helper()
	expectStatus(t, r, http.StatusOK)
	if strings.Contains(string(r.Raw), jwt) {
		t.Fatalf("the JWT is in the answer: %s", r)
	}
	d := r.Data()
	if d.Str("outcome") != wantOutcome || d.Str("verdict") == "" {
		t.Fatalf("outcome %q verdict %q, want outcome %s: %s", d.Str("outcome"), d.Str("verdict"), wantOutcome, r)
	}
	steps, _ := d["steps"].([]any)
	if len(steps) == 0 {
		t.Fatalf("no steps: %s", r)
	}
	for _, s := range steps {
		step := realstack.Object(s.(map[string]any))
		if o := step.Str("outcome"); o == "refused" || o == "fault" {
			return step
		}
	}
	return nil
}

// explain on the real stack: it needs a token whose policy grants it, a
// good token is explained as passing with the identity and the token the
// login gives, and each refusal of the refusal matrix names the step and
// the reason code.
func TestExplain(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "app", nil)
	m.bindRole(t, "app", w, map[string]any{"token_policies": "app-read"})
	m.bindRole(t, "elsewhere", w, map[string]any{"token_bound_cidrs": "10.0.0.0/8,192.0.2.0/24"})
	tok := m.explainer(t)
	good := vaultToken(t, w)

	// Not for the unauthenticated caller, nor for a token without the policy.
	expectStatus(t, m.explain(t, "", "app", good), http.StatusForbidden)
	r := root(t, http.MethodPost, "auth/token/create", map[string]any{"policies": []string{"default"}, "ttl": "10m"})
	expectStatus(t, r, http.StatusOK)
	expectStatus(t, m.explain(t, r.Auth().Str("client_token"), "app", good), http.StatusForbidden)

	r = m.explain(t, tok, "app", good)
	if step := explained(t, r, good, "passed"); step != nil {
		t.Fatalf("step %v failed: %s", step, r)
	}
	d := r.Data()
	id := realstack.Object(d["identity"].(map[string]any))
	if id.Str("service_account_name") != w.SA.Name || id.Str("service_account_namespace") != w.Namespace ||
		id.Str("service_account_uid") != string(w.SA.UID) || id.Str("vouched_for_by") != "token_review" {
		t.Fatalf("identity %v", id)
	}
	token := realstack.Object(d["token"].(map[string]any))
	a := m.mustLogin(t, "app", good)
	if got, want := strings.Join(token.Strs("policies"), ","), strings.Join(a.Strs("token_policies"), ","); got != want {
		t.Fatalf("explain says policies %s, the login gives %s", got, want)
	}
	if token.StringMap("metadata")["service_account_uid"] != a.StringMap("metadata")["service_account_uid"] {
		t.Fatalf("explain's metadata %v, the login's %v", token.StringMap("metadata"), a.StringMap("metadata"))
	}

	other := stk.NewServiceAccount(t, w.Namespace, "intruder", nil)
	elsewhere := stk.NewWorkload(t, w.SA.Name, nil)
	future := time.Now().Add(5 * time.Minute)
	cases := []struct {
		name, role, jwt, step, reason string
	}{
		{"wrong service account name", "app", mintToken(t, w.Namespace, other.Name, realstack.TokenOptions{Audiences: []string{"vault"}}), "bindings", "service_account_name_not_bound"},
		{"wrong namespace", "app", vaultToken(t, elsewhere), "bindings", "namespace_not_bound"},
		{"audience mismatch", "app", mintToken(t, w.Namespace, w.SA.Name, realstack.TokenOptions{Audiences: []string{"not-vault"}}), "audience", "audience_mismatch"},
		{"apiserver audience", "app", mintToken(t, w.Namespace, w.SA.Name, realstack.TokenOptions{}), "audience", "audience_mismatch"},
		{"expired", "app", signRS256(t, stk.SAKey, claimsFor(w.SA, time.Now().Add(-5*time.Minute))), "times", "token_expired"},
		{"unknown signing key", "app", signRS256(t, newRSAKey(t), claimsFor(w.SA, future)), "review", "token_review_rejected"},
		{"alg none", "app", unsignedJWT(t, claimsFor(w.SA, future)), "parse", "algorithm_not_allowed"},
		{"alg HS256", "app", signHS256(t, []byte(stk.SAPubPEM), claimsFor(w.SA, future)), "parse", "algorithm_not_allowed"},
		{"no alg", "app", "e30.e30.e30", "parse", "algorithm_not_allowed"},
		{"garbage", "app", "a.b.c", "parse", "invalid_input"},
		{"client address", "elsewhere", good, "source_address", "source_address_not_allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			step := explained(t, m.explain(t, tok, tc.role, tc.jwt), tc.jwt, "refused")
			if step == nil || step.Str("name") != tc.step || step.Str("reason") != tc.reason || step.Str("detail") == "" {
				t.Fatalf("deciding step %v, want %s refused with %s", step, tc.step, tc.reason)
			}
		})
	}

	// With pem_keys, another key is refused by the signature step.
	pm := newMount(t)
	pm.configure(t, map[string]any{"pem_keys": []string{stk.SAPubPEM}})
	pm.bindRole(t, "app", w, nil)
	forged := signRS256(t, newRSAKey(t), claimsFor(w.SA, future))
	step := explained(t, pm.explain(t, pm.explainer(t), "app", forged), forged, "refused")
	if step == nil || step.Str("name") != "signature" || step.Str("reason") != "signature_invalid" {
		t.Fatalf("deciding step %v, want signature refused with signature_invalid", step)
	}
}
