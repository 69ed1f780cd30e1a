package clusterkeys

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

func TestFirstUseFetchesOnce(t *testing.T) {
	a := ecKey(t, elliptic.P256()).Public()
	h := newHarness(t, map[string]crypto.PublicKey{"a": a})
	h.wantFetches(t, jwksPath, 0)
	h.wantFetches(t, discoveryPath, 0)

	h.mustKey(t, "a", a)
	h.mustKey(t, "a", a)
	h.wantFetches(t, jwksPath, 1)
	h.wantFetches(t, discoveryPath, 0)

	for range 3 {
		iss, err := h.set.Issuer(context.Background())
		if err != nil || iss != testkit.Issuer {
			t.Fatalf("Issuer() = %q, %v", iss, err)
		}
	}
	h.wantFetches(t, discoveryPath, 1)
	h.wantFetches(t, jwksPath, 1)
}

// The discovery document's jwks_uri names an address outside our control
// (here one that the fake would answer): it must never be fetched.
func TestJWKSURIIsNotFollowed(t *testing.T) {
	a := ecKey(t, elliptic.P256()).Public()
	h := newHarness(t, map[string]crypto.PublicKey{"a": a})
	h.api.serve(discoveryPath, []byte(`{"issuer":"`+testkit.Issuer+`","jwks_uri":"/elsewhere/jwks"}`))
	h.api.serve("/elsewhere/jwks", jwksDoc(t, map[string]crypto.PublicKey{"evil": ecKey(t, elliptic.P256()).Public()}))

	if _, err := h.set.Issuer(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.mustKey(t, "a", a)
	h.mustUnknown(t, "evil")
	h.clock.Advance(testMinRefresh)
	h.mustUnknown(t, "evil")
	h.api.mu.Lock()
	defer h.api.mu.Unlock()
	for _, p := range h.api.paths {
		if p != jwksPath && p != discoveryPath {
			t.Fatalf("fetched %q", p)
		}
	}
}

func TestRotationNewKidFetchedOnce(t *testing.T) {
	a, b := ecKey(t, elliptic.P256()).Public(), ecKey(t, elliptic.P384()).Public()
	h := newHarness(t, map[string]crypto.PublicKey{"a": a})
	h.mustKey(t, "a", a)

	// The API server restarts with an added key and signs with it.
	h.api.serve(jwksPath, jwksDoc(t, map[string]crypto.PublicKey{"a": a, "b": b}))
	h.clock.Advance(testMinRefresh)
	h.mustKey(t, "b", b)
	h.wantFetches(t, jwksPath, 2)
	for range 10 {
		h.mustKey(t, "b", b)
		h.mustKey(t, "a", a)
	}
	h.wantFetches(t, jwksPath, 2)
}

func TestUnknownKidWaitsForMinRefresh(t *testing.T) {
	a, b := ecKey(t, elliptic.P256()).Public(), ecKey(t, elliptic.P256()).Public()
	h := newHarness(t, map[string]crypto.PublicKey{"a": a})
	h.mustKey(t, "a", a)
	h.api.serve(jwksPath, jwksDoc(t, map[string]crypto.PublicKey{"a": a, "b": b}))

	h.clock.Advance(testMinRefresh - time.Nanosecond)
	h.mustUnknown(t, "b")
	h.wantFetches(t, jwksPath, 1)

	h.clock.Advance(time.Nanosecond)
	h.mustKey(t, "b", b)
	h.wantFetches(t, jwksPath, 2)
}

func TestUnknownKidFloodFetchesOncePerInterval(t *testing.T) {
	a := ecKey(t, elliptic.P256()).Public()
	h := newHarness(t, map[string]crypto.PublicKey{"a": a})
	h.mustKey(t, "a", a)

	const intervals = 10
	for i := range intervals {
		for j := range 200 {
			h.mustUnknown(t, fmt.Sprintf("made-up-%d-%d", i, j))
			h.clock.Advance(testMinRefresh / 200)
		}
		// One fetch for the interval just ended, the first one's kid.
		h.wantFetches(t, jwksPath, 1+i)
	}
	h.mustUnknown(t, "one-more")
	h.wantFetches(t, jwksPath, 1+intervals)
	h.mustKey(t, "a", a)
}

// Callers that arrive while a fetch is in flight share it: a flood of made-up
// kids from many goroutines costs one fetch, not one per caller.
func TestConcurrentUnknownKidsShareOneFetch(t *testing.T) {
	a := ecKey(t, elliptic.P256()).Public()
	h := newHarness(t, map[string]crypto.PublicKey{"a": a})
	h.mustKey(t, "a", a)
	h.clock.Advance(testMinRefresh)

	h.api.hold()
	const callers = 64
	errs := make(chan error, callers)
	for i := range callers {
		go func() {
			_, err := h.set.Key(context.Background(), fmt.Sprintf("made-up-%d", i))
			errs <- err
		}()
	}
	<-h.api.started
	h.api.release()
	for range callers {
		if err := <-errs; !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("Key(made-up) = %v, want ErrUnknownKey", err)
		}
	}
	h.wantFetches(t, jwksPath, 2)
}

