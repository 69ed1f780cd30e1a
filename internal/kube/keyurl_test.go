package kube

import (
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestOrigin(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"https://h.example/x", "h.example"},
		{"https://h.example:443/x", "https://H.EXAMPLE"},
		{"http://h.example/x", "http://h.example:80"},
		{"https://[::1]:6443/openid/v1/jwks", "[::1]:6443"},
	} {
		if Origin(tc.a) == "" || Origin(tc.a) != Origin(tc.b) {
			t.Errorf("Origin(%q)=%q, Origin(%q)=%q: want equal", tc.a, Origin(tc.a), tc.b, Origin(tc.b))
		}
	}
	for _, tc := range []struct{ a, b string }{
		{"https://h.example/x", "http://h.example/x"},
		{"https://h.example/x", "https://h.example:8443/x"},
		{"https://h.example/x", "https://h.example.evil/x"},
		{"https://127.0.0.1:6443", "https://localhost:6443"},
	} {
		if Origin(tc.a) == Origin(tc.b) {
			t.Errorf("Origin(%q) = Origin(%q) = %q: want different", tc.a, tc.b, Origin(tc.a))
		}
	}
}

// recorder is a TLS server that records the Authorization header of each
// request and answers with handler.
type recorder struct {
	srv     *httptest.Server
	caPEM   string
	mu      sync.Mutex
	headers []string
}

func newRecorder(t *testing.T, handler http.HandlerFunc) *recorder {
	t.Helper()
	r := &recorder{}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.headers = append(r.headers, req.Header.Get("Authorization"))
		r.mu.Unlock()
		handler(w, req)
	}))
	t.Cleanup(r.srv.Close)
	r.caPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.srv.Certificate().Raw}))
	return r
}

func (r *recorder) sent() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.headers...)
}

// GetURL carries the client's credential on its own origin and refuses
// any other origin without a request.
func TestGetURL(t *testing.T) {
	api := newRecorder(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"keys":[]}`)) })
	k := testClient(t, api.srv, StaticToken("reviewer"), 5*time.Second)
	if _, err := k.GetURL(t.Context(), api.srv.URL+"/openid/v1/jwks"); err != nil {
		t.Fatal(err)
	}
	if got := api.sent(); len(got) != 1 || got[0] != "Bearer reviewer" {
		t.Fatalf("sent %q", got)
	}
	other := newRecorder(t, func(w http.ResponseWriter, _ *http.Request) {})
	if _, err := k.GetURL(t.Context(), other.srv.URL+"/keys"); err == nil {
		t.Fatal("GetURL fetched another origin")
	}
	if len(other.sent()) != 0 {
		t.Fatal("GetURL sent a request to another origin")
	}
	// Without a reviewer, the login JWT is the credential: a call on no
	// login's behalf carries none.
	self := testClient(t, api.srv, LoginJWT{}, 5*time.Second)
	if _, err := self.GetURL(t.Context(), api.srv.URL+"/openid/v1/jwks"); err != nil {
		t.Fatal(err)
	}
	if got := api.sent(); got[len(got)-1] != "" {
		t.Fatalf("a call without a reviewer sent %q", got[len(got)-1])
	}
}

// The anonymous getter sends no credential, refuses redirects, bounds the
// body, and reads a non-2xx answer as an *APIError with its status.
func TestAnonymousGetter(t *testing.T) {
	big := strings.Repeat("x", maxResponseBytes+1)
	r := newRecorder(t, func(w http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/redirect":
			http.Redirect(w, req, "https://elsewhere.example/keys", http.StatusFound)
		case "/forbidden":
			http.Error(w, "no", http.StatusForbidden)
		case "/big":
			_, _ = w.Write([]byte(big))
		default:
			_, _ = w.Write([]byte(`{"keys":[]}`))
		}
	})
	g, err := NewAnonymousGetter(r.caPEM, "", 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if body, err := g.Get(t.Context(), r.srv.URL+"/keys"); err != nil || string(body) != `{"keys":[]}` {
		t.Fatalf("body %q err %v", body, err)
	}
	var e *APIError
	if _, err := g.Get(t.Context(), r.srv.URL+"/redirect"); !errors.As(err, &e) || e.Redirect == nil {
		t.Fatalf("a redirect: %v", err)
	}
	if _, err := g.Get(t.Context(), r.srv.URL+"/forbidden"); Status(err) != http.StatusForbidden {
		t.Fatalf("a 403: %v", err)
	}
	if _, err := g.Get(t.Context(), r.srv.URL+"/big"); !errors.Is(err, errResponseTooLarge) {
		t.Fatalf("an oversized body: %v", err)
	}
	for _, h := range r.sent() {
		if h != "" {
			t.Fatalf("the anonymous getter sent %q", h)
		}
	}
	// Without the server's CA, its certificate does not verify.
	g2, err := NewAnonymousGetter("", "", 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g2.Close()
	if _, err := g2.Get(t.Context(), r.srv.URL+"/keys"); !errors.As(err, &e) || !e.TLS {
		t.Fatalf("an unknown CA: %v", err)
	}
}
