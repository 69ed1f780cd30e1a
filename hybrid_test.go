package kubeauth

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// hybridEnv is a configured env whose default role is in hybrid mode, with
// the backend on a test clock.
func hybridEnv(t *testing.T, roleFields map[string]any) (*testEnv, *testClock) {
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
	claims := tokenClaims(testNamespace, testSAName, testSAUID, "vault")
	claims["iat"], claims["nbf"], claims["exp"] = iat.Unix(), iat.Unix(), iat.Add(time.Hour).Unix()
	if edit != nil {
		edit(claims)
	}
	return signJWTWithKid(e.t, e.signer, testKeyID(e.t, e.signer.Public()), claims)
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
	if auth.Alias.Name != testSAUID || auth.Metadata[metaSAName] != testSAName || auth.Metadata[metaSANamespace] != testNamespace ||
		auth.Metadata[metaSAUID] != testSAUID {
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
	parse := func(claims map[string]any) *serviceAccountClaims {
		t.Helper()
		tok, err := parseToken(signJWT(t, privateKey(t, "signer.key"), jose.RS256, claims))
		if err != nil {
			t.Fatal(err)
		}
		return &tok.claims
	}
	young := tokenClaims(testNamespace, testSAName, testSAUID, "vault")
	now := time.Unix(young["iat"].(int64), 0)
	secretBound := tokenClaims(testNamespace, testSAName, testSAUID, "vault")
	secretBound["kubernetes.io"].(map[string]any)["secret"] = map[string]any{"name": "s", "uid": "u"}
	noIat := tokenClaims(testNamespace, testSAName, testSAUID, "vault")
	delete(noIat, "iat")
	podBound := tokenClaims(testNamespace, testSAName, testSAUID, "vault")
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
		{"legacy Secret-based token", legacyClaims(testNamespace, testSAName, testSAUID, "web-token"), "vault", now, false},
		{"token bound to a Secret", secretBound, "vault", now, false},
		{"no iat", noIat, "vault", now, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := localEligible(parse(tc.claims), tc.audience, tc.at, 10*time.Minute); got != tc.want {
				t.Fatalf("localEligible = %v, want %v", got, tc.want)
			}
		})
	}
}

// A token with another issuer, an unknown kid or a bad signature is refused
// without a review.
func TestHybridRefusesWithoutReview(t *testing.T) {
	e, clk := hybridEnv(t, nil)
	other := privateKey(t, "other.key")
	cases := []struct {
		name   string
		token  string
		reason string
	}{
		{"another issuer", e.boundToken(clk.Now(), func(c map[string]any) { c["iss"] = "https://other.example" }), reasonIssuer},
		{"unknown kid", signJWTWithKid(t, other, "made-up", tokenClaims(testNamespace, testSAName, testSAUID, "vault")), reasonSigningKeyUnknown},
		{"no kid", signJWT(t, e.signer, jose.RS256, tokenClaims(testNamespace, testSAName, testSAUID, "vault")), reasonSigningKeyUnknown},
		{"the cluster's kid, another key's signature", signJWTWithKid(t, other, testKeyID(t, e.signer.Public()),
			tokenClaims(testNamespace, testSAName, testSAUID, "vault")), reasonSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := e.login(testRole, tc.token)
			e.requireDenied(resp, err, tc.reason)
		})
	}
	e.requireReviews(0, "refused tokens")
}

// Made-up kids make the key set refresh at most once per interval; a
// rotated key (a new kid) is fetched once and then verifies locally.
func TestHybridKeyRotationAndUnknownKidFlood(t *testing.T) {
	e, clk := hybridEnv(t, nil)
	e.mustLogin(testRole, e.boundToken(clk.Now(), nil))
	e.requireFetches(1, 1, "first login")

	other := privateKey(t, "other.key")
	for i := range 20 {
		claims := tokenClaims(testNamespace, testSAName, testSAUID, "vault")
		resp, err := e.login(testRole, signJWTWithKid(t, other, "made-up-"+string(rune('a'+i)), claims))
		e.requireDenied(resp, err, reasonSigningKeyUnknown)
	}
	e.requireFetches(1, 1, "a flood of made-up kids within the refresh interval")

	// The cluster adds a key; within the interval its tokens are refused,
	// after it the key is fetched once.
	rotatedKid := testKeyID(t, other.Public())
	e.kube.publish(rotatedKid, other.Public())
	rotated := signJWTWithKid(t, other, rotatedKid, tokenClaims(testNamespace, testSAName, testSAUID, "vault"))
	resp, err := e.login(testRole, rotated)
	e.requireDenied(resp, err, reasonSigningKeyUnknown)
	clk.advance(5 * time.Second)
	e.mustLogin(testRole, rotated)
	e.mustLogin(testRole, rotated)
	e.mustLogin(testRole, e.boundToken(clk.Now(), nil))
	e.requireFetches(2, 1, "after the rotation")
	e.requireReviews(0, "rotation")
}

// The documented caveat: a deleted service account's young token logs in
// until it is local_max_token_age old, then it is reviewed and refused.
func TestHybridDeletedServiceAccount(t *testing.T) {
	e, clk := hybridEnv(t, map[string]any{"local_max_token_age": "1m"})
	token := e.boundToken(clk.Now(), nil)
	e.mustLogin(testRole, token)
	e.kube.deleteServiceAccount(testNamespace, testSAName)
	clk.advance(time.Minute)
	e.mustLogin(testRole, token)
	clk.advance(time.Second)
	resp, err := e.login(testRole, token)
	e.requireDenied(resp, err, reasonReviewRejected)
}

// With pem_keys and an issuer in the config nothing is fetched; with an
// issuer only, the keys are and the discovery document is not.
func TestHybridConfiguredKeysAndIssuer(t *testing.T) {
	e, clk := hybridEnv(t, nil)
	e.writeConfig(map[string]any{"pem_keys": readTestdata(t, "signer.pub"), "issuer": testIssuer})
	e.mustLogin(testRole, e.boundToken(clk.Now(), nil))
	e.requireFetches(0, 0, "pem_keys and issuer")
	resp, err := e.login(testRole, e.boundToken(clk.Now(), func(c map[string]any) { c["iss"] = "https://other.example" }))
	e.requireDenied(resp, err, reasonIssuer)

	e.writeConfig(map[string]any{"issuer": testIssuer})
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
	st, err := e.b.currentState(t.Context(), e.storage)
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

// The keys cannot be had: a fault, with the reason in the log only.
func TestHybridKeyFetchFault(t *testing.T) {
	e, clk := hybridEnv(t, nil)
	e.kube.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/openid/v1/jwks" {
			writeStatus(w, http.StatusForbidden, "forbidden: cannot get path /openid/v1/jwks")
			return true
		}
		return false
	})
	resp, err := e.login(testRole, e.boundToken(clk.Now(), nil))
	e.requireFault(errKubeFault, resp, err, "GET /openid/v1/jwks with HTTP 403", "system:service-account-issuer-discovery")
	e.requireReviews(0, "a key fetch fault")
}
