package clusterkeys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/hashicorp/go-hclog"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// fakeFetcher stands in for the API server: it serves a body or an error
// per path, counts the calls, and can hold every call until released.
type fakeFetcher struct {
	mu     sync.Mutex
	bodies map[string][]byte
	errs   map[string]error
	calls  map[string]int
	paths  []string
	// gate, when set, holds each call until it is closed or the call's
	// context ends; started receives each path as its call begins.
	gate    chan struct{}
	started chan string
}

func newFakeFetcher() *fakeFetcher {
	return &fakeFetcher{bodies: map[string][]byte{}, errs: map[string]error{}, calls: map[string]int{}}
}

var errAPIDown = errors.New("fake API server: connection refused")

func (f *fakeFetcher) Get(ctx context.Context, path string) ([]byte, error) {
	f.mu.Lock()
	f.calls[path]++
	f.paths = append(f.paths, path)
	gate, started := f.gate, f.started
	f.mu.Unlock()
	if started != nil {
		started <- path
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.errs[path]; err != nil {
		return nil, err
	}
	body, ok := f.bodies[path]
	if !ok {
		return nil, errors.New("fake API server: 404")
	}
	return bytes.Clone(body), nil
}

func (f *fakeFetcher) serve(path string, body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bodies[path] = body
	delete(f.errs, path)
}

func (f *fakeFetcher) fail(path string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs[path] = err
}

func (f *fakeFetcher) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[path]
}

func (f *fakeFetcher) hold() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gate = make(chan struct{})
	f.started = make(chan string, 1024)
}

// watch reports each call on started without holding it.
func (f *fakeFetcher) watch() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started = make(chan string, 1024)
}

func (f *fakeFetcher) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.gate)
	f.gate = nil
}

const (
	testMinRefresh   = 5 * time.Second
	testRefreshEvery = time.Minute
)

type harness struct {
	set   *Set
	api   *fakeFetcher
	clock *testkit.Clock
	log   *testkit.SyncBuffer
}

// newHarness returns a Set over a fake API server that publishes keys (by
// kid) and testkit.Issuer, with a fake clock and a captured log.
func newHarness(t *testing.T, keys map[string]crypto.PublicKey) *harness {
	t.Helper()
	h := &harness{api: newFakeFetcher(), clock: newFakeClock(), log: &testkit.SyncBuffer{}}
	h.api.serve(jwksPath, jwksDoc(t, keys))
	h.api.serve(discoveryPath, []byte(`{"issuer":"`+testkit.Issuer+`","jwks_uri":"https://10.0.0.1:6443/openid/v1/jwks"}`))
	h.set = New(h.api, Options{
		MinRefresh:   testMinRefresh,
		RefreshEvery: testRefreshEvery,
		Now:          h.clock.Now,
		Logger:       hclog.New(&hclog.LoggerOptions{Output: h.log, Level: hclog.Debug}),
	})
	t.Cleanup(h.set.Close)
	return h
}

// settle waits for the fetches the test's own calls started.
func (h *harness) settle() { h.set.fetches.Wait() }

// mustKey asks for kid and fails unless the answer is want.
func (h *harness) mustKey(t *testing.T, kid string, want crypto.PublicKey) {
	t.Helper()
	got, err := h.set.Key(context.Background(), kid)
	if err != nil {
		t.Fatalf("Key(%q): %v", kid, err)
	}
	if !sameKey(got, want) {
		t.Fatalf("Key(%q) returned another key", kid)
	}
}

// mustUnknown asks for kid and fails unless the answer is ErrUnknownKey.
func (h *harness) mustUnknown(t *testing.T, kid string) {
	t.Helper()
	got, err := h.set.Key(context.Background(), kid)
	if !errors.Is(err, ErrUnknownKey) || got != nil {
		t.Fatalf("Key(%q) = %v, %v; want ErrUnknownKey", kid, got, err)
	}
}

func (h *harness) wantFetches(t *testing.T, path string, n int) {
	t.Helper()
	if got := h.api.count(path); got != n {
		t.Fatalf("%s fetched %d times, want %d", path, got, n)
	}
}

// jwksDoc publishes public keys by kid as the API server does.
func jwksDoc(t testing.TB, keys map[string]crypto.PublicKey) []byte {
	t.Helper()
	set := struct {
		Keys []jose.JSONWebKey `json:"keys"`
	}{Keys: []jose.JSONWebKey{}}
	for kid, key := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: key, KeyID: kid, Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jwkJSON is one key as a JSON object, with extra members merged in.
func jwkJSON(t testing.TB, k jose.JSONWebKey, extra map[string]any) string {
	t.Helper()
	b, err := k.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if len(extra) == 0 {
		return string(b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for name, v := range extra {
		if v == nil {
			delete(m, name)
		} else {
			m[name] = v
		}
	}
	b, err = json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func ecKey(t testing.TB, curve elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pemKey reads a PEM public or private key from testdata.
func pemKey(t testing.TB, name string) any {
	t.Helper()
	block, _ := pem.Decode(readTestdata(t, name))
	if block == nil {
		t.Fatalf("%s: no PEM block", name)
	}
	var key any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		t.Fatalf("%s: PEM type %q", name, block.Type)
	}
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return key
}

func mustContain(t *testing.T, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Fatalf("%q does not contain %q", s, sub)
	}
}

// jwkOf is a signature JWK of a key (public or private) under kid.
func jwkOf(key any, kid string) jose.JSONWebKey {
	return jose.JSONWebKey{Key: key, KeyID: kid, Use: "sig"}
}

func jwkOfPub(key any, kid, use string) jose.JSONWebKey {
	return jose.JSONWebKey{Key: key, KeyID: kid, Use: use}
}

// newFakeClock is the time a Set sees; tests move it, nothing sleeps.
func newFakeClock() *testkit.Clock {
	return testkit.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
}