// The very first callers share the first fetch too.
func TestConcurrentFirstCallersShareOneFetch(t *testing.T) {
	a := ecKey(t, elliptic.P256()).Public()
	h := newHarness(t, map[string]crypto.PublicKey{"a": a})
	h.api.hold()
	const callers = 32
	var wg sync.WaitGroup
	fail := make(chan string, 2*callers)
	for range callers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if k, err := h.set.Key(context.Background(), "a"); err != nil || !sameKey(k, a) {
				fail <- fmt.Sprintf("Key(a) = %v, %v", k, err)
			}
		}()
		go func() {
			defer wg.Done()
			if iss, err := h.set.Issuer(context.Background()); err != nil || iss != testkit.Issuer {
				fail <- fmt.Sprintf("Issuer() = %q, %v", iss, err)
			}
		}()
	}
	<-h.api.started
	<-h.api.started
	h.api.release()
	wg.Wait()
	close(fail)
	for msg := range fail {
		t.Error(msg)
	}
	h.wantFetches(t, jwksPath, 1)
	h.wantFetches(t, discoveryPath, 1)
}

func TestPeriodicRefreshDropsRemovedKeys(t *testing.T) {
	a, b := ecKey(t, elliptic.P256()).Public(), ecKey(t, elliptic.P256()).Public()
	h := newHarness(t, map[string]crypto.PublicKey{"a": a, "b": b})
	h.mustKey(t, "a", a)
	h.api.serve(jwksPath, jwksDoc(t, map[string]crypto.PublicKey{"b": b}))

	h.clock.Advance(testRefreshEvery - time.Nanosecond)
	h.mustKey(t, "a", a)
	h.settle()
	h.wantFetches(t, jwksPath, 1)

	// Due: this caller is still answered from the keys held while the
	// refresh runs beside it.
	h.clock.Advance(time.Nanosecond)
	h.mustKey(t, "a", a)
	h.settle()
	h.wantFetches(t, jwksPath, 2)

	h.mustUnknown(t, "a")
	h.mustKey(t, "b", b)
	h.wantFetches(t, jwksPath, 2)
	mustContain(t, h.log.String(), "value=b")
}

func TestPeriodicRefreshUpdatesIssuer(t *testing.T) {
	h := newHarness(t, map[string]crypto.PublicKey{"a": ecKey(t, elliptic.P256()).Public()})
	if iss, err := h.set.Issuer(context.Background()); err != nil || iss != testkit.Issuer {
		t.Fatalf("Issuer() = %q, %v", iss, err)
	}
	h.api.serve(discoveryPath, []byte(`{"issuer":"https://new.example"}`))
	h.clock.Advance(testRefreshEvery)
	if iss, _ := h.set.Issuer(context.Background()); iss != testkit.Issuer {
		t.Fatalf("Issuer() = %q while refreshing, want the held %q", iss, testkit.Issuer)
	}
	h.settle()
	if iss, err := h.set.Issuer(context.Background()); err != nil || iss != "https://new.example" {
		t.Fatalf("Issuer() = %q, %v after the refresh", iss, err)
	}
	h.wantFetches(t, discoveryPath, 2)
}

