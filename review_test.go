package kubeauth

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/hashicorp/vault/sdk/logical"
	authv1 "k8s.io/api/authentication/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/reviewcache"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/satoken"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// cached mode reuses a successful review for review_cache_ttl; always
// mode reviews every login.
func TestCachedModeReusesReview(t *testing.T) {
	e := configured(t)
	clk := useTestClock(e)
	token := e.token()
	e.mustLogin(testRole, token)
	e.mustLogin(testRole, token)
	e.requireReviews(2, "always mode")

	e.writeRole(testRole, map[string]any{"review_mode": "cached", "review_cache_ttl": "10s"})
	auth := e.mustLogin(testRole, token)
	e.requireReviews(3, "cached mode, first login")
	for range 3 {
		again := e.mustLogin(testRole, token)
		if again.Alias.Name != auth.Alias.Name || again.Metadata[metaSAUID] != testkit.SAUID {
			t.Fatalf("a cached login's identity %v differs from the reviewed one %v", again.Metadata, auth.Metadata)
		}
	}
	e.requireReviews(3, "cached mode, logins within the TTL")
	if !strings.Contains(e.logs.String(), `"verified_by":"review_cache"`) {
		t.Fatal("the debug line does not say the review cache vouched")
	}

	// Another token, or the same token for other audiences, is another
	// question.
	e.mustLogin(testRole, e.tokenNo(1))
	e.requireReviews(4, "cached mode, another token")

	clk.Advance(10*time.Second - time.Millisecond)
	e.mustLogin(testRole, token)
	e.requireReviews(4, "cached mode, just before the TTL")
	clk.Advance(time.Millisecond)
	e.mustLogin(testRole, token)
	e.requireReviews(5, "cached mode, at the TTL")

	// A shorter TTL applies at once to answers kept under the longer one.
	e.writeRole(testRole, map[string]any{"review_cache_ttl": "3s"})
	clk.Advance(3 * time.Second)
	e.mustLogin(testRole, token)
	e.requireReviews(6, "cached mode, the role's TTL shortened")
}

// An answer is kept no longer than the token's own exp.
func TestCachedModeExpiresAtTokenExp(t *testing.T) {
	e := configured(t)
	clk := useTestClock(e)
	e.writeRole(testRole, map[string]any{"review_mode": "cached", "review_cache_ttl": "5m"})
	claims := testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault")
	claims["exp"] = clk.Now().Add(30 * time.Second).Unix()
	token := testkit.SignJWT(t, e.signer, jose.RS256, claims)
	e.mustLogin(testRole, token)
	clk.Advance(29 * time.Second)
	e.mustLogin(testRole, token)
	e.requireReviews(1, "within the token's lifetime")
	// Past exp but within the 60 s clock skew the local check allows: the
	// token is reviewed again, not answered from the cache.
	clk.Advance(2 * time.Second)
	e.mustLogin(testRole, token)
	e.requireReviews(2, "past the token's exp")
}

