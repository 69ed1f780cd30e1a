package clusterkeys

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// statusError is an API server's answer with an HTTP status, as the real
// fetcher's error carries it.
type statusError struct{ code int }

func (e *statusError) Error() string { return fmt.Sprintf("fake API server: HTTP %d", e.code) }

// deniedByStatus is the AccessDenied the plugin passes: 401 and 403.
func deniedByStatus(err error) bool {
	var s *statusError
	return errors.As(err, &s) && (s.code == http.StatusUnauthorized || s.code == http.StatusForbidden)
}

const testMaxAge = StaleAfterRefreshes * testRefreshEvery

// newFreshHarness is newHarness with AccessDenied set as the plugin sets it.
func newFreshHarness(t *testing.T, keys map[string]crypto.PublicKey) *harness {
	t.Helper()
	h := &harness{api: newFakeFetcher(), clock: newFakeClock(), log: &testkit.SyncBuffer{}}
	h.api.serve(jwksPath, jwksDoc(t, keys))
	h.api.serve(discoveryPath, []byte(`{"issuer":"`+testkit.Issuer+`"}`))
	h.set = New(h.api, Options{
		MinRefresh:   testMinRefresh,
		RefreshEvery: testRefreshEvery,
		AccessDenied: deniedByStatus,
		Now:          h.clock.Now,
		Logger:       hclog.New(&hclog.LoggerOptions{Output: h.log, Level: hclog.Debug}),
	})
	t.Cleanup(h.set.Close)
	return h
}

// refreshResult is how the API server answers the signing keys' fetch.
type refreshResult struct {
	name   string
	denied bool   // refused the credential
	cause  string // in the error of keys it leaves stale
	apply  func(t *testing.T, f *fakeFetcher, keys map[string]crypto.PublicKey)
}

func refreshResults() []refreshResult {
	return []refreshResult{
		{"good", false, "", func(t *testing.T, f *fakeFetcher, keys map[string]crypto.PublicKey) {
			f.serve(jwksPath, jwksDoc(t, keys))
		}},
		{"401", true, "HTTP 401", func(_ *testing.T, f *fakeFetcher, _ map[string]crypto.PublicKey) {
			f.fail(jwksPath, &statusError{http.StatusUnauthorized})
		}},
		{"403", true, "HTTP 403", func(_ *testing.T, f *fakeFetcher, _ map[string]crypto.PublicKey) {
			f.fail(jwksPath, fmt.Errorf("GET %s: %w", jwksPath, &statusError{http.StatusForbidden}))
		}},
		{"500", false, "HTTP 500", func(_ *testing.T, f *fakeFetcher, _ map[string]crypto.PublicKey) {
			f.fail(jwksPath, &statusError{http.StatusInternalServerError})
		}},
		{"down", false, errAPIDown.Error(), func(_ *testing.T, f *fakeFetcher, _ map[string]crypto.PublicKey) { f.fail(jwksPath, errAPIDown) }},
		{"garbage", false, "not a JSON Web Key Set", func(_ *testing.T, f *fakeFetcher, _ map[string]crypto.PublicKey) {
			f.serve(jwksPath, []byte("<html>proxy error</html>"))
		}},
	}
}

// The invariant: FreshKey answers with a held key exactly when a good
// fetch began at most MaxAge ago, or a refresh it makes itself succeeds, and
// no fetch since was refused the credential. Keys are loaded at t0, a
// refresh (an unknown kid's) is answered with each result at t0+last, and
// FreshKey is asked at t0+last+more.
func TestFreshKeyInvariant(t *testing.T) {
	a := ecKey(t, elliptic.P256()).Public()
	keys := map[string]crypto.PublicKey{"a": a}
	lasts := []time.Duration{testMinRefresh, testRefreshEvery, testMaxAge - testMinRefresh, testMaxAge, testMaxAge + time.Second}
	mores := []time.Duration{0, time.Second, testMinRefresh, testRefreshEvery, testMaxAge - testMinRefresh, testMaxAge,
		testMaxAge + time.Nanosecond, 30 * time.Hour}
	for _, res := range refreshResults() {
		for _, last := range lasts {
			for _, more := range mores {
				t.Run(fmt.Sprintf("%s at %s, asked %s later", res.name, last, more), func(t *testing.T) {
					h := newFreshHarness(t, keys)
					h.mustKey(t, "a", a)
					res.apply(t, h.api, keys)
					h.clock.Advance(last)
					if _, err := h.set.Key(context.Background(), "made-up"); !errors.Is(err, ErrUnknownKey) {
						t.Fatalf("Key(made-up) = %v", err)
					}
					h.wantFetches(t, jwksPath, 2)
					h.clock.Advance(more)

					wantFresh := res.name == "good" || !res.denied && last+more <= testMaxAge
					got, err := h.set.FreshKey(context.Background(), "a")
					switch {
					case wantFresh && (err != nil || !sameKey(got, a)):
						t.Fatalf("FreshKey(a) = %v, %v; want the key", got, err)
					case !wantFresh && (!errors.Is(err, ErrStale) || got != nil):
						t.Fatalf("FreshKey(a) = %v, %v; want ErrStale", got, err)
					case !wantFresh:
						// The error says why, with the refresh's own error.
						mustContain(t, err.Error(), res.cause)
					}
					if st := h.set.KeysStatus(); st.Fresh != wantFresh || st.Denied != (res.denied && !wantFresh) {
						t.Fatalf("KeysStatus = %+v; want fresh %v", st, wantFresh)
					}
					// Key, which only says which key a kid names, answers
					// whatever the age.
					h.mustKey(t, "a", a)
				})
			}
		}
	}
}

