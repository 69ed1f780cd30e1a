package kubeauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// Logins run while the config and roles are rewritten and invalidated; run
// with -race. Every login must either succeed or be refused (the role is
// briefly unbound), never fail with an internal error.
func TestConcurrentLoginsAndWrites(t *testing.T) {
	e := configured(t)
	token := e.token()
	const loginsPerWorker = 40

	var wg sync.WaitGroup
	errs := make(chan error, 8*loginsPerWorker)
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range loginsPerWorker {
				resp, err := e.login(testRole, token)
				switch {
				case errors.Is(err, logical.ErrPermissionDenied):
				case err != nil:
					errs <- fmt.Errorf("worker %d login %d: %w", w, i, err)
				case resp.IsError():
					errs <- fmt.Errorf("worker %d login %d: %w", w, i, resp.Error())
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 30 {
			e.writeConfig(nil)
			e.b.Invalidate(t.Context(), configPath)
			names := testkit.SAName
			if i%2 == 1 {
				names = "api"
			}
			e.writeRole(testRole, map[string]any{"bound_service_account_names": names})
			e.writeRole(fmt.Sprintf("other-%d", i%3), nil)
		}
		e.writeRole(testRole, nil)
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if resp, err := e.login(testRole, token); err != nil || resp.IsError() {
		t.Fatalf("login after the writes: %v %#v", err, resp)
	}
}

// hookStorage is the test's storage with hooks around reads and writes of
// the config, to stop a request at a chosen point while another runs.
type hookStorage struct {
	logical.Storage
	afterConfigGet func()
	afterConfigPut func()
}

func (s *hookStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	entry, err := s.Storage.Get(ctx, key)
	if key == configPath && s.afterConfigGet != nil {
		s.afterConfigGet()
	}
	return entry, err
}

func (s *hookStorage) Put(ctx context.Context, entry *logical.StorageEntry) error {
	err := s.Storage.Put(ctx, entry)
	if entry.Key == configPath && s.afterConfigPut != nil {
		s.afterConfigPut()
	}
	return err
}

// request runs one request against the backend with the given storage.
func (e *testEnv) request(s logical.Storage, op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	return e.b.HandleRequest(context.Background(), &logical.Request{
		Operation: op, Path: path, Data: data, Storage: s,
		Connection: &logical.Connection{RemoteAddr: "10.1.2.3"},
	})
}

// installed is the config of the state logins use now, or nil.
func (e *testEnv) installed() *clusterConfig {
	e.b.mu.RLock()
	defer e.b.mu.RUnlock()
	slot := e.b.slots[defaultCluster]
	if slot == nil || slot.state == nil {
		return nil
	}
	return slot.state.config
}

// waitOpenConns waits until the fake API server holds want client
// connections open. Closing is seen by the server a moment after the client
// closes, hence the wait; the bound only keeps a failing run from hanging.
func (f *fakeKube) waitOpenConns(t testing.TB, want int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for f.open.Load() != want {
		if time.Now().After(deadline) {
			t.Fatalf("the fake API server holds %d connections open, want %d", f.open.Load(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Two config writes at once: the first has stored its config when the
// second runs. Storage then holds the second; the state logins use must be
// built from it too, not from the first, which finished last.
func TestConcurrentConfigWritesMatchStorage(t *testing.T) {
	e := configured(t)
	second := make(chan error, 1)
	done := make(chan struct{})
	first := &hookStorage{Storage: e.storage, afterConfigPut: func() {
		go func() {
			resp, err := e.request(e.storage, logical.UpdateOperation, "config", withIssuer(e.configData(), "second"))
			if err == nil && resp.IsError() {
				err = resp.Error()
			}
			second <- err
			close(done)
		}()
		// Without serialization the second write completes here. With it,
		// it waits for this one, so stop waiting after a while.
		select {
		case <-done:
		case <-time.After(300 * time.Millisecond):
		}
	}}
	if resp, err := e.request(first, logical.UpdateOperation, "config", withIssuer(e.configData(), "first")); err != nil || resp.IsError() {
		t.Fatalf("first write: %v %#v", err, resp)
	}
	if err := <-second; err != nil {
		t.Fatalf("second write: %v", err)
	}
	stored := e.rawEntry(configPath)["issuer"]
	if got := e.installed(); got == nil || got.Issuer != stored {
		t.Fatalf("storage holds issuer %q but logins use a state built from %+v", stored, got)
	}
}

func withIssuer(data map[string]any, issuer string) map[string]any {
	data["issuer"] = issuer
	return data
}

// A login that loads the config lazily while a config write lands uses,
// and leaves installed, the state of what storage holds now.
func TestLazyLoadDoesNotInstallStaleConfig(t *testing.T) {
	e := configured(t)
	e.b.Invalidate(t.Context(), configPath)
	once := sync.Once{}
	s := &hookStorage{Storage: e.storage, afterConfigGet: func() {
		// The login has read the old config; now a write replaces it.
		once.Do(func() { e.writeConfig(map[string]any{"issuer": "newer"}) })
	}}
	if resp, err := e.request(s, logical.UpdateOperation, "login", map[string]any{"role": testRole, "jwt": e.token()}); err != nil || resp.IsError() {
		t.Fatalf("login: %v %#v", err, resp)
	}
	if got := e.installed(); got == nil || got.Issuer != "newer" {
		t.Fatalf("installed state %+v, want the one with issuer newer", got)
	}
}

// Config rewrites close the connections of the clients they replace. Each
// rewrite trusts a different CA bundle, so client-go's shared transport
// cache cannot hide a leak by handing every client the same pool.
func TestReplacedClientsCloseConnections(t *testing.T) {
	e := configured(t)
	token := e.token()
	for i := range 30 {
		e.writeConfig(map[string]any{"kubernetes_ca_cert": e.kube.caPEM + throwawayCA(t)})
		if resp, err := e.login(testRole, token); err != nil || resp.IsError() {
			t.Fatalf("login %d: %v %#v", i, err, resp)
		}
	}
	e.kube.waitOpenConns(t, 1)
	if resp, err := e.login(testRole, token); err != nil || resp.IsError() {
		t.Fatalf("login after the rewrites: %v %#v", err, resp)
	}
}

// A login that took the state before a config write replaced it finishes
// on the old client; the old client's connection is closed after it.
func TestInFlightLoginSurvivesReplacement(t *testing.T) {
	e := configured(t)
	e.writeConfig(map[string]any{"kubernetes_ca_cert": e.kube.caPEM + throwawayCA(t)})
	inReview, resume := make(chan struct{}), make(chan struct{})
	var blocked atomic.Bool
	e.kube.setIntercept(func(http.ResponseWriter, *http.Request) bool {
		if blocked.CompareAndSwap(false, true) {
			close(inReview)
			<-resume
		}
		return false
	})
	result := make(chan error, 1)
	go func() {
		resp, err := e.login(testRole, e.token())
		if err == nil && resp.IsError() {
			err = resp.Error()
		}
		result <- err
	}()
	<-inReview
	e.writeConfig(map[string]any{"kubernetes_ca_cert": e.kube.caPEM + throwawayCA(t)})
	close(resume)
	if err := <-result; err != nil {
		t.Fatalf("the login under way when the config changed failed: %v", err)
	}
	// No login has used the new client yet.
	e.kube.waitOpenConns(t, 0)
}

// A login whose lazy load raced with an invalidation builds a state for
// itself alone; it is closed when the login is done, not left open.
func TestOneOffStateIsClosed(t *testing.T) {
	e := configured(t)
	e.writeConfig(map[string]any{"kubernetes_ca_cert": e.kube.caPEM + throwawayCA(t)})
	e.b.Invalidate(t.Context(), configPath)
	once := sync.Once{}
	s := &hookStorage{Storage: e.storage, afterConfigGet: func() {
		once.Do(func() { e.b.Invalidate(t.Context(), configPath) })
	}}
	if resp, err := e.request(s, logical.UpdateOperation, "login", map[string]any{"role": testRole, "jwt": e.token()}); err != nil || resp.IsError() {
		t.Fatalf("login: %v %#v", err, resp)
	}
	if got := e.installed(); got != nil {
		t.Fatalf("a state read before an invalidation was installed: %+v", got)
	}
	e.kube.waitOpenConns(t, 0)
}
