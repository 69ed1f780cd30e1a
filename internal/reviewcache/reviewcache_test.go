package reviewcache

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

func newClock() *testkit.Clock { return testkit.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) }

func TestKeyForSeparatesParts(t *testing.T) {
	keys := map[Key]string{}
	for _, parts := range [][]string{
		{"jwt"}, {"jwt", ""}, {"jwt", "vault"}, {"jwtv", "ault"}, {"jwt", "vault", "other"},
		{"jwt", "other", "vault"}, {"jwt2", "vault"}, {""}, {"", ""},
	} {
		k := KeyFor(parts[0], parts[1:]...)
		if prev, dup := keys[k]; dup {
			t.Fatalf("parts %q and %s give the same key", parts, prev)
		}
		keys[k] = fmt.Sprintf("%q", parts)
		if k != KeyFor(parts[0], parts[1:]...) {
			t.Fatalf("parts %q: the key is not stable", parts)
		}
	}
}

// The key is a digest of the JWT, not the JWT or a piece of it: a key's
// 32 bytes appear nowhere in the token, and the token in no key.
func TestKeyIsNotTheToken(t *testing.T) {
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YXBwczp3ZWIifQ.c2lnbmF0dXJl"
	k := KeyFor(jwt, "vault")
	if k == KeyFor(jwt) || k == KeyFor("vault") {
		t.Fatal("the key does not depend on both the token and the audiences")
	}
	for i := 0; i+8 <= len(jwt); i++ {
		if strings.Contains(string(k[:]), jwt[i:i+8]) {
			t.Fatalf("the key holds the token's bytes %q", jwt[i:i+8])
		}
	}
}

func TestGetPut(t *testing.T) {
	clk := newClock()
	c := New[string](Options{Now: clk.Now})
	k := KeyFor("jwt", "vault")
	if _, ok := c.Get(k, 0); ok {
		t.Fatal("hit on an empty cache")
	}
	c.Put(k, "v1", 10*time.Second, time.Time{})
	if v, ok := c.Get(k, 0); !ok || v != "v1" {
		t.Fatalf("Get = %q, %v; want v1, true", v, ok)
	}
	if _, ok := c.Get(KeyFor("jwt", "other"), 0); ok {
		t.Fatal("hit for other audiences")
	}
	c.Put(k, "v2", 10*time.Second, time.Time{})
	if v, _ := c.Get(k, 0); v != "v2" || c.Len() != 1 {
		t.Fatalf("after a second Put: %q, %d entries; want v2 in 1", v, c.Len())
	}
}

func TestExpiryAtTTL(t *testing.T) {
	clk := newClock()
	c := New[int](Options{Now: clk.Now})
	k := KeyFor("jwt")
	c.Put(k, 1, 10*time.Second, time.Time{})
	clk.Advance(10*time.Second - time.Nanosecond)
	if _, ok := c.Get(k, 0); !ok {
		t.Fatal("miss just before the TTL")
	}
	clk.Advance(time.Nanosecond)
	if _, ok := c.Get(k, 0); ok {
		t.Fatal("hit at the TTL")
	}
	if c.Len() != 0 {
		t.Fatal("an expired entry found by Get is kept")
	}
}

func TestExpiryAtNotAfter(t *testing.T) {
	clk := newClock()
	c := New[int](Options{Now: clk.Now})
	k := KeyFor("jwt")
	c.Put(k, 1, time.Minute, clk.Now().Add(3*time.Second)) // the token expires first
	clk.Advance(3*time.Second - time.Nanosecond)
	if _, ok := c.Get(k, 0); !ok {
		t.Fatal("miss just before the token's exp")
	}
	clk.Advance(time.Nanosecond)
	if _, ok := c.Get(k, 0); ok {
		t.Fatal("hit at the token's exp")
	}
	// Already expired: not stored at all.
	c.Put(k, 2, time.Minute, clk.Now())
	if c.Len() != 0 {
		t.Fatal("an answer for an expired token was stored")
	}
}

