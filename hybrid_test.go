package kubeauth

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/diagnose"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/metrics"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/satoken"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// hybridEnv is a configured env whose default role is in hybrid mode, with
// the backend on a test clock.
func hybridEnv(t *testing.T, roleFields map[string]any) (*testEnv, *testkit.Clock) {
	t.Helper()
	e := configured(t)
	clk := useTestClock(e)
	fields := map[string]any{"review_mode": "hybrid"}
	for k, v := range roleFields {
		fields[k] = v
	}
	e.writeRole(testRole, fields)
	return e, clk
}

// boundToken is a projected token as the API server mints it: signed by
// the fake's key with its kid, issued at iat by the fake's issuer.
func (e *testEnv) boundToken(iat time.Time, edit func(map[string]any)) string {
	claims := testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault")
	claims["iat"], claims["nbf"], claims["exp"] = iat.Unix(), iat.Unix(), iat.Add(time.Hour).Unix()
	if edit != nil {
		edit(claims)
	}
	return testkit.SignJWTWithKid(e.t, e.signer, testKeyID(e.t, e.signer.Public()), claims)
}

// kidlessToken is a token the cluster's key signed without naming it.
func (e *testEnv) kidlessToken() string {
	return testkit.SignJWT(e.t, e.signer, jose.RS256, testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault"))
}

func (e *testEnv) requireFetches(jwks, discovery int64, what string) {
	e.t.Helper()
	if j, d := e.kube.jwksGets.Load(), e.kube.discoveryGets.Load(); j != jwks || d != discovery {
		e.t.Fatalf("%s: %d key set and %d discovery fetches, want %d and %d", what, j, d, jwks, discovery)
	}
}

// A young bound token logs in with no TokenReview at all: the keys and the
// issuer are fetched once, and the identity comes from the verified claims.
func TestHybridYoungTokenNeedsNoReview(t *testing.T) {
	e, clk := hybridEnv(t, nil)
	auth := e.mustLogin(testRole, e.boundToken(clk.Now(), nil))
	if auth.Alias.Name != testkit.SAUID || auth.Metadata[metaSAName] != testkit.SAName || auth.Metadata[metaSANamespace] != testkit.Namespace ||
		auth.Metadata[metaSAUID] != testkit.SAUID {
		t.Fatalf("identity %v, alias %q", auth.Metadata, auth.Alias.Name)
	}
	for i := range 3 {
		e.mustLogin(testRole, e.boundToken(clk.Now().Add(-time.Duration(i)*time.Minute), nil))
	}
	e.requireReviews(0, "young bound tokens")
	e.requireFetches(1, 1, "four logins")
	if !strings.Contains(e.logs.String(), `"verified_by":"local_keys"`) {
		t.Fatal("the debug line does not say the cluster's keys vouched")
	}
}

// Tokens hybrid mode does not verify locally are reviewed, as in cached
// mode: older than local_max_token_age, or without exp.
func TestHybridReviewsOtherTokens(t *testing.T) {
	e, clk := hybridEnv(t, map[string]any{"local_max_token_age": "2m"})
	old := e.boundToken(clk.Now().Add(-2*time.Minute-time.Second), nil)
	e.mustLogin(testRole, old)
	e.requireReviews(1, "a token over local_max_token_age")
	e.mustLogin(testRole, old)
	e.requireReviews(1, "the same token again: the kept answer")
	e.mustLogin(testRole, e.boundToken(clk.Now().Add(-2*time.Minute), nil))
	e.requireReviews(1, "a token exactly local_max_token_age old")

	noExp := e.boundToken(clk.Now(), func(c map[string]any) { delete(c, "exp") })
	e.mustLogin(testRole, noExp)
	e.requireReviews(2, "a token without exp")
}

func TestLocalEligible(t *testing.T) {
	parse := func(claims map[string]any) *satoken.Claims {
		t.Helper()
		tok, err := satoken.Parse(testkit.SignJWT(t, testkit.PrivateKey(t, "signer.key"), jose.RS256, claims))
		if err != nil {
			t.Fatal(err)
		}
		return &tok.Claims
	}
	young := testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault")
	now := time.Unix(young["iat"].(int64), 0)
	secretBound := testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault")
	secretBound["kubernetes.io"].(map[string]any)["secret"] = map[string]any{"name": "s", "uid": "u"}
	noIat := testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault")
	delete(noIat, "iat")
	podBound := testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault")
	podBound["kubernetes.io"].(map[string]any)["pod"] = map[string]any{"name": "p", "uid": "pu"}
	cases := []struct {
		name     string
		claims   map[string]any
		audience string
		at       time.Time
		want     bool
	}{
		{"young bound token", young, "vault", now, true},
		{"pod-bound token", podBound, "vault", now, true},
		{"just at the age limit", young, "vault", now.Add(10 * time.Minute), true},
		{"past the age limit", young, "vault", now.Add(10*time.Minute + time.Second), false},
		{"role without audience", young, "", now, false},
		{"legacy Secret-based token", testkit.LegacyClaims(testkit.Namespace, testkit.SAName, testkit.SAUID, "web-token"), "vault", now, false},
		{"token bound to a Secret", secretBound, "vault", now, false},
		{"no iat", noIat, "vault", now, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := localEligible(parse(tc.claims), nonEmpty(tc.audience), tc.at, 10*time.Minute); got != tc.want {
				t.Fatalf("localEligible = %v, want %v", got, tc.want)
			}
		})
	}
}

