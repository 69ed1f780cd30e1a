package clusterkeys

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"errors"
	"sync"
	"testing"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// OnKeysFetched hears of every fetch of the signing keys, good or bad, and
// of nothing else (the issuer's document is not the keys).
func TestOnKeysFetchedReportsEachKeysFetch(t *testing.T) {
	a := ecKey(t, elliptic.P256()).Public()
	api, clock := newFakeFetcher(), newFakeClock()
	api.serve(jwksPath, jwksDoc(t, map[string]crypto.PublicKey{"a": a}))
	api.serve(discoveryPath, []byte(`{"issuer":"`+testkit.Issuer+`"}`))
	var mu sync.Mutex
	var seen []error
	set := New(api, Options{
		MinRefresh: testMinRefresh, RefreshEvery: testRefreshEvery, Now: clock.Now,
		OnKeysFetched: func(err error) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, err)
		},
	})
	t.Cleanup(set.Close)

	if _, err := set.Key(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := set.Issuer(context.Background()); err != nil {
		t.Fatal(err)
	}
	api.fail(jwksPath, errAPIDown)
	clock.Advance(testRefreshEvery)
	if _, err := set.Key(context.Background(), "a"); err != nil {
		t.Fatal(err) // the last good copy, refreshed in the background
	}
	set.fetches.Wait()
	api.serve(jwksPath, []byte(`{"keys":[]}`))
	clock.Advance(testMinRefresh)
	if _, err := set.Key(context.Background(), "unknown"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Key(unknown) = %v", err)
	}
	set.fetches.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 || seen[0] != nil || !errors.Is(seen[1], errAPIDown) || seen[2] == nil {
		t.Fatalf("reported %v, want [nil, the API's error, the document's error]", seen)
	}
}