func TestFailedRefreshKeepsLastGoodKeys(t *testing.T) {
	a, b := ecKey(t, elliptic.P256()).Public(), ecKey(t, elliptic.P256()).Public()
	for _, tc := range []struct {
		name     string
		breakAPI func(*fakeFetcher)
		cause    string
	}{
		{"API down", func(f *fakeFetcher) { f.fail(jwksPath, errAPIDown) }, errAPIDown.Error()},
		{"garbage", func(f *fakeFetcher) { f.serve(jwksPath, []byte("<html>proxy error</html>")) }, "not a JSON Web Key Set"},
		{"private key", func(f *fakeFetcher) {
			f.serve(jwksPath, []byte(`{"keys":[`+jwkJSON(t, jwkOf(ecKey(t, elliptic.P256()), "a"), nil)+`]}`))
		}, "private key material"},
		{"empty set", func(f *fakeFetcher) { f.serve(jwksPath, []byte(`{"keys":[]}`)) }, "no RSA or ECDSA signature key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, map[string]crypto.PublicKey{"a": a})
			h.mustKey(t, "a", a)
			tc.breakAPI(h.api)

			h.clock.Advance(testRefreshEvery)
			h.mustKey(t, "a", a)
			h.settle()
			h.wantFetches(t, jwksPath, 2)
			h.mustKey(t, "a", a)
			logged := h.log.String()
			mustContain(t, logged, "keeping the last good copy")
			mustContain(t, logged, tc.cause)

			// Still failing: asked again once per MinRefresh, keys kept.
			h.mustKey(t, "a", a)
			h.settle()
			h.wantFetches(t, jwksPath, 2)
			h.clock.Advance(testMinRefresh)
			h.mustKey(t, "a", a)
			h.settle()
			h.wantFetches(t, jwksPath, 3)

			// An unknown kid during the outage: unknown, and the cause is kept.
			h.clock.Advance(testMinRefresh)
			_, err := h.set.Key(context.Background(), "b")
			if !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("Key(b) = %v, want ErrUnknownKey", err)
			}
			mustContain(t, err.Error(), tc.cause)
			h.wantFetches(t, jwksPath, 4)

			// Recovery.
			h.api.serve(jwksPath, jwksDoc(t, map[string]crypto.PublicKey{"a": a, "b": b}))
			h.clock.Advance(testMinRefresh)
			h.mustKey(t, "b", b)
		})
	}
}

func TestNoKeysReturnsTheFetchError(t *testing.T) {
	a := ecKey(t, elliptic.P256()).Public()
	h := newHarness(t, map[string]crypto.PublicKey{"a": a})
	h.api.fail(jwksPath, errAPIDown)
	h.api.fail(discoveryPath, errAPIDown)

	for range 3 {
		_, err := h.set.Key(context.Background(), "a")
		if !errors.Is(err, errAPIDown) || errors.Is(err, ErrUnknownKey) {
			t.Fatalf("Key(a) = %v, want the fetch error and not ErrUnknownKey", err)
		}
		if _, err := h.set.Issuer(context.Background()); !errors.Is(err, errAPIDown) {
			t.Fatalf("Issuer() = %v, want the fetch error", err)
		}
	}
	// Without keys, the API server is still asked at most once per MinRefresh.
	h.wantFetches(t, jwksPath, 1)
	h.wantFetches(t, discoveryPath, 1)
	mustContain(t, h.log.String(), "[ERROR]")

	h.api.serve(jwksPath, jwksDoc(t, map[string]crypto.PublicKey{"a": a}))
	h.api.serve(discoveryPath, []byte(`{"issuer":"`+testkit.Issuer+`"}`))
	h.clock.Advance(testMinRefresh)
	h.mustKey(t, "a", a)
	if iss, err := h.set.Issuer(context.Background()); err != nil || iss != testkit.Issuer {
		t.Fatalf("Issuer() = %q, %v", iss, err)
	}
	h.wantFetches(t, jwksPath, 2)
	h.wantFetches(t, discoveryPath, 2)
}

func TestBadFirstDocumentsAreErrors(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		body       string
		cause      string
	}{
		{"private jwks", jwksPath, `{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"a"}]}`, "private key material"},
		{"only an encryption key", jwksPath, `{"keys":[` + jwkJSON(t, jwkOfPub(ecKey(t, elliptic.P256()).Public(), "a", "enc"), nil) + `]}`, "no RSA or ECDSA"},
		{"garbage jwks", jwksPath, "\x00\xff", "not a JSON Web Key Set"},
		{"no issuer", discoveryPath, `{"jwks_uri":"https://x/openid/v1/jwks"}`, "no issuer"},
		{"issuer not a string", discoveryPath, `{"issuer":42}`, "string issuer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, map[string]crypto.PublicKey{"a": ecKey(t, elliptic.P256()).Public()})
			h.api.serve(tc.path, []byte(tc.body))
			var err error
			if tc.path == jwksPath {
				_, err = h.set.Key(context.Background(), "a")
			} else {
				_, err = h.set.Issuer(context.Background())
			}
			if err == nil || errors.Is(err, ErrUnknownKey) {
				t.Fatalf("got %v, want a fetch error", err)
			}
			mustContain(t, err.Error(), tc.cause)
			mustContain(t, err.Error(), tc.path)
		})
	}
}