// A caller with a shorter maxAge does not get an answer older than it, and
// the answer stays for callers that accept it.
func TestMaxAge(t *testing.T) {
	clk := newClock()
	c := New[int](Options{Now: clk.Now})
	k := KeyFor("jwt")
	c.Put(k, 1, 5*time.Minute, time.Time{})
	clk.Advance(10 * time.Second)
	if _, ok := c.Get(k, 10*time.Second); ok {
		t.Fatal("hit for a caller whose maxAge has passed")
	}
	if _, ok := c.Get(k, 11*time.Second); !ok {
		t.Fatal("miss for a caller whose maxAge has not passed")
	}
}

func TestBoundedEntries(t *testing.T) {
	clk := newClock()
	c := New[int](Options{MaxEntries: 3, Now: clk.Now})
	for i := range 5 {
		c.Put(KeyFor(fmt.Sprint(i)), i, time.Minute, time.Time{})
		clk.Advance(time.Second)
	}
	if c.Len() != 3 {
		t.Fatalf("%d entries, want the bound 3", c.Len())
	}
	for i, want := range []bool{false, false, true, true, true} {
		if _, ok := c.Get(KeyFor(fmt.Sprint(i)), 0); ok != want {
			t.Errorf("entry %d present=%v, want %v (the oldest go first)", i, ok, want)
		}
	}

	// Expired entries go before live ones, oldest end first.
	c = New[int](Options{MaxEntries: 3, Now: clk.Now})
	c.Put(KeyFor("short"), 0, time.Second, time.Time{})
	c.Put(KeyFor("long-a"), 1, time.Hour, time.Time{})
	c.Put(KeyFor("long-b"), 2, time.Hour, time.Time{})
	clk.Advance(2 * time.Second)
	c.Put(KeyFor("new"), 3, time.Hour, time.Time{})
	for _, k := range []string{"long-a", "long-b", "new"} {
		if _, ok := c.Get(KeyFor(k), 0); !ok {
			t.Errorf("%s was evicted, though an expired entry was there to drop", k)
		}
	}

	// The default bound.
	if New[int](Options{}).max != DefaultMaxEntries {
		t.Fatal("the default bound is not DefaultMaxEntries")
	}
}

// Callers asking the same question at the same time share one call; the
// shared call's result reaches all of them; errors are shared, not kept.
func TestDoCoalesces(t *testing.T) {
	c := New[string](Options{})
	k := KeyFor("jwt", "vault")
	release := make(chan struct{})
	var calls atomic.Int64
	fn := func(context.Context) (string, error) {
		calls.Add(1)
		<-release
		return "answer", nil
	}
	const callers = 16
	results := make([]string, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { results[i], errs[i] = c.Do(t.Context(), k, fn) })
	}
	waitFor(t, func() bool { return c.Waiting() == callers })
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d calls for %d concurrent callers, want 1", n, callers)
	}
	for i := range callers {
		if errs[i] != nil || results[i] != "answer" {
			t.Fatalf("caller %d: %q, %v", i, results[i], errs[i])
		}
	}
	if c.Len() != 0 {
		t.Fatal("Do stored a result")
	}

	// Another question is another call; a later one is a new call.
	boom := errors.New("boom")
	for range 2 {
		if _, err := c.Do(t.Context(), KeyFor("other"), func(context.Context) (string, error) {
			calls.Add(1)
			return "", boom
		}); !errors.Is(err, boom) {
			t.Fatalf("error %v, want the call's", err)
		}
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("%d calls, want 3", n)
	}
}

// A caller whose context ends stops waiting; the call goes on, uncanceled,
// for the others.
func TestDoCallerGivesUp(t *testing.T) {
	c := New[string](Options{})
	k := KeyFor("jwt")
	release := make(chan struct{})
	var callCtxErr atomic.Value
	fn := func(ctx context.Context) (string, error) {
		<-release
		callCtxErr.Store(fmt.Sprint(ctx.Err()))
		return "answer", nil
	}
	first, cancel := context.WithCancel(t.Context())
	firstErr := make(chan error, 1)
	go func() {
		_, err := c.Do(first, k, fn)
		firstErr <- err
	}()
	waitFor(t, func() bool { return c.Waiting() == 1 })
	second := make(chan string, 1)
	go func() {
		v, _ := c.Do(t.Context(), k, fn)
		second <- v
	}()
	waitFor(t, func() bool { return c.Waiting() == 2 })
	cancel()
	if err := <-firstErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("the caller that gave up got %v", err)
	}
	close(release)
	if v := <-second; v != "answer" {
		t.Fatalf("the other caller got %q", v)
	}
	if got := callCtxErr.Load(); got != "<nil>" {
		t.Fatalf("the shared call saw its context end: %v", got)
	}
}

