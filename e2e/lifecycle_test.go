package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// The apiserver keeps a successful TokenReview for 10 s (no flag changes
// it), so a token reviewed just before its service account or pod goes
// stays good that long. These tests wait it out; they run in parallel so the
// suite pays the wait once.
const (
	reviewCacheTTL = 10 * time.Second
	// refusalDeadline bounds the wait for a refusal: the cache plus ample
	// room for a loaded 2-core machine.
	refusalDeadline = reviewCacheTTL + 30*time.Second
)

// eventuallyDenied retries a login until it is refused, and fails the test
// when it is still accepted refusalDeadline after since. Any answer other
// than success or refusal fails at once.
func eventuallyDenied(t *testing.T, m *mount, role, jwt string, since time.Time) {
	t.Helper()
	for {
		r := m.login(t, role, jwt)
		switch r.Status {
		case http.StatusForbidden:
			realstack.ExpectDenied(t, r)
			t.Logf("refused %.1f s after the change", time.Since(since).Seconds())
			return
		case http.StatusOK:
		default:
			t.Fatalf("want HTTP 200 or 403 while waiting for the refusal, got %s", r)
		}
		if time.Since(since) > refusalDeadline {
			t.Fatalf("still logged in %v after the change: %s", time.Since(since).Round(time.Second), r.Req)
		}
		time.Sleep(time.Second)
	}
}

func TestLoginAfterServiceAccountDeleted(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "gone", nil)
	m.bindRole(t, "gone", w, nil)
	jwt := vaultToken(t, w)
	m.mustLogin(t, "gone", jwt) // reviewed: the apiserver caches the success

	deleteServiceAccount(t, w.Namespace, w.SA.Name)
	eventuallyDenied(t, m, "gone", jwt, time.Now())
}

func TestLoginAfterServiceAccountRecreated(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "phoenix", nil)
	m.bindRole(t, "phoenix", w, nil)
	oldJWT := vaultToken(t, w)
	oldAuth := m.mustLogin(t, "phoenix", oldJWT)

	deleteServiceAccount(t, w.Namespace, w.SA.Name)
	changed := time.Now()
	reborn := realstack.Workload{Namespace: w.Namespace, SA: stk.NewServiceAccount(t, w.Namespace, w.SA.Name, nil)}
	if reborn.SA.UID == w.SA.UID {
		t.Fatalf("the recreated service account kept UID %s", w.SA.UID)
	}

	// The new account logs in at once, as a new identity.
	newAuth := m.mustLogin(t, "phoenix", vaultToken(t, reborn))
	if got := newAuth.StringMap("metadata")["service_account_uid"]; got != string(reborn.SA.UID) {
		t.Errorf("service_account_uid = %q, want the new UID %q", got, reborn.SA.UID)
	}
	if newAuth.Str("entity_id") == oldAuth.Str("entity_id") {
		t.Errorf("the recreated service account shares the old one's entity %s", oldAuth.Str("entity_id"))
	}
	// The old account's token names the old UID: refused once the cache
	// has forgotten it.
	eventuallyDenied(t, m, "phoenix", oldJWT, changed)
}

func TestLoginWithPodBoundToken(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "runner", nil)
	m.bindRole(t, "runner", w, nil)
	pod := newPod(t, w.Namespace, w.SA.Name)
	jwt := mintToken(t, w.Namespace, w.SA.Name, realstack.TokenOptions{Audiences: []string{"vault"}, Pod: pod})

	a := m.mustLogin(t, "runner", jwt)
	if got := a.StringMap("metadata")["service_account_uid"]; got != string(w.SA.UID) {
		t.Errorf("service_account_uid = %q, want %q", got, w.SA.UID)
	}

	deletePod(t, pod)
	eventuallyDenied(t, m, "runner", jwt, time.Now())
	// The service account itself is still fine.
	m.mustLogin(t, "runner", vaultToken(t, w))
}
