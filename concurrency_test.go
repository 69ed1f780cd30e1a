package kubeauth

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
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
			names := testSAName
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
