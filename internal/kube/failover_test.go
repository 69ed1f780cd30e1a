package kube

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	authv1 "k8s.io/api/authentication/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// apiServer is one address of a test API server: it counts the calls it
// gets and answers as its behavior says.
type apiServer struct {
	srv    *httptest.Server
	calls  atomic.Int64
	mu     sync.Mutex
	answer string // "ok", "503", "500", "502", "429", "freeze", "closed"
	thaw   chan struct{}
}

func newAPIServer(t *testing.T, answer string) *apiServer {
	t.Helper()
	a := &apiServer{answer: answer, thaw: make(chan struct{})}
	a.srv = httptest.NewTLSServer(http.HandlerFunc(a.serve))
	t.Cleanup(func() {
		a.unfreeze()
		a.srv.Close()
	})
	if answer == "closed" {
		a.srv.Close()
	}
	return a
}

func (a *apiServer) set(answer string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.answer = answer
}

func (a *apiServer) unfreeze() {
	a.mu.Lock()
	defer a.mu.Unlock()
	select {
	case <-a.thaw:
	default:
		close(a.thaw)
	}
}

func (a *apiServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/readyz" {
		a.mu.Lock()
		behavior := a.answer
		a.mu.Unlock()
		if behavior != "ok" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		return
	}
	a.calls.Add(1)
	a.mu.Lock()
	behavior := a.answer
	a.mu.Unlock()
	switch behavior {
	case "ok":
		answer(http.StatusCreated, authv1.TokenReviewStatus{
			Authenticated: true, User: authv1.UserInfo{Username: "system:serviceaccount:default:app"},
		})(w, r)
	case "freeze":
		select {
		case <-a.thaw:
		case <-r.Context().Done():
		}
	default:
		var code int
		_, _ = fmt.Sscan(behavior, &code)
		status(code)(w, r)
	}
}