func TestEmptyKidIsUnknownWithoutAFetch(t *testing.T) {
	h := newHarness(t, map[string]crypto.PublicKey{"a": ecKey(t, elliptic.P256()).Public()})
	h.mustUnknown(t, "")
	h.wantFetches(t, jwksPath, 0)
}

func TestDefaults(t *testing.T) {
	a, b := ecKey(t, elliptic.P256()).Public(), ecKey(t, elliptic.P256()).Public()
	api := newFakeFetcher()
	api.serve(jwksPath, jwksDoc(t, map[string]crypto.PublicKey{"a": a}))
	clock := newFakeClock()
	s := New(api, Options{Now: clock.Now})
	t.Cleanup(s.Close)
	h := &harness{set: s, api: api, clock: clock}
	h.mustKey(t, "a", a)

	h.clock.Advance(5*time.Second - time.Nanosecond)
	h.mustUnknown(t, "b")
	h.wantFetches(t, jwksPath, 1)
	h.clock.Advance(time.Nanosecond)
	h.mustUnknown(t, "b")
	h.wantFetches(t, jwksPath, 2)

	api.serve(jwksPath, jwksDoc(t, map[string]crypto.PublicKey{"b": b}))
	// Five minutes after the last good fetch, the keys are refetched.
	h.clock.Advance(5*time.Minute - time.Nanosecond)
	h.mustKey(t, "a", a)
	h.settle()
	h.wantFetches(t, jwksPath, 2)
	h.clock.Advance(time.Nanosecond)
	h.mustKey(t, "a", a)
	h.settle()
	h.wantFetches(t, jwksPath, 3)
	h.mustKey(t, "b", b)
}

// A caller that gives up does not cancel the fetch the others wait for.
func TestCallerGivingUpLeavesTheFetch(t *testing.T) {
	a := ecKey(t, elliptic.P256()).Public()
	h := newHarness(t, map[string]crypto.PublicKey{"a": a})
	h.api.hold()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := h.set.Key(ctx, "a")
		done <- err
	}()
	<-h.api.started
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Key with a canceled context = %v", err)
	}
	h.api.release()
	h.mustKey(t, "a", a)
	h.wantFetches(t, jwksPath, 1)
}

func TestCloseStopsTheFetchInFlight(t *testing.T) {
	a := ecKey(t, elliptic.P256()).Public()
	h := newHarness(t, map[string]crypto.PublicKey{"a": a})
	h.api.hold() // never released: only Close can end the fetch
	done := make(chan error, 1)
	go func() {
		_, err := h.set.Key(context.Background(), "a")
		done <- err
	}()
	<-h.api.started
	h.set.Close()
	if err := <-done; !errors.Is(err, errClosed) {
		t.Fatalf("Key during Close = %v, want errClosed", err)
	}
	h.set.Close() // twice is fine

	h.clock.Advance(testMinRefresh)
	if _, err := h.set.Key(context.Background(), "a"); !errors.Is(err, errClosed) {
		t.Fatalf("Key after Close = %v, want errClosed", err)
	}
	if _, err := h.set.Issuer(context.Background()); !errors.Is(err, errClosed) {
		t.Fatalf("Issuer after Close = %v, want errClosed", err)
	}
	h.wantFetches(t, jwksPath, 1)
	h.wantFetches(t, discoveryPath, 0)
}

// The login path's lookup of a held key allocates nothing.
func TestKeyHitAllocatesNothing(t *testing.T) {
	a := ecKey(t, elliptic.P256()).Public()
	h := newHarness(t, map[string]crypto.PublicKey{"a": a})
	h.mustKey(t, "a", a)
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { _, _ = h.set.Key(ctx, "a") }); n != 0 {
		t.Fatalf("Key hit allocates %v times", n)
	}
}