// A token with another issuer, or with a kid the cluster's keys hold and a
// signature they do not verify (forged), is refused without a review.
func TestHybridRefusesWithoutReview(t *testing.T) {
	e, clk := hybridEnv(t, nil)
	other := testkit.PrivateKey(t, "other.key")
	cases := []struct {
		name   string
		token  string
		reason string
	}{
		{"another issuer", e.boundToken(clk.Now(), func(c map[string]any) { c["iss"] = "https://other.example" }), refusal.ReasonIssuer},
		{"the cluster's kid, another key's signature", testkit.SignJWTWithKid(t, other, testKeyID(t, e.signer.Public()),
			testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault")), refusal.ReasonSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := e.login(testRole, tc.token)
			e.requireDenied(resp, err, tc.reason)
		})
	}
	e.requireReviews(0, "refused tokens")
}

// A young token the cluster's keys cannot vouch for either way (no kid, a
// kid they do not hold) is reviewed, as the built-in method reviews every
// token: the API server decides, so one it accepts logs in and a forged
// one is refused by the review.
func TestHybridReviewsWhatTheKeysCannotVouchFor(t *testing.T) {
	e, clk := hybridEnv(t, nil)
	other := testkit.PrivateKey(t, "other.key")
	cases := []struct {
		name   string
		token  string
		reason string // "" for a login that passes
	}{
		{"no kid, the cluster's signature", e.kidlessToken(), ""},
		{"an unknown kid, the cluster's signature", testkit.SignJWTWithKid(t, e.signer, "not-published",
			testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault")), ""},
		{"no kid, forged", testkit.SignJWT(t, other, jose.RS256, testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault")), refusal.ReasonReviewRejected},
		{"an unknown kid, forged", testkit.SignJWTWithKid(t, other, "made-up", testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault")),
			refusal.ReasonReviewRejected},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := e.login(testRole, tc.token)
			if tc.reason == "" {
				if err != nil || resp.IsError() || resp.Auth == nil || resp.Auth.Alias.Name != testkit.SAUID {
					t.Fatalf("login: err=%v resp=%#v", err, resp)
				}
			} else {
				e.requireDenied(resp, err, tc.reason)
			}
			e.requireReviews(int64(i+1), tc.name)
		})
	}
	if strings.Contains(e.logs.String(), refusal.ReasonSigningKeyUnknown) {
		t.Fatalf("%s is no longer produced:\n%s", refusal.ReasonSigningKeyUnknown, e.logs.String())
	}
	// One key fetch: the first unknown kid's refresh; later ones fall
	// within the throttle. A token without kid fetches nothing.
	e.requireFetches(1, 1, "tokens the keys cannot vouch for")
	e.mustLogin(testRole, e.boundToken(clk.Now(), nil))
	e.requireReviews(int64(len(cases)), "a token the keys vouch for")
}

// A flood of made-up kids makes the key set refresh at most once per
// interval; each forged token is reviewed (and refused) as the built-in
// method reviews every token, and concurrent logins of one token share
// their review. A rotated key (a new kid) is reviewed within the interval,
// fetched once after it, and then verifies locally.
func TestHybridKeyRotationAndUnknownKidFlood(t *testing.T) {
	e, clk := hybridEnv(t, nil)
	e.mustLogin(testRole, e.boundToken(clk.Now(), nil))
	e.requireFetches(1, 1, "first login")

	other := testkit.PrivateKey(t, "other.key")
	for i := range 20 {
		claims := testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault")
		resp, err := e.login(testRole, testkit.SignJWTWithKid(t, other, "made-up-"+string(rune('a'+i)), claims))
		e.requireDenied(resp, err, refusal.ReasonReviewRejected)
	}
	e.requireFetches(1, 1, "a flood of made-up kids within the refresh interval")
	e.requireReviews(20, "twenty forged tokens")

	// The same forged token from many logins at once: one review at most
	// per round of logins that overlap, never one key fetch each.
	forged := testkit.SignJWTWithKid(t, other, "made-up-shared", testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault"))
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() { _, _ = e.login(testRole, forged) })
	}
	wg.Wait()
	if n := e.kube.reviews.Load(); n < 21 || n > 20+16 {
		t.Fatalf("%d TokenReviews after 16 logins of one forged token", n)
	}
	e.requireFetches(1, 1, "concurrent forged logins within the refresh interval")

	// The cluster adds a key; within the interval its tokens are reviewed,
	// after it the key is fetched once and they verify locally.
	rotatedKid := testKeyID(t, other.Public())
	e.kube.publish(rotatedKid, other.Public())
	rotated := testkit.SignJWTWithKid(t, other, rotatedKid, testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault"))
	before := e.kube.reviews.Load()
	e.mustLogin(testRole, rotated)
	e.requireReviews(before+1, "a rotated key within the refresh interval")
	clk.Advance(5 * time.Second)
	e.mustLogin(testRole, e.boundToken(clk.Now(), func(c map[string]any) { c["jti"] = "after-rotation" }))
	rotatedLater := testkit.SignJWTWithKid(t, other, rotatedKid, testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault", "other"))
	e.mustLogin(testRole, rotatedLater)
	e.mustLogin(testRole, rotatedLater)
	e.requireFetches(2, 1, "after the rotation")
	e.requireReviews(before+1, "rotated tokens after the refresh")
}

// The documented caveat: a deleted service account's young token logs in
// until it is local_max_token_age old, then it is reviewed and refused.
func TestHybridDeletedServiceAccount(t *testing.T) {
	e, clk := hybridEnv(t, map[string]any{"local_max_token_age": "1m"})
	token := e.boundToken(clk.Now(), nil)
	e.mustLogin(testRole, token)
	e.kube.deleteServiceAccount(testkit.Namespace, testkit.SAName)
	clk.Advance(time.Minute)
	e.mustLogin(testRole, token)
	clk.Advance(time.Second)
	resp, err := e.login(testRole, token)
	e.requireDenied(resp, err, refusal.ReasonReviewRejected)
}

// With pem_keys and an issuer in the config nothing is fetched; with an
// issuer only, the keys are and the discovery document is not.
func TestHybridConfiguredKeysAndIssuer(t *testing.T) {
	e, clk := hybridEnv(t, nil)
	e.writeConfig(map[string]any{"pem_keys": testkit.Testdata(t, "signer.pub"), "issuer": testkit.Issuer})
	e.mustLogin(testRole, e.boundToken(clk.Now(), nil))
	e.requireFetches(0, 0, "pem_keys and issuer")
	resp, err := e.login(testRole, e.boundToken(clk.Now(), func(c map[string]any) { c["iss"] = "https://other.example" }))
	e.requireDenied(resp, err, refusal.ReasonIssuer)

	e.writeConfig(map[string]any{"issuer": testkit.Issuer})
	e.mustLogin(testRole, e.boundToken(clk.Now(), nil))
	e.requireFetches(1, 0, "issuer only")
	e.requireReviews(0, "local verification")
}

// Without a reviewer credential there is nothing to fetch the keys with:
// every token is reviewed (with itself), as in cached mode.
func TestHybridSelfReviewReviews(t *testing.T) {
	e, clk := hybridEnv(t, nil)
	e.kube.setReviewerToken("")
	e.writeConfig(map[string]any{"token_reviewer_jwt": ""})
	token := e.boundToken(clk.Now(), nil)
	e.mustLogin(testRole, token)
	e.mustLogin(testRole, token)
	e.requireReviews(1, "self-reviewed hybrid logins")
	e.requireFetches(0, 0, "self-review")
}

// The key set belongs to the config state: a config write stops it, and
// the next hybrid login starts another.
func TestHybridKeySetDroppedWithTheConfig(t *testing.T) {
	e, clk := hybridEnv(t, nil)
	e.mustLogin(testRole, e.boundToken(clk.Now(), nil))
	st, err := e.b.liveDefault(t.Context(), e.storage)
	if err != nil || st == nil {
		t.Fatalf("state: %v %v", st, err)
	}
	if st.clusterKeys.set == nil {
		t.Fatal("no key set after a hybrid login")
	}
	e.writeConfig(nil)
	st.release()
	if st.clusterKeys.set != nil {
		t.Fatal("the replaced state's key set was not stopped")
	}
	e.mustLogin(testRole, e.boundToken(clk.Now(), nil))
	e.requireFetches(2, 2, "after a config write")
	e.b.Invalidate(t.Context(), configPath)
	e.mustLogin(testRole, e.boundToken(clk.Now(), nil))
	e.requireFetches(3, 3, "after Invalidate")
}

// The keys cannot be had (the reviewer may not read them): young tokens
// are reviewed, as cached mode reviews them, and the failed fetch is
// counted. Without the review either, the login fails closed.
func TestHybridKeyFetchRefused(t *testing.T) {
	e, clk := hybridEnv(t, nil)
	refuseJWKS := statusAnswer{"/openid/v1/jwks", http.StatusForbidden, "forbidden: cannot get path /openid/v1/jwks"}
	e.kube.answerStatuses(refuseJWKS)
	e.mustLogin(testRole, e.boundToken(clk.Now(), nil))
	e.requireReviews(1, "a young token whose keys cannot be read")

	e.kube.answerStatuses(statusAnswer{tokenReviewsPath, http.StatusUnauthorized, "Unauthorized"}, refuseJWKS)
	clk.Advance(5 * time.Second)
	resp, err := e.login(testRole, e.boundToken(clk.Now(), func(c map[string]any) { c["jti"] = "2" }))
	e.requireFault(refusal.ErrKubeFault, resp, err, "HTTP 401", "create on tokenreviews")
}

// tokenReviewsPath is where TokenReviews are created.
const tokenReviewsPath = "/apis/authentication.k8s.io/v1/tokenreviews"

// hybridEnvAt is hybridEnv with its clock set back by ago: a test that
// moves the clock ago forward ends at the real time, so that the fake API
// server (which checks token times against the real clock) still accepts
// the tokens minted on the way.
func hybridEnvAt(t *testing.T, ago time.Duration) (*testEnv, *testkit.Clock) {
	t.Helper()
	e, clk := hybridEnv(t, nil)
	clk.Advance(-ago)
	return e, clk
}

// youngToken is a bound token issued now by the test clock, valid for two
// days (so that the fake API server takes it whatever the test clock
// says), and unlike any other (its jti): never answered from the review
// cache.
func (e *testEnv) youngToken(clk *testkit.Clock, jti string) string {
	return e.boundToken(clk.Now(), func(c map[string]any) {
		c["jti"] = jti
		c["exp"] = clk.Now().Add(48 * time.Hour).Unix()
	})
}

// unheldKidToken is youngToken with a kid the cluster does not publish
// (signed with the cluster's key: the review accepts it).
func (e *testEnv) unheldKidToken(clk *testkit.Clock, jti string) string {
	claims := testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault")
	claims["iat"], claims["nbf"], claims["exp"] = clk.Now().Unix(), clk.Now().Unix(), clk.Now().Add(48*time.Hour).Unix()
	claims["jti"] = jti
	return testkit.SignJWTWithKid(e.t, e.signer, "not-held", claims)
}

// reviewedOrLocal logs in with a young token and says whether it took a
// TokenReview.
func (e *testEnv) reviewedOrLocal(clk *testkit.Clock, jti string) (reviewed bool) {
	e.t.Helper()
	before := e.kube.reviews.Load()
	e.mustLogin(testRole, e.youngToken(clk, jti))
	return e.kube.reviews.Load() > before
}

// keysAnswer makes the fake API server answer the signing keys' fetches
// with status (0: serve them), and everything else as usual.
func (e *testEnv) keysAnswer(status int) {
	if status == 0 {
		e.kube.setIntercept(nil)
		return
	}
	e.kube.answerStatus("/openid/v1/jwks", status, http.StatusText(status))
}

// The invariant of hybrid's trust in its copy of the cluster's keys, over
// many (age, last refresh result) cases: the keys are loaded at t0, a
// refresh (an unknown kid's) is answered with the result at t0+last, and a
// young token logs in at t0+last+more. It is verified locally exactly
// when a refresh succeeded (the last one, or one this login makes), or the
// copy is at most 15 minutes old and no refresh was refused the credential
// (401, 403); else it is reviewed, and the review (which the reviewer may
// still make: only discovery access is gone) lets it in.
func TestHybridKeyTrustInvariant(t *testing.T) {
	const maxAge = 15 * time.Minute
	lasts := []time.Duration{5 * time.Second, 5 * time.Minute, maxAge - 5*time.Second, maxAge, maxAge + time.Second}
	mores := []time.Duration{0, 5 * time.Second, time.Minute, 10 * time.Minute, maxAge, 30 * time.Hour}
	for _, result := range []int{0, http.StatusUnauthorized, http.StatusForbidden, http.StatusInternalServerError} {
		for _, last := range lasts {
			for _, more := range mores {
				t.Run(fmt.Sprintf("HTTP %d at %s, login %s later", result, last, more), func(t *testing.T) {
					e, clk := hybridEnvAt(t, last+more+time.Minute)
					if e.reviewedOrLocal(clk, "t0") {
						t.Fatal("the first young token was reviewed")
					}
					e.keysAnswer(result)
					clk.Advance(last)
					// Its kid is unknown: the keys are refreshed (how the
					// login ends is TestHybridReviewsWhatTheKeysCannotVouchFor's).
					_, _ = e.login(testRole, e.unheldKidToken(clk, "refresh"))
					clk.Advance(more)

					refused := result == http.StatusUnauthorized || result == http.StatusForbidden
					wantLocal := result == 0 || !refused && last+more <= maxAge
					if reviewed := e.reviewedOrLocal(clk, "final"); reviewed == wantLocal {
						t.Fatalf("reviewed %v, want local %v", reviewed, wantLocal)
					}
				})
			}
		}
	}
}

// The case: the reviewer loses every access (its refreshes and its
// reviews are answered 401). A young token no longer logs in on the old
// copy of the keys 30 hours later, nor, once a refresh was refused, at
// once: it is reviewed, and the review fails closed.
func TestHybridReviewerLostAccess(t *testing.T) {
	for _, when := range []time.Duration{30 * time.Hour, 15*time.Minute + time.Second, 0} {
		t.Run(when.String(), func(t *testing.T) {
			e, clk := hybridEnvAt(t, when+time.Hour)
			e.mustLogin(testRole, e.youngToken(clk, "before"))
			e.kube.answerStatuses(
				statusAnswer{"/openid/v1/jwks", http.StatusUnauthorized, "Unauthorized"},
				statusAnswer{"/.well-known/openid-configuration", http.StatusUnauthorized, "Unauthorized"},
				statusAnswer{tokenReviewsPath, http.StatusUnauthorized, "Unauthorized"},
			)
			clk.Advance(5 * time.Second)
			if when == 0 {
				// A refresh is refused (an unknown kid's, here).
				resp, err := e.login(testRole, e.unheldKidToken(clk, "refresh"))
				e.requireFault(refusal.ErrKubeFault, resp, err, "HTTP 401")
			}
			clk.Advance(when)
			resp, err := e.login(testRole, e.youngToken(clk, "after"))
			e.requireFault(refusal.ErrKubeFault, resp, err, "HTTP 401", "create on tokenreviews")
			e.requireReviews(0, "reviews answered 401")
		})
	}
}

// Keys that went stale (a refused refresh) are trusted again after the
// first good refresh, which the next login makes itself (at most once per
// 5 s), and the age the metrics and config/check show starts again.
func TestHybridKeysFreshAgain(t *testing.T) {
	e, clk := hybridEnvAt(t, time.Hour)
	if e.reviewedOrLocal(clk, "1") {
		t.Fatal("reviewed with fresh keys")
	}
	e.keysAnswer(http.StatusForbidden)
	clk.Advance(5 * time.Second)
	e.mustLogin(testRole, e.unheldKidToken(clk, "refresh"))
	for i := range 3 {
		if !e.reviewedOrLocal(clk, fmt.Sprint("refused-", i)) {
			t.Fatal("verified locally after the refresh was refused")
		}
	}
	st := e.state()
	if ks, ok := st.clusterKeys.status(); !ok || ks.Fresh || !ks.Denied || ks.Age != 5*time.Second {
		t.Fatalf("key set status %+v", ks)
	}

	e.keysAnswer(0)
	if !e.reviewedOrLocal(clk, "within-5s") {
		t.Fatal("refetched within the throttle")
	}
	clk.Advance(5 * time.Second)
	if e.reviewedOrLocal(clk, "after") {
		t.Fatal("reviewed after a good refresh")
	}
	if ks, ok := st.clusterKeys.status(); !ok || !ks.Fresh || ks.Denied || ks.Age != 0 {
		t.Fatalf("key set status after the good refresh %+v", ks)
	}
}

// What operators see of the keys' age: config/check's cluster_keys and the
// gauge kubeauth_cluster_keys_age_seconds, read at scrape from the key set
// the logins use (no sample before a hybrid login loaded it, none once a
// config write dropped it); a copy whose refresh was refused is flagged
// even when the check's own read succeeds, until a login refreshes it.
func TestHybridKeysAgeShown(t *testing.T) {
	e, clk := hybridEnvAt(t, time.Hour)
	age := func() float64 {
		t.Helper()
		return metricValue(e.scrape(), metrics.KeysAgeName, "cluster", "default")
	}
	keysCheck := func() checkEntry {
		t.Helper()
		return e.configCheck(t).get(t, diagnose.CheckClusterKeys)
	}
	if got := age(); got != -1 {
		t.Fatalf("an age (%v) before any hybrid login", got)
	}
	if c := keysCheck(); c.Status != diagnose.Passed || c.Data["key_set_loaded"] != false {
		t.Fatalf("cluster_keys before any hybrid login: %+v", c)
	}

	e.mustLogin(testRole, e.youngToken(clk, "1"))
	clk.Advance(2*time.Minute + 500*time.Millisecond)
	if got := age(); got != 120.5 {
		t.Fatalf("age %v, want 120.5", got)
	}
	c := keysCheck()
	if c.Status != diagnose.Passed || c.Data["key_set_age_seconds"] != float64(120) || c.Data["key_set_fresh"] != true ||
		c.Data["key_set_max_age_seconds"] != float64(900) {
		t.Fatalf("cluster_keys: %+v", c)
	}

	// A refresh is refused; the check's own read, made after, is not.
	e.keysAnswer(http.StatusForbidden)
	e.mustLogin(testRole, e.unheldKidToken(clk, "refresh"))
	e.keysAnswer(0)
	clk.Advance(time.Minute)
	c = keysCheck()
	if c.Status != diagnose.Warning || c.Data["key_set_fresh"] != false || c.Data["key_set_age_seconds"] != float64(180) ||
		!strings.Contains(c.Detail, "had a refresh refused the credential since it was fetched") || !strings.Contains(c.Detail, "review every token") ||
		!strings.Contains(c.Data["key_set_last_refresh_error"].(string), "HTTP 403") {
		t.Fatalf("cluster_keys after a refused refresh: %+v", c)
	}
	requireSeries(t, e.scrape(),
		wantSeries{metrics.KeysAgeName, []string{"cluster", "default"}, 180.5},
		wantSeries{"kubeauth_key_refreshes_total", []string{"cluster", "default", "result", "failure"}, 1},
	)

	// The next young token's login refreshes the keys (and is local).
	if e.reviewedOrLocal(clk, "2") {
		t.Fatal("reviewed after the API server served the keys again")
	}
	if c := keysCheck(); c.Status != diagnose.Passed || c.Data["key_set_age_seconds"] != float64(0) {
		t.Fatalf("cluster_keys after a good refresh: %+v", c)
	}
	if got := age(); got != 0 {
		t.Fatalf("age %v after a good refresh", got)
	}

	// A config write drops the key set, and its sample with it.
	e.writeConfig(nil)
	if got := age(); got != -1 {
		t.Fatalf("age %v after a config write", got)
	}
}

// nonEmpty is a role's audience as the list the checks take.
func nonEmpty(audience string) []string {
	if audience == "" {
		return nil
	}
	return []string{audience}
}
