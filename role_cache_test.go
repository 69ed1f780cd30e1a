package kubeauth

import (
	"context"
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

// countingStorage counts reads of role entries.
type countingStorage struct {
	logical.Storage
	roleGets atomic.Int64
}

func (c *countingStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	if len(key) > len(rolePrefix) && key[:len(rolePrefix)] == rolePrefix {
		c.roleGets.Add(1)
	}
	return c.Storage.Get(ctx, key)
}

func TestRoleCacheServesLogins(t *testing.T) {
	e := configured(t)
	counting := &countingStorage{Storage: e.storage}
	login := func(role string) (*logical.Response, error) {
		return e.b.HandleRequest(t.Context(), &logical.Request{
			Operation: logical.UpdateOperation, Path: "login", Storage: counting,
			Data: map[string]any{"role": role, "jwt": e.token()}, Connection: &logical.Connection{RemoteAddr: "10.1.2.3"},
		})
	}
	for range 3 {
		if resp, err := login(testRole); err != nil || resp.IsError() {
			t.Fatalf("login: %v %#v", err, resp)
		}
	}
	if n := counting.roleGets.Load(); n > 1 {
		t.Fatalf("%d role reads for 3 logins, want at most 1", n)
	}

	// A write through the backend is seen by the next login.
	e.writeRole(testRole, map[string]any{"token_policies": "changed"})
	resp, err := login(testRole)
	if err != nil || !reflect.DeepEqual(resp.Auth.Policies, []string{"changed"}) {
		t.Fatalf("login after update: %v %#v", err, resp)
	}

	// A change made on another node reaches this one through Invalidate.
	entry, err := logical.StorageEntryJSON(roleKey(testRole), &roleEntry{
		ServiceAccountNames: []string{"*"}, ServiceAccountNamespaces: []string{"*"},
		AliasNameSource: aliasNameSourceUID,
	})
	if err != nil {
		t.Fatal(err)
	}
	entry.Value = []byte(`{"bound_service_account_names":["*"],"bound_service_account_namespaces":["*"],"token_policies":["elsewhere"]}`)
	if err := e.storage.Put(t.Context(), entry); err != nil {
		t.Fatal(err)
	}
	e.b.Invalidate(t.Context(), roleKey(testRole))
	resp, err = login(testRole)
	if err != nil || !reflect.DeepEqual(resp.Auth.Policies, []string{"elsewhere"}) {
		t.Fatalf("login after invalidate: %v %#v", err, resp)
	}

	// Deleted roles are gone at once; unknown names are never remembered.
	e.mustDo(logical.DeleteOperation, "role/"+testRole, nil)
	resp, err = login(testRole)
	requireBadRequest(t, resp, err, `role: "web" does not exist`)
	for _, name := range []string{"made-up-1", "made-up-2"} {
		_, _ = login(name)
	}
	e.b.roles.mu.Lock()
	n := len(e.b.roles.roles)
	e.b.roles.mu.Unlock()
	if n != 0 {
		t.Fatalf("cache holds %d entries after misses", n)
	}
}

// blockingStorage holds every Get after it has read storage until release
// is closed, so a test can land a write while a read is in flight.
type blockingStorage struct {
	logical.Storage
	read    chan struct{}
	release chan struct{}
}

func (b *blockingStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	entry, err := b.Storage.Get(ctx, key)
	close(b.read)
	<-b.release
	return entry, err
}

// A fill that read storage before a concurrent write must not cache the
// older role.
func TestRoleCacheFillRacingWrite(t *testing.T) {
	e := configured(t)
	slow := &blockingStorage{Storage: e.storage, read: make(chan struct{}), release: make(chan struct{})}
	done := make(chan *roleEntry)
	go func() {
		r, err := e.b.roles.get(t.Context(), slow, testRole)
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	<-slow.read // the old role has been read, not yet cached
	e.writeRole(testRole, map[string]any{"token_policies": "new"})
	close(slow.release)
	if old := <-done; !reflect.DeepEqual(old.TokenPolicies, []string{"web-read"}) {
		t.Fatalf("the in-flight read returned %v", old.TokenPolicies)
	}

	r, err := e.b.roles.get(t.Context(), e.storage, testRole)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.TokenPolicies, []string{"new"}) {
		t.Fatalf("cache serves %v after the write, want [new]", r.TokenPolicies)
	}
}
