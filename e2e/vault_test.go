package e2e

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// client is a Vault API client with the given token ("" for none).
func client(t *testing.T, token string) *vault.Client {
	t.Helper()
	c, err := stk.Vault.WithToken(token).Client()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// call sends one request to the stack's Vault with the token ("" for none)
// and returns the reply. Assertions are the caller's: a 4xx is an answer,
// not an error. Every answer these tests look at is JSON, so one that is not
// fails the test here instead of passing an assertion on an empty body.
func call(t *testing.T, method, path, token string, body any) *realstack.Reply {
	t.Helper()
	r := stk.Vault.WithToken(token).Call(t, method, path, body)
	if r.Body == nil && len(bytes.TrimSpace(r.Raw)) > 0 {
		t.Fatalf("%s: reply is not JSON", r)
	}
	return r
}

// root sends a request with the root token.
func root(t *testing.T, method, path string, body any) *realstack.Reply {
	t.Helper()
	return call(t, method, path, stk.Vault.Token, body)
}

// expectStatus fails the test unless the reply has the status.
func expectStatus(t *testing.T, r *realstack.Reply, want int) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("want HTTP %d, got %s", want, r)
	}
}

// expectOK accepts the 200 or 204 Vault answers a successful write with.
func expectOK(t *testing.T, r *realstack.Reply) {
	t.Helper()
	if !r.OK() {
		t.Fatalf("want HTTP 200 or 204, got %s", r)
	}
}

// expectBadRequest checks an HTTP 400 whose error message names every one of
// the given words (the field at fault, what was wrong).
func expectBadRequest(t *testing.T, r *realstack.Reply, words ...string) {
	t.Helper()
	if r.Status != http.StatusBadRequest {
		t.Fatalf("want HTTP 400, got %s", r)
	}
	msg := r.ErrorText()
	for _, w := range words {
		if !strings.Contains(msg, w) {
			t.Fatalf("the error of %s does not mention %q", r, w)
		}
	}
	if r.Auth() != nil {
		t.Fatalf("a rejected request carries auth: %s", r)
	}
}
