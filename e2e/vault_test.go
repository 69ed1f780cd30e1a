package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
)

func newVaultClient(addr, token string) (*vault.Client, error) {
	cfg := vault.DefaultConfig()
	cfg.Address = addr
	// A refused login must show as the refusal, not be retried into a
	// slower refusal.
	cfg.MaxRetries = 0
	c, err := vault.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.SetToken(token)
	return c, nil
}

// client is a Vault API client with the given token ("" for none).
func client(t *testing.T, token string) *vault.Client {
	t.Helper()
	c, err := newVaultClient(stk.VaultAddr, token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// reply is one HTTP exchange with Vault: what a curl user would see.
type reply struct {
	req    string
	status int
	raw    []byte
	body   map[string]any
}

func (r *reply) String() string {
	return fmt.Sprintf("%s -> HTTP %d %s", r.req, r.status, bytes.TrimSpace(r.raw))
}

// errors is Vault's "errors" list of an error reply.
func (r *reply) errors() []string {
	var out []string
	list, _ := r.body["errors"].([]any)
	for _, e := range list {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

func (r *reply) data() map[string]any {
	d, _ := r.body["data"].(map[string]any)
	return d
}

func (r *reply) auth() map[string]any {
	a, _ := r.body["auth"].(map[string]any)
	return a
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// call sends one request to Vault's HTTP API with X-Vault-Token (when token
// is not empty) and a JSON body (when body is not nil), and returns the raw
// reply. Assertions are the caller's: a 4xx is an answer, not an error.
func call(t *testing.T, method, path, token string, body any) *reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, stk.VaultAddr+"/v1/"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("%s %s: reading the reply: %v", method, path, err)
	}
	r := &reply{req: method + " /v1/" + path, status: resp.StatusCode, raw: raw}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("%s: reply is not JSON: %v", r, err)
		}
	}
	return r
}

// root sends a request with the root token.
func root(t *testing.T, method, path string, body any) *reply {
	t.Helper()
	return call(t, method, path, stk.root.Token(), body)
}

// expectStatus fails the test unless the reply has the status.
func expectStatus(t *testing.T, r *reply, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("want HTTP %d, got %s", want, r)
	}
}

// expectOK accepts the 200 or 204 Vault answers a successful write with.
func expectOK(t *testing.T, r *reply) {
	t.Helper()
	if r.status != http.StatusOK && r.status != http.StatusNoContent {
		t.Fatalf("want HTTP 200 or 204, got %s", r)
	}
}

// expectDenied checks the answer to a failed authentication: HTTP 403 with
// nothing but "permission denied", whatever the reason (it goes to the log).
func expectDenied(t *testing.T, r *reply) {
	t.Helper()
	if r.status != http.StatusForbidden || !slices.Equal(r.errors(), []string{"permission denied"}) {
		t.Fatalf(`want HTTP 403 {"errors":["permission denied"]}, got %s`, r)
	}
	if r.auth() != nil {
		t.Fatalf("a refused login carries auth: %s", r)
	}
}

// expectBadRequest checks an HTTP 400 whose error message names every one of
// the given words (the field at fault, what was wrong).
func expectBadRequest(t *testing.T, r *reply, words ...string) {
	t.Helper()
	if r.status != http.StatusBadRequest {
		t.Fatalf("want HTTP 400, got %s", r)
	}
	msg := strings.Join(r.errors(), "\n")
	for _, w := range words {
		if !strings.Contains(msg, w) {
			t.Fatalf("the error of %s does not mention %q", r, w)
		}
	}
	if r.auth() != nil {
		t.Fatalf("a rejected request carries auth: %s", r)
	}
}

// str reads a string field of a decoded JSON object.
func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// strs reads a list of strings of a decoded JSON object.
func strs(m map[string]any, key string) []string {
	var out []string
	list, _ := m[key].([]any)
	for _, v := range list {
		out = append(out, fmt.Sprint(v))
	}
	return out
}

// num reads a JSON number as an int64.
func num(m map[string]any, key string) int64 {
	f, _ := m[key].(float64)
	return int64(f)
}