// Refusals and faults are never kept: the next login asks again.
func TestCachedModeFailuresNotCached(t *testing.T) {
	e := configured(t)
	e.writeRole(testRole, map[string]any{"review_mode": "cached"})
	token := e.token()

	e.kube.deleteServiceAccount(testkit.Namespace, testkit.SAName)
	resp, err := e.login(testRole, token)
	e.requireDenied(resp, err, refusal.ReasonReviewRejected)
	e.kube.addServiceAccount(testkit.Namespace, testkit.SAName, testkit.SAUID, nil)
	e.mustLogin(testRole, token)
	e.requireReviews(2, "a refusal, then a success")

	other := testkit.SignJWT(t, e.signer, jose.RS256, testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault", "other"))
	e.kube.answerStatus(everyPath, http.StatusInternalServerError, "etcd is down")
	resp, err = e.login(testRole, other)
	e.requireFault(refusal.ErrKubeFault, resp, err, "etcd is down")
	e.kube.setIntercept(nil)
	e.mustLogin(testRole, other)
	e.requireReviews(3, "a fault, then a success")
	e.mustLogin(testRole, other)
	e.requireReviews(3, "the success is kept")
}

// Everything but the review still runs on a login the cache answers: the
// role's current bindings, CIDRs and audience, and the token's times.
func TestCachedModeStillChecksTheRest(t *testing.T) {
	e := configured(t)
	clk := useTestClock(e)
	e.writeRole(testRole, map[string]any{"review_mode": "cached", "review_cache_ttl": "5m"})
	token := e.token()
	e.mustLogin(testRole, token)

	e.writeRole(testRole, map[string]any{"bound_service_account_names": "api"})
	resp, err := e.login(testRole, token)
	e.requireDenied(resp, err, refusal.ReasonName)

	e.writeRole(testRole, map[string]any{"bound_service_account_names": testkit.SAName, "token_bound_cidrs": "192.0.2.0/24"})
	resp, err = e.login(testRole, token)
	e.requireDenied(resp, err, refusal.ReasonCIDR)

	e.writeRole(testRole, map[string]any{"token_bound_cidrs": "", "audience": "other"})
	resp, err = e.login(testRole, token)
	e.requireDenied(resp, err, refusal.ReasonAudienceMismatch)

	e.writeRole(testRole, map[string]any{"audience": "vault"})
	e.mustLogin(testRole, token)
	e.requireReviews(1, "cache hits after role changes")

	clk.Advance(2 * time.Hour) // the token expired an hour ago
	resp, err = e.login(testRole, token)
	e.requireDenied(resp, err, refusal.ReasonExpired)
}

// The documented staleness: in cached mode a deleted service account logs
// in until the kept answer is review_cache_ttl old; in always mode it is
// refused at once.
func TestCachedModeDeletedServiceAccount(t *testing.T) {
	e := configured(t)
	clk := useTestClock(e)
	e.writeRole("cached", map[string]any{"review_mode": "cached", "review_cache_ttl": "20s"})
	token := e.token()
	e.mustLogin(testRole, token)
	e.mustLogin("cached", token)
	e.kube.deleteServiceAccount(testkit.Namespace, testkit.SAName)

	resp, err := e.login(testRole, token)
	e.requireDenied(resp, err, refusal.ReasonReviewRejected)
	clk.Advance(19 * time.Second)
	e.mustLogin("cached", token)
	clk.Advance(time.Second)
	resp, err = e.login("cached", token)
	e.requireDenied(resp, err, refusal.ReasonReviewRejected)
}

// The kept answers belong to the config: a config write, an invalidation
// of the config key and Clean drop them.
func TestReviewCacheDroppedWithTheConfig(t *testing.T) {
	e := configured(t)
	e.writeRole(testRole, map[string]any{"review_mode": "cached", "review_cache_ttl": "5m"})
	token := e.token()
	e.mustLogin(testRole, token)
	e.mustLogin(testRole, token)
	e.requireReviews(1, "before")

	e.writeConfig(nil)
	e.mustLogin(testRole, token)
	e.requireReviews(2, "after a config write")
	e.mustLogin(testRole, token)
	e.requireReviews(2, "kept again")

	e.b.Invalidate(t.Context(), configPath)
	e.mustLogin(testRole, token)
	e.requireReviews(3, "after Invalidate of the config")

	e.b.Invalidate(t.Context(), rolePrefix+testRole)
	e.mustLogin(testRole, token)
	e.requireReviews(3, "after Invalidate of a role (the answers stay)")

	e.b.Clean(t.Context())
	e.mustLogin(testRole, token)
	e.requireReviews(4, "after Clean")
}

// The cache is keyed by a digest of the JWT and the audiences, and keeps
// only what satoken.CheckReview reads of a successful answer.
func TestReviewCacheKeepsNoToken(t *testing.T) {
	e := configured(t)
	e.writeRole(testRole, map[string]any{"review_mode": "cached"})
	token := e.token()
	e.mustLogin(testRole, token)
	st := e.state()
	kept, ok := st.reviews.Get(reviewcache.KeyFor(token, "vault"), 0)
	if !ok {
		t.Fatal("no answer kept under the digest of the JWT and its audience")
	}
	if kept.User.Username != "system:serviceaccount:apps:web" || kept.User.UID != testkit.SAUID || len(kept.User.Groups) != 0 {
		t.Fatalf("kept %+v", kept)
	}
	if st.reviews.Len() != 1 {
		t.Fatalf("%d entries, want 1", st.reviews.Len())
	}
}

func TestCacheableAnswer(t *testing.T) {
	ok := authv1.TokenReviewStatus{
		Authenticated: true,
		User: authv1.UserInfo{Username: "system:serviceaccount:a:b", UID: "u", Groups: []string{"g"},
			Extra: map[string]authv1.ExtraValue{satoken.ExtraPodName: {"p"}, satoken.ExtraPodUID: {"pu"}, "other": {"x"}}},
		Audiences: []string{"vault"},
	}
	kept, keep := cacheableAnswer(&ok)
	if !keep || kept.User.Groups != nil || len(kept.User.Extra) != 2 || kept.User.Extra[satoken.ExtraPodName][0] != "p" {
		t.Fatalf("kept %+v (%v)", kept, keep)
	}
	for name, st := range map[string]authv1.TokenReviewStatus{
		"not authenticated": {User: ok.User},
		"an error":          {Authenticated: true, Error: "x", User: ok.User},
		"too large":         {Authenticated: true, User: authv1.UserInfo{Username: strings.Repeat("x", maxCachedAnswerBytes+1)}},
	} {
		if _, keep := cacheableAnswer(&st); keep {
			t.Errorf("%s: kept", name)
		}
	}
}

// Concurrent logins with the same token share one TokenReview in every
// mode; in always mode the next login reviews again.
func TestConcurrentLoginsShareOneReview(t *testing.T) {
	for _, mode := range []string{reviewAlways, reviewCached} {
		t.Run(mode, func(t *testing.T) {
			e := configured(t)
			e.writeRole(testRole, map[string]any{"review_mode": mode})
			token := e.token()
			for _, err := range e.loginsSharingReview(12, token) {
				if err != nil {
					t.Fatal(err)
				}
			}
			e.requireReviews(1, "concurrent logins")
			e.mustLogin(testRole, token)
			want := int64(2)
			if mode == reviewCached {
				want = 1
			}
			e.requireReviews(want, "one more login")
		})
	}
}

// A selector role in cached mode reads a namespace's labels once per
// review_cache_ttl; in always mode, once per login.
func TestSelectorLabelCache(t *testing.T) {
	e := configured(t)
	clk := useTestClock(e)
	e.kube.setNamespaceLabels(testkit.Namespace, map[string]string{"team": "a"})
	e.writeRole(testRole, map[string]any{
		"bound_service_account_namespaces":         "elsewhere",
		"bound_service_account_namespace_selector": `{"matchLabels":{"team":"a"}}`,
	})
	token := e.token()
	e.mustLogin(testRole, token)
	e.mustLogin(testRole, token)
	if n := e.kube.namespaceGets.Load(); n != 2 {
		t.Fatalf("always mode: %d namespace reads for 2 logins, want 2", n)
	}

	e.mustDo(logical.UpdateOperation, "role/"+testRole, map[string]any{"review_mode": "cached", "review_cache_ttl": "30s"})
	e.mustLogin(testRole, token)
	e.mustLogin(testRole, e.tokenNo(1))
	if n := e.kube.namespaceGets.Load(); n != 3 {
		t.Fatalf("cached mode: %d namespace reads in all, want 3", n)
	}
	// Relabeled: the old labels hold until they are the TTL old.
	e.kube.setNamespaceLabels(testkit.Namespace, map[string]string{"team": "b"})
	clk.Advance(29 * time.Second)
	e.mustLogin(testRole, token)
	clk.Advance(time.Second)
	resp, err := e.login(testRole, token)
	e.requireDenied(resp, err, refusal.ReasonNamespace)
	if n := e.kube.namespaceGets.Load(); n != 4 {
		t.Fatalf("cached mode: %d namespace reads in all, want 4", n)
	}

	// A namespace that is not there is not remembered.
	e.kube.setNamespaceLabels(testkit.Namespace, map[string]string{"team": "a"})
	clk.Advance(time.Minute)
	e.kube.mu.Lock()
	delete(e.kube.namespaces, testkit.Namespace)
	e.kube.mu.Unlock()
	resp, err = e.login(testRole, token)
	e.requireDenied(resp, err, refusal.ReasonNamespace)
	e.kube.setNamespaceLabels(testkit.Namespace, map[string]string{"team": "a"})
	e.mustLogin(testRole, token)
}

// With no reviewer credential each login's own JWT reads the labels, so
// none is kept across logins.
func TestSelectorLabelsSelfReviewNotShared(t *testing.T) {
	e := newTestEnv(t)
	e.kube.setReviewerToken("")
	e.writeConfig(map[string]any{"token_reviewer_jwt": ""})
	e.kube.setNamespaceLabels(testkit.Namespace, map[string]string{"team": "a"})
	e.writeRole(testRole, map[string]any{
		"bound_service_account_namespaces":         "elsewhere",
		"bound_service_account_namespace_selector": `{"matchLabels":{"team":"a"}}`,
		"review_mode": "cached",
	})
	token := e.token()
	e.mustLogin(testRole, token)
	e.mustLogin(testRole, token)
	if n := e.kube.namespaceGets.Load(); n != 2 {
		t.Fatalf("%d namespace reads for 2 self-reviewed logins, want 2", n)
	}
	e.requireReviews(1, "self-reviewed logins of one token")
}