// Many callers, known and unknown kids and the issuer, while time moves:
// every known kid is answered, and each document is fetched at most once per
// MinRefresh. Run with -race.
func TestConcurrentUse(t *testing.T) {
	a := ecKey(t, elliptic.P256()).Public()
	h := newHarness(t, map[string]crypto.PublicKey{"a": a})
	const workers, rounds, advances = 8, 300, 20
	var wg sync.WaitGroup
	fail := make(chan string, workers*rounds)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for i := range rounds {
				if k, err := h.set.Key(ctx, "a"); err != nil || !sameKey(k, a) {
					fail <- fmt.Sprintf("Key(a) = %v, %v", k, err)
				}
				if _, err := h.set.Key(ctx, fmt.Sprintf("x-%d-%d", w, i)); !errors.Is(err, ErrUnknownKey) {
					fail <- fmt.Sprintf("Key(made-up) = %v", err)
				}
				if iss, err := h.set.Issuer(ctx); err != nil || iss != testkit.Issuer {
					fail <- fmt.Sprintf("Issuer() = %q, %v", iss, err)
				}
			}
		}()
	}
	for range advances {
		h.clock.Advance(testMinRefresh)
	}
	wg.Wait()
	h.settle()
	close(fail)
	for msg := range fail {
		t.Error(msg)
	}
	for _, p := range []string{jwksPath, discoveryPath} {
		if n := h.api.count(p); n < 1 || n > 1+advances {
			t.Errorf("%s fetched %d times, want 1..%d", p, n, 1+advances)
		}
	}
}

// BenchmarkKeyHit is the cost a login pays to find a held key.
func BenchmarkKeyHit(b *testing.B) {
	a := ecKey(b, elliptic.P256()).Public()
	api := newFakeFetcher()
	api.serve(jwksPath, jwksDoc(b, map[string]crypto.PublicKey{"a": a}))
	s := New(api, Options{})
	b.Cleanup(s.Close)
	ctx := context.Background()
	if _, err := s.Key(ctx, "a"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Key(ctx, "a"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// With no calls at all, the background goroutine refreshes a due copy: a
// key removed while the Set was idle is gone before the next call.
func TestIdleSetRefreshesInTheBackground(t *testing.T) {
	a, b := ecKey(t, elliptic.P256()).Public(), ecKey(t, elliptic.P256()).Public()
	h := newHarness(t, map[string]crypto.PublicKey{"a": a, "b": b})
	// Before the first call starts the goroutine: look every millisecond of
	// real time, while the Set's own clock stays under the test's control.
	h.set.tickEvery = time.Millisecond
	h.mustKey(t, "a", a)
	if _, err := h.set.Issuer(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.api.serve(jwksPath, jwksDoc(t, map[string]crypto.PublicKey{"b": b}))
	h.api.watch()

	h.clock.Advance(testRefreshEvery)
	seen := map[string]bool{}
	for len(seen) < 2 {
		seen[<-h.api.started] = true
	}
	if !seen[jwksPath] || !seen[discoveryPath] {
		t.Fatalf("background refresh fetched %v", seen)
	}
	// Each copy is fresh again now, so the goroutine starts nothing more
	// and the wait below cannot race with a new fetch.
	h.settle()
	h.mustUnknown(t, "a")
	h.mustKey(t, "b", b)
	h.wantFetches(t, jwksPath, 2)
	h.wantFetches(t, discoveryPath, 2)
}

// After Close (which returns only once the background goroutine has ended),
// a held key is still answered but nothing is fetched, even when due.
func TestNoFetchAfterClose(t *testing.T) {
	a := ecKey(t, elliptic.P256()).Public()
	h := newHarness(t, map[string]crypto.PublicKey{"a": a})
	h.set.tickEvery = time.Millisecond
	h.mustKey(t, "a", a)
	h.set.Close()
	h.clock.Advance(10 * testRefreshEvery)
	h.mustKey(t, "a", a)
	h.mustUnknown(t, "b")
	h.settle()
	h.wantFetches(t, jwksPath, 1)
}

// Options shorter than the background interval can be are still usable.
func TestTinyRefreshEvery(t *testing.T) {
	a := ecKey(t, elliptic.P256()).Public()
	api := newFakeFetcher()
	api.serve(jwksPath, jwksDoc(t, map[string]crypto.PublicKey{"a": a}))
	s := New(api, Options{MinRefresh: time.Nanosecond, RefreshEvery: time.Nanosecond})
	t.Cleanup(s.Close)
	if k, err := s.Key(context.Background(), "a"); err != nil || !sameKey(k, a) {
		t.Fatalf("Key(a) = %v, %v", k, err)
	}
}