// When the last caller waiting for a call gives up, the call's context is
// canceled, so it does not run on to its own bound; a caller arriving
// after that starts a call of its own instead of joining the canceled one.
func TestDoLastCallerLeavingCancelsTheCall(t *testing.T) {
	c := New[string](Options{})
	k := KeyFor("jwt")
	release := make(chan struct{})
	callErr := make(chan error, 1)
	fn := func(ctx context.Context) (string, error) {
		<-release
		callErr <- ctx.Err()
		return "answer", nil
	}
	const callers = 3
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			if _, err := c.Do(ctx, k, fn); !errors.Is(err, context.Canceled) {
				t.Errorf("a caller that gave up got %v", err)
			}
		})
	}
	waitFor(t, func() bool { return c.Waiting() == callers })
	cancel()
	wg.Wait()

	// A later caller is not given the abandoned call's result.
	var later atomic.Int64
	v, err := c.Do(t.Context(), k, func(context.Context) (string, error) {
		later.Add(1)
		return "fresh", nil
	})
	if err != nil || v != "fresh" || later.Load() != 1 {
		t.Fatalf("a caller after the abandoned call got %q, %v (%d calls of its own)", v, err, later.Load())
	}

	close(release)
	if err := <-callErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("the call nobody waits for has context error %v, want canceled", err)
	}
}

// A call whose waiters all left ends as soon as fn honors its context:
// no goroutine of it stays behind.
func TestDoAbandonedCallLeavesNothing(t *testing.T) {
	c := New[string](Options{})
	before := runtime.NumGoroutine()
	for i := range 20 {
		ctx, cancel := context.WithCancel(t.Context())
		started := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			_, err := c.Do(ctx, KeyFor(fmt.Sprint(i)), func(ctx context.Context) (string, error) {
				close(started)
				<-ctx.Done() // as a TokenReview honors its request's context
				return "", ctx.Err()
			})
			done <- err
		}()
		<-started
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("caller got %v", err)
		}
	}
	// The test's own timeout bounds the wait: on a leak it never ends.
	waitFor(t, func() bool { return runtime.NumGoroutine() <= before })
}

func TestDoPanicIsAnError(t *testing.T) {
	c := New[string](Options{})
	_, err := c.Do(t.Context(), KeyFor("jwt"), func(context.Context) (string, error) { panic("bad") })
	if err == nil || !strings.Contains(err.Error(), "panic in a coalesced call: bad") {
		t.Fatalf("err = %v", err)
	}
}

// Concurrent Get, Put and Do under -race.
func TestConcurrentUse(t *testing.T) {
	c := New[[]string](Options{MaxEntries: 8})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := KeyFor(fmt.Sprint(i % 13))
				if v, ok := c.Get(k, time.Minute); ok && !reflect.DeepEqual(v, []string{fmt.Sprint(i % 13)}) {
					t.Errorf("worker %d: wrong value %v", w, v)
				}
				v, err := c.Do(t.Context(), k, func(context.Context) ([]string, error) { return []string{fmt.Sprint(i % 13)}, nil })
				if err != nil {
					t.Error(err)
				}
				c.Put(k, v, time.Minute, time.Time{})
			}
		})
	}
	wg.Wait()
	if c.Len() > 8 {
		t.Fatalf("%d entries over the bound 8", c.Len())
	}
}

// waitFor polls cond until it holds; the test's own timeout bounds it.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-t.Context().Done():
			t.Fatal("condition never held")
		case <-time.After(time.Millisecond):
		}
	}
}