// A refused refresh stops the keys at once, however young; they come back
// with the first good refresh after it, which FreshKey makes itself (at
// most once per MinRefresh, however many callers ask).
func TestFreshKeyRefusedThenRestored(t *testing.T) {
	a := ecKey(t, elliptic.P256()).Public()
	keys := map[string]crypto.PublicKey{"a": a}
	h := newFreshHarness(t, keys)
	if _, err := h.set.FreshKey(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	h.api.fail(jwksPath, &statusError{http.StatusForbidden})
	h.clock.Advance(testMinRefresh)
	h.mustUnknown(t, "rotated") // the refresh an unknown kid makes is refused
	h.wantFetches(t, jwksPath, 2)

	for range 50 {
		_, err := h.set.FreshKey(context.Background(), "a")
		if !errors.Is(err, ErrStale) {
			t.Fatalf("FreshKey(a) after a 403 = %v, want ErrStale", err)
		}
		mustContain(t, err.Error(), "refused the credential")
		mustContain(t, err.Error(), "HTTP 403")
		h.clock.Advance(testMinRefresh / 10)
	}
	// 50 calls over 5 MinRefresh intervals, the first of which began with
	// the refused fetch: one fetch in each of the other four.
	h.wantFetches(t, jwksPath, 2+4)

	// A refresh that then fails to answer at all says nothing of the
	// credential: still refused.
	h.api.fail(jwksPath, errAPIDown)
	h.clock.Advance(testMinRefresh)
	_, err := h.set.FreshKey(context.Background(), "a")
	if !errors.Is(err, ErrStale) || !errors.Is(err, errAPIDown) {
		t.Fatalf("FreshKey(a) after a 403 and a failure = %v, want ErrStale", err)
	}
	if st := h.set.KeysStatus(); !st.Denied || st.Fresh {
		t.Fatalf("KeysStatus after a 403 and a failure = %+v", st)
	}

	h.api.serve(jwksPath, jwksDoc(t, keys))
	h.clock.Advance(testMinRefresh)
	if k, err := h.set.FreshKey(context.Background(), "a"); err != nil || !sameKey(k, a) {
		t.Fatalf("FreshKey(a) after a good refresh = %v, %v", k, err)
	}
	st := h.set.KeysStatus()
	if !st.Fresh || st.Denied || st.LastErr != nil || st.Age != 0 || !slices.Equal(st.Kids, []string{"a"}) {
		t.Fatalf("KeysStatus after recovery = %+v", st)
	}
	h.wantFetches(t, jwksPath, 8)
}

// Keys refreshes keep failing on: fresh until MaxAge after the last good
// fetch, then stale, whatever the kid; unknown kids stay ErrStale, not
// ErrUnknownKey, and cost no fetch beyond the throttle.
func TestFreshKeyStaleAfterMaxAge(t *testing.T) {
	a := ecKey(t, elliptic.P256()).Public()
	h := newFreshHarness(t, map[string]crypto.PublicKey{"a": a})
	if _, err := h.set.FreshKey(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	h.api.fail(jwksPath, errAPIDown)
	h.clock.Advance(testMaxAge)
	if _, err := h.set.FreshKey(context.Background(), "a"); err != nil {
		t.Fatalf("FreshKey(a) at MaxAge = %v", err)
	}
	h.settle() // the due refresh it started in the background
	h.clock.Advance(testMinRefresh)
	for _, kid := range []string{"a", "made-up", "a"} {
		_, err := h.set.FreshKey(context.Background(), kid)
		if !errors.Is(err, ErrStale) || errors.Is(err, ErrUnknownKey) {
			t.Fatalf("FreshKey(%s) past MaxAge = %v, want ErrStale", kid, err)
		}
		mustContain(t, err.Error(), errAPIDown.Error())
	}
	h.wantFetches(t, jwksPath, 3)
	st := h.set.KeysStatus()
	if st.Fresh || st.Denied || st.Age != testMaxAge+testMinRefresh || st.MaxAge != testMaxAge || !errors.Is(st.LastErr, errAPIDown) {
		t.Fatalf("KeysStatus = %+v", st)
	}
}

// With nothing loaded, FreshKey is the fetch's error, as Key is.
func TestFreshKeyWithoutKeys(t *testing.T) {
	h := newFreshHarness(t, map[string]crypto.PublicKey{"a": ecKey(t, elliptic.P256()).Public()})
	h.api.fail(jwksPath, &statusError{http.StatusForbidden})
	_, err := h.set.FreshKey(context.Background(), "a")
	var se *statusError
	if !errors.As(err, &se) || errors.Is(err, ErrStale) || errors.Is(err, ErrUnknownKey) {
		t.Fatalf("FreshKey(a) = %v, want the fetch's error", err)
	}
	if st := h.set.KeysStatus(); st.Loaded || st.Fresh || !st.Denied {
		t.Fatalf("KeysStatus = %+v", st)
	}
}

// The default bound is StaleAfterRefreshes refresh periods: 15 minutes,
// as docs/operations.md says.
func TestDefaultMaxAge(t *testing.T) {
	s := New(newFakeFetcher(), Options{})
	t.Cleanup(s.Close)
	if got := s.KeysStatus().MaxAge; got != 15*time.Minute {
		t.Fatalf("MaxAge = %s", got)
	}
}

// The login path's lookup of a fresh held key allocates nothing.
func TestFreshKeyHitAllocatesNothing(t *testing.T) {
	a := ecKey(t, elliptic.P256()).Public()
	h := newFreshHarness(t, map[string]crypto.PublicKey{"a": a})
	ctx := context.Background()
	if _, err := h.set.FreshKey(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = h.set.FreshKey(ctx, "a") }); n != 0 {
		t.Fatalf("FreshKey hit allocates %v times", n)
	}
}
