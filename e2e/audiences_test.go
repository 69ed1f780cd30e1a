package e2e

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// A role with several audiences takes a token the real API server minted
// for the second of them, and refuses one minted for neither; the
// TokenReview asks the API server for the role's audiences, so it
// authenticates the token for the one it carries. With include_token_id,
// the token's credential ID (its jti) is in the Vault token's metadata.
func TestRoleAudiencesAndTokenID(t *testing.T) {
	w := stk.NewWorkload(t, "aud", nil)
	m := configuredMount(t)
	m.bindRole(t, "app", w, map[string]any{"audience": "", "audiences": "vault,custom-audience", "include_token_id": true})

	second := mintToken(t, w.Namespace, w.SA.Name, realstack.TokenOptions{Audiences: []string{"custom-audience"}})
	a := m.mustLogin(t, "app", second)
	if got, want := a.StringMap("metadata")["service_account_token_id"], jtiOf(t, second); got == "" || got != want {
		t.Fatalf("service_account_token_id %q, want the token's jti %q", got, want)
	}
	m.mustLogin(t, "app", mintToken(t, w.Namespace, w.SA.Name, realstack.TokenOptions{Audiences: []string{"vault"}}))

	neither := mintToken(t, w.Namespace, w.SA.Name, realstack.TokenOptions{Audiences: []string{"another-service"}})
	expectStatus(t, m.login(t, "app", neither), http.StatusForbidden)

	// Without include_token_id the metadata is as before.
	m.bindRole(t, "plain", w, nil)
	if _, ok := m.mustLogin(t, "plain", mintToken(t, w.Namespace, w.SA.Name, realstack.TokenOptions{Audiences: []string{"vault"}})).StringMap("metadata")["service_account_token_id"]; ok {
		t.Fatal("service_account_token_id in the metadata of a role without include_token_id")
	}
}

// jtiOf reads a JWT's jti claim without verifying it.
func jtiOf(t *testing.T, jwt string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(body, &claims); err != nil {
		t.Fatal(err)
	}
	return claims.JTI
}