// poolClient is a client of the servers' addresses, in order.
func poolClient(t *testing.T, after time.Duration, servers ...*apiServer) *Client {
	t.Helper()
	hosts := make([]string, len(servers))
	for i, s := range servers {
		hosts[i] = s.srv.URL
	}
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: servers[0].srv.Certificate().Raw})
	k, err := New(Options{
		Host: hosts[0], Hosts: hosts, CAPEM: string(pemCert), Credential: StaticToken("reviewer"),
		Timeout: 5 * time.Second, FailoverAfter: after,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

// The invariant of failover, over every way an address can fail and every
// position it can hold: a call is answered by the first healthy address
// after the failed ones, the failed ones are out of turn for the next call
// (they get no call of a login until a probe brings them back), and a call
// with no healthy address fails.
func TestFailoverInvariant(t *testing.T) {
	failures := []string{"503", "500", "502", "429", "freeze", "closed"}
	layouts := [][]string{}
	for _, f := range failures {
		layouts = append(layouts,
			[]string{f, "ok"}, []string{f, f, "ok"}, []string{"ok", f}, []string{f, "ok", f}, []string{f, f})
	}
	for _, layout := range layouts {
		t.Run(strings.Join(layout, ","), func(t *testing.T) {
			t.Parallel()
			servers := make([]*apiServer, len(layout))
			for i, answer := range layout {
				servers[i] = newAPIServer(t, answer)
			}
			// The real bound: a healthy test server answers well within it
			// even under -race on a loaded machine, which a tighter one
			// did not (it took a healthy address out of turn).
			k := poolClient(t, FailoverAfter, servers...)
			healthy := indexOf(layout, "ok")

			_, err := k.Review(t.Context(), "jwt", nil)
			if healthy < 0 {
				if err == nil {
					t.Fatal("a call with no healthy address succeeded")
				}
				return
			}
			if err != nil {
				t.Fatalf("first call: %v", err)
			}
			before := callCounts(servers)
			if _, err := k.Review(t.Context(), "jwt", nil); err != nil {
				t.Fatalf("second call: %v", err)
			}
			after := callCounts(servers)
			for i := range servers {
				want := before[i]
				if i == healthy {
					want++
				}
				if after[i] != want {
					t.Fatalf("address %d (%s) got %d calls on the second call, want %d: calls %v -> %v",
						i, layout[i], after[i]-before[i], want-before[i], before, after)
				}
			}
			states := k.Addresses()
			for i := range states {
				if wantDown := i < healthy; states[i].Down != wantDown {
					t.Fatalf("address %d (%s) down=%v, want %v", i, layout[i], states[i].Down, wantDown)
				}
			}
		})
	}
}

func indexOf(list []string, v string) int {
	for i, x := range list {
		if x == v {
			return i
		}
	}
	return -1
}

func callCounts(servers []*apiServer) []int64 {
	out := make([]int64, len(servers))
	for i, s := range servers {
		out[i] = s.calls.Load()
	}
	return out
}

// With every address down, a call fails at once, without dialing, and
// its error names each address; once a probe finds one answering, calls go
// there again.
func TestEveryAddressDownFailsAtOnceThenRecovers(t *testing.T) {
	a, b := newAPIServer(t, "503"), newAPIServer(t, "503")
	k := poolClient(t, time.Second, a, b)
	if _, err := k.Review(t.Context(), "jwt", nil); err == nil {
		t.Fatal("call succeeded with every address failing")
	}
	calls := callCounts([]*apiServer{a, b})
	_, err := k.Review(t.Context(), "jwt", nil)
	var down *AllDownError
	if !errors.As(err, &down) {
		t.Fatalf("error %v, want an *AllDownError", err)
	}
	if got := callCounts([]*apiServer{a, b}); got[0] != calls[0] || got[1] != calls[1] {
		t.Fatalf("calls %v -> %v: a call was sent with every address down", calls, got)
	}
	for _, s := range []*apiServer{a, b} {
		if !strings.Contains(err.Error(), s.srv.URL) {
			t.Fatalf("error %q does not name %s", err, s.srv.URL)
		}
	}

	b.set("ok")
	if !testkit.Eventually(5*time.Second, func() bool {
		_, err := k.Review(t.Context(), "jwt", nil)
		return err == nil
	}) {
		t.Fatal("the answering address was not brought back by its probe")
	}
	if st := k.Addresses(); !st[0].Down || st[1].Down {
		t.Fatalf("states %+v, want only the first down", st)
	}
}

// The background probe waits 500 ms, then twice as long each time up to
// 10 s, and marks the address up on the first answer. Nothing sleeps: the
// test hands out each wait.
func TestReprobeBackoff(t *testing.T) {
	waits := make(chan time.Duration)
	fire := make(chan time.Time)
	var probes atomic.Int64
	okAfter := int64(7)
	p := newAddressPool([]*url.URL{{Scheme: "https", Host: "a"}, {Scheme: "https", Host: "b"}},
		func(context.Context, *url.URL) error {
			if probes.Add(1) < okAfter {
				return errors.New("connection refused")
			}
			return nil
		})
	p.after = func(d time.Duration) <-chan time.Time {
		waits <- d
		return fire
	}
	defer p.close()

	p.markDown(0, errors.New("HTTP 503"))
	p.markDown(0, errors.New("HTTP 503 again")) // one probe per address
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := <-waits; got != w {
			t.Fatalf("wait %d: %s, want %s", i, got, w)
		}
		if order := p.up(); len(order) != 1 || order[0] != 1 {
			t.Fatalf("while probing, the addresses in turn are %v, want [1]", order)
		}
		fire <- time.Time{}
	}
	if !testkit.Eventually(5*time.Second, func() bool { return len(p.up()) == 2 }) {
		t.Fatalf("address not back after the probe answered: %+v", p.states())
	}
	if n := probes.Load(); n != okAfter {
		t.Fatalf("%d probes, want %d", n, okAfter)
	}
}

// An address that is frozen (accepts, never answers) costs one call one
// attempt; the next calls go to the other address without asking it. The
// time it costs is measured end to end, not here: a unit test counts.
func TestFrozenAddressCostsOneAttempt(t *testing.T) {
	frozen, ok := newAPIServer(t, "freeze"), newAPIServer(t, "ok")
	k := poolClient(t, FailoverAfter, frozen, ok)
	for range 6 {
		if _, err := k.Review(t.Context(), "jwt", nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := frozen.calls.Load(); n != 1 {
		t.Fatalf("the frozen address got %d calls, want 1", n)
	}
	if n := ok.calls.Load(); n != 6 {
		t.Fatalf("the answering address got %d calls, want 6", n)
	}
}

// A caller that goes away says nothing about the address: it stays in turn.
func TestCallerGoneMarksNothingDown(t *testing.T) {
	slow, ok := newAPIServer(t, "freeze"), newAPIServer(t, "ok")
	k := poolClient(t, 5*time.Second, slow, ok)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := k.Review(ctx, "jwt", nil); err == nil {
		t.Fatal("call succeeded")
	}
	if st := k.Addresses(); st[0].Down {
		t.Fatalf("address marked down by a caller that left: %+v", st[0])
	}
}

// config/check's probe of one address reaches that address alone, even
// one that is down, and counts nothing against it.
func TestProbeAddressIsPinned(t *testing.T) {
	a, b := newAPIServer(t, "ok"), newAPIServer(t, "503")
	k := poolClient(t, time.Second, a, b)
	// The test server answers every path as a TokenReview.
	for i, want := range []int{http.StatusCreated, http.StatusServiceUnavailable} {
		p := k.ProbeAddress(t.Context(), i, time.Now)
		if p.Err != nil || p.Status != want {
			t.Fatalf("probe of address %d: status %d err %v", i, p.Status, p.Err)
		}
	}
	if st := k.Addresses(); st[0].Down || st[1].Down {
		t.Fatalf("a pinned probe changed the addresses' states: %+v", st)
	}
}

// An address with a path (an API server behind a path-routing proxy)
// gets the request under its own path.
func TestMoveUnder(t *testing.T) {
	cases := []struct{ path, from, to, want string }{
		{"/apis/x", "", "", "/apis/x"},
		{"/apis/x", "", "/k8s/c2", "/k8s/c2/apis/x"},
		{"/k8s/c1/apis/x", "/k8s/c1", "/k8s/c2/", "/k8s/c2/apis/x"},
		{"/k8s/c1/apis/x", "/k8s/c1/", "", "/apis/x"},
	}
	for _, c := range cases {
		if got := moveUnder(c.path, c.from, c.to); got != c.want {
			t.Errorf("moveUnder(%q, %q, %q) = %q, want %q", c.path, c.from, c.to, got, c.want)
		}
	}
}

// Closing the client stops its probes: no goroutine outlives it.
func TestCloseStopsProbes(t *testing.T) {
	a, b := newAPIServer(t, "503"), newAPIServer(t, "ok")
	k := poolClient(t, time.Second, a, b)
	if _, err := k.Review(t.Context(), "jwt", nil); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		k.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return: a probe outlived the client")
	}
}

// The background probe puts an address back only on 200 (a starting API
// server answers 403 or 500 while it cannot serve yet), or on 401 when it
// asks without a credential; it sends the reviewer's token, never a
// login's.
func TestReadyProbe(t *testing.T) {
	var lastAuth atomic.Value
	code := atomic.Int64{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lastAuth.Store(r.Header.Get("Authorization"))
		w.WriteHeader(int(code.Load()))
	}))
	defer srv.Close()
	base, _ := url.Parse(srv.URL)
	tr := srv.Client().Transport.(*http.Transport)
	cases := []struct {
		cred Credential
		code int
		up   bool
		auth string
	}{
		{StaticToken("reviewer"), http.StatusOK, true, "Bearer reviewer"},
		{StaticToken("reviewer"), http.StatusForbidden, false, "Bearer reviewer"},
		{StaticToken("reviewer"), http.StatusUnauthorized, false, "Bearer reviewer"},
		{StaticToken("reviewer"), http.StatusInternalServerError, false, "Bearer reviewer"},
		{LoginJWT{}, http.StatusOK, true, ""},
		{LoginJWT{}, http.StatusUnauthorized, true, ""},
		{LoginJWT{}, http.StatusForbidden, false, ""},
		{ClientCertificate{}, http.StatusOK, true, ""},
	}
	for _, c := range cases {
		code.Store(int64(c.code))
		err := readyProbe(tr, c.cred)(t.Context(), base)
		if (err == nil) != c.up || lastAuth.Load() != c.auth {
			t.Errorf("%s answering %d: err %v, auth %q; want up %v, auth %q", c.cred, c.code, err, lastAuth.Load(), c.up, c.auth)
		}
	}
}

