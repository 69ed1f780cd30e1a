package clusterkeys

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"errors"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// A prompt caller waits for the first fetch until its own deadline; then no
// prompt caller waits for that fetch, nor for a retry it did not start, and
// retries back off from MinRefresh, doubling per failure in a row.
func TestPromptIssuerDoesNotWaitForAFailingCluster(t *testing.T) {
	h := newHarness(t, nil)
	h.api.hold()
	short, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if _, err := h.set.PromptIssuer(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("first caller, fetch held: %v", err)
	}
	// The fetch is still held: a caller with no deadline at all returns,
	// so it did not wait for it.
	if _, err := h.set.PromptIssuer(context.Background()); !errors.Is(err, ErrNotFetched) {
		t.Fatalf("caller after one gave up: %v", err)
	}
	if _, ok := h.set.KnownIssuer(); ok {
		t.Fatal("KnownIssuer before any fetch ended")
	}
	h.api.fail(discoveryPath, errAPIDown)
	h.api.release()
	h.settle()

	// failedAt is the end of each failed fetch; each backoff is reckoned from it.
	calls := h.api.count(discoveryPath)
	for _, backoff := range []time.Duration{testMinRefresh, 2 * testMinRefresh, 4 * testMinRefresh} {
		h.clock.Advance(backoff - time.Second)
		if _, err := h.set.PromptIssuer(context.Background()); !errors.Is(err, ErrNotFetched) || !errors.Is(err, errAPIDown) {
			t.Fatalf("within the backoff of %s: %v", backoff, err)
		}
		if _, ok := h.set.KnownIssuer(); ok || h.api.count(discoveryPath) != calls {
			t.Fatalf("within the backoff of %s: a fetch started (%d calls, had %d)", backoff, h.api.count(discoveryPath), calls)
		}
		h.clock.Advance(time.Second)
		// The caller that starts the retry waits for it.
		if _, err := h.set.PromptIssuer(context.Background()); !errors.Is(err, errAPIDown) {
			t.Fatalf("retry after %s: %v", backoff, err)
		}
		h.settle()
		if calls++; h.api.count(discoveryPath) != calls {
			t.Fatalf("after a backoff of %s: %d fetches, want %d", backoff, h.api.count(discoveryPath), calls)
		}
	}

	// A retry in flight after failures: only its starter waits for it.
	h.clock.Advance(8 * testMinRefresh)
	h.api.hold()
	started := make(chan error, 1)
	go func() {
		_, err := h.set.PromptIssuer(context.Background())
		started <- err
	}()
	<-h.api.started
	if _, err := h.set.PromptIssuer(context.Background()); !errors.Is(err, ErrNotFetched) {
		t.Fatalf("another caller during the retry: %v", err)
	}
	h.api.serve(discoveryPath, []byte(`{"issuer":"`+testkit.Issuer+`"}`))
	h.api.release()
	if err := <-started; err != nil {
		t.Fatalf("the retry's starter: %v", err)
	}
	if iss, ok := h.set.KnownIssuer(); !ok || iss != testkit.Issuer {
		t.Fatalf("KnownIssuer after a good fetch: %q %v", iss, ok)
	}
	// A success ends the run of failures: the next failure backs off from
	// MinRefresh again.
	h.settle()
	if got := h.set.issuer.failures; got != 0 {
		t.Fatalf("failures after a good fetch: %d", got)
	}
}

// KnownIssuer never waits, and starts the fetch that later callers find.
func TestKnownIssuerStartsAFetchInTheBackground(t *testing.T) {
	h := newHarness(t, nil)
	h.api.hold()
	if _, ok := h.set.KnownIssuer(); ok {
		t.Fatal("issuer known before any fetch")
	}
	if got := <-h.api.started; got != discoveryPath {
		t.Fatalf("fetched %s", got)
	}
	h.api.release()
	h.settle()
	if iss, ok := h.set.KnownIssuer(); !ok || iss != testkit.Issuer {
		t.Fatalf("after the fetch: %q %v", iss, ok)
	}
	if h.api.count(discoveryPath) != 1 {
		t.Fatalf("%d discovery fetches", h.api.count(discoveryPath))
	}
}

// PromptKey answers held keys at once, waits for a first fetch, and does not
// wait for a failing cluster's keys.
func TestPromptKey(t *testing.T) {
	a := ecKey(t, elliptic.P256()).Public()
	h := newHarness(t, map[string]crypto.PublicKey{"a": a})
	if key, err := h.set.PromptKey(context.Background(), "a"); err != nil || !sameKey(key, a) {
		t.Fatalf("first fetch: %v", err)
	}
	h.clock.Advance(testMinRefresh)
	if _, err := h.set.PromptKey(context.Background(), "b"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown kid: %v", err)
	}
	h.settle()

	h.api.fail(jwksPath, errAPIDown)
	h.clock.Advance(testMinRefresh)
	if _, err := h.set.PromptKey(context.Background(), "c"); !errors.Is(err, ErrUnknownKey) || !errors.Is(err, errAPIDown) {
		t.Fatalf("refresh failed: %v", err)
	}
	h.settle()
	calls := h.api.count(jwksPath)
	h.api.hold()
	h.clock.Advance(testMinRefresh - time.Second)
	// Within the backoff: no fetch, no wait (the fetcher holds any call).
	if _, err := h.set.PromptKey(context.Background(), "c"); !errors.Is(err, ErrUnknownKey) || h.api.count(jwksPath) != calls {
		t.Fatalf("within the backoff: %v, %d fetches (had %d)", err, h.api.count(jwksPath), calls)
	}
	if key, err := h.set.PromptKey(context.Background(), "a"); err != nil || !sameKey(key, a) {
		t.Fatalf("a held key while failing: %v", err)
	}
	h.api.release()
}
