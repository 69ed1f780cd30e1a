package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// Each review mode logs in with a token the apiserver minted, with the
// identity the apiserver vouches for; a selector role in cached and hybrid
// modes too. In hybrid mode the plugin fetches the cluster's keys and
// issuer from this apiserver with the reviewer credential.
func TestReviewModesLogIn(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "moder", map[string]string{"review-modes": "yes"})
	jwt := vaultToken(t, w)
	for _, mode := range []string{"always", "cached", "hybrid"} {
		m.bindRole(t, mode, w, map[string]any{"review_mode": mode})
		m.writeRole(t, mode+"-selector", map[string]any{
			"bound_service_account_names":              w.SA.Name,
			"bound_service_account_namespace_selector": `{"matchLabels":{"review-modes":"yes"}}`,
			"audience":    "vault",
			"review_mode": mode,
		})
		r := root(t, http.MethodGet, "auth/"+m.path+"/role/"+mode, nil)
		expectStatus(t, r, http.StatusOK)
		if got := r.Data().Str("review_mode"); got != mode {
			t.Errorf("role %s reads review_mode %q", mode, got)
		}
		for _, role := range []string{mode, mode + "-selector"} {
			for range 2 {
				a := m.mustLogin(t, role, jwt)
				md := a.StringMap("metadata")
				if md["service_account_uid"] != string(w.SA.UID) || md["service_account_name"] != w.SA.Name ||
					md["service_account_namespace"] != w.Namespace {
					t.Errorf("role %s: metadata %v", role, md)
				}
			}
		}
	}
	// A token minted for another audience, or by no one, is refused in
	// every mode.
	other := mintToken(t, w.Namespace, w.SA.Name, realstack.TokenOptions{Audiences: []string{"not-vault"}})
	forged := forgeToken(t, jwt)
	for _, mode := range []string{"always", "cached", "hybrid"} {
		realstack.ExpectDenied(t, m.login(t, mode, other))
		realstack.ExpectDenied(t, m.login(t, mode, forged))
	}
}

// forgeToken is jwt with its signature replaced by another valid-looking
// one: the claims are genuine, the signature is not.
func forgeToken(t *testing.T, jwt string) string {
	t.Helper()
	b := []byte(jwt)
	for i := len(b) - 40; i < len(b)-24; i++ {
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
	}
	return string(b)
}

// A service account is deleted while its token is in use. always: refused
// as soon as the apiserver stops accepting the token (its own 10 s cache).
// cached: still logs in on the kept answer, refused once that is
// review_cache_ttl old. hybrid (the documented caveat): the young token
// still logs in without any review, and is refused once it is
// local_max_token_age old, when it is reviewed again.
func TestReviewModesAfterServiceAccountDeleted(t *testing.T) {
	t.Parallel()
	const (
		cacheTTL  = 45 * time.Second
		maxAge    = 30 * time.Second
		slackTime = 30 * time.Second // a loaded two-core machine
	)
	m := configuredMount(t)
	w := stk.NewWorkload(t, "doomed", nil)
	m.bindRole(t, "always", w, map[string]any{"review_mode": "always"})
	m.bindRole(t, "cached", w, map[string]any{"review_mode": "cached", "review_cache_ttl": cacheTTL.String()})
	m.bindRole(t, "hybrid", w, map[string]any{"review_mode": "hybrid", "local_max_token_age": maxAge.String()})
	minted := time.Now()
	jwt := vaultToken(t, w)
	for _, role := range []string{"always", "cached", "hybrid"} {
		m.mustLogin(t, role, jwt)
	}
	kept := time.Now() // the cached role's answer is at most this old

	deleteServiceAccount(t, w.Namespace, w.SA.Name)
	deleted := time.Now()
	eventuallyDenied(t, m, "always", jwt, deleted)

	if time.Since(kept) < cacheTTL {
		m.mustLogin(t, "cached", jwt)
		t.Logf("cached: still logged in %.1f s after the deletion (the kept answer)", time.Since(deleted).Seconds())
	} else {
		t.Logf("the machine is too slow to see the cached answer in use: always took %v to refuse", time.Since(deleted))
	}
	if time.Since(minted) < maxAge {
		m.mustLogin(t, "hybrid", jwt)
		t.Logf("hybrid: still logged in %.1f s after the deletion, the token %.1f s old", time.Since(deleted).Seconds(), time.Since(minted).Seconds())
	} else {
		t.Logf("the machine is too slow to see the young token in use: always took %v to refuse", time.Since(deleted))
	}

	untilRefused(t, m, "hybrid", jwt, minted, maxAge+slackTime)
	untilRefused(t, m, "cached", jwt, kept, cacheTTL+slackTime)
}

// untilRefused retries a login until it is refused, and fails the test when
// it is still accepted deadline after since.
func untilRefused(t *testing.T, m *mount, role, jwt string, since time.Time, deadline time.Duration) {
	t.Helper()
	for {
		r := m.login(t, role, jwt)
		switch r.Status {
		case http.StatusForbidden:
			realstack.ExpectDenied(t, r)
			t.Logf("%s: refused %.1f s after the reference time", role, time.Since(since).Seconds())
			return
		case http.StatusOK:
		default:
			t.Fatalf("%s: want HTTP 200 or 403 while waiting for the refusal, got %s", role, r)
		}
		if time.Since(since) > deadline {
			t.Fatalf("%s: still logged in %v after the reference time, over the bound %v", role, time.Since(since).Round(time.Second), deadline)
		}
		time.Sleep(time.Second)
	}
}