// config/check's read of one address's published keys reaches that
// address alone, in turn or not, counts nothing against it, and a refusal
// names the address that refused.
func TestPublishedKeysAtIsPinned(t *testing.T) {
	jwks := func(kid string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != JWKSPath {
				status(http.StatusNotFound)(w, r)
				return
			}
			key := testkit.PrivateKey(t, "ec-signer.key").Public()
			writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: kid, Algorithm: "ES256", Use: "sig"}}})
		}
	}
	servers := []*httptest.Server{
		httptest.NewTLSServer(jwks("first")),
		httptest.NewTLSServer(jwks("second")),
		httptest.NewTLSServer(status(http.StatusForbidden)),
	}
	hosts := make([]string, len(servers))
	for i, s := range servers {
		t.Cleanup(s.Close)
		hosts[i] = s.URL
	}
	k, err := New(Options{
		Host: hosts[0], Hosts: hosts, CAPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: servers[0].Certificate().Raw})),
		Credential: StaticToken("reviewer"), Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	for i, want := range []string{"first", "second"} {
		keys, err := k.PublishedKeysAt(t.Context(), i)
		if err != nil || len(keys) != 1 || keys[0].KID != want {
			t.Fatalf("keys of address %d: %+v, %v; want the one key %q", i, keys, err, want)
		}
	}
	_, err = k.PublishedKeysAt(t.Context(), 2)
	var api *APIError
	if !errors.As(err, &api) || api.Status != http.StatusForbidden || api.Host != hosts[2] {
		t.Fatalf("keys of the refusing address: %v; want its HTTP 403, naming %s", err, hosts[2])
	}
	for i, st := range k.Addresses() {
		if st.Down {
			t.Fatalf("a pinned read changed address %d's state: %+v", i, st)
		}
	}
}
