package kubeauth

import (
	"crypto"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// localRole is a review_mode=local role with a local_max_token_age of age.
func localRole(age string) map[string]any {
	return map[string]any{"review_mode": "local", "local_max_token_age": age}
}

// bearerLog records the bearer token of every request a fake API server
// gets, by path, so a test can say which credential went where.
type bearerLog struct {
	mu   sync.Mutex
	seen map[string][]string // path -> bearer tokens ("" for none)
}

func watchBearers(f *fakeKube) *bearerLog {
	l := &bearerLog{seen: map[string][]string{}}
	f.setIntercept(func(_ http.ResponseWriter, r *http.Request) bool {
		bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		l.mu.Lock()
		l.seen[r.URL.Path] = append(l.seen[r.URL.Path], bearer)
		l.mu.Unlock()
		return false
	})
	return l
}

// carried says whether any request carried token.
func (l *bearerLog) carried(token string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var paths []string
	for p, tokens := range l.seen {
		for _, tok := range tokens {
			if tok == token {
				paths = append(paths, p)
			}
		}
	}
	return paths
}

func (l *bearerLog) at(path string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.seen[path]...)
}

// A local-mode role needs audience and local_max_token_age; each missing
// one is a 400 naming it, and nothing is stored.
func TestLocalModeRoleWrite(t *testing.T) {
	e := configured(t)
	for _, tc := range []struct {
		name   string
		fields map[string]any
		want   string
	}{
		{"no local_max_token_age", map[string]any{"review_mode": "local"}, "local_max_token_age: is required"},
		{"no audience", map[string]any{"review_mode": "local", "local_max_token_age": "5m", "audience": nil}, `"local" needs audience`},
		{"age over the bound", map[string]any{"review_mode": "local", "local_max_token_age": "2h"}, "local_max_token_age"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := roleData()
			for k, v := range tc.fields {
				if v == nil {
					delete(data, k)
					continue
				}
				data[k] = v
			}
			e.requireBadWrite("role/local", data, tc.want)
		})
	}
	e.writeRole("local", localRole("5m"))
	got := e.mustDo(logical.ReadOperation, "role/local", nil).Data
	if got["review_mode"] != "local" || got["local_max_token_age"] != int64(300) {
		t.Fatalf("read %v", got)
	}
}

// Where a local role needs a lookup and the cluster has no credential to
// make it with (no reviewer JWT, no pod token), the role write is a 400 that
// says so; the same role without the lookup is accepted.
func TestLocalModeLookupsNeedACredential(t *testing.T) {
	e := newTestEnv(t)
	e.writeConfig(map[string]any{"token_reviewer_jwt": "", "disable_local_ca_jwt": true})
	base := roleData()
	for k, v := range localRole("5m") {
		base[k] = v
	}
	for _, tc := range []struct {
		name   string
		fields map[string]any
	}{
		{"namespace selector", map[string]any{"bound_service_account_namespace_selector": `{"matchLabels":{"team":"a"}}`}},
		{"pod label selector", map[string]any{"bound_pod_label_selector": `{"matchLabels":{"app":"a"}}`}},
		{"node names", map[string]any{"bound_node_names": "node-*"}},
		{"bound to workload", map[string]any{"token_bound_to_workload": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := maps2(base, tc.fields)
			e.requireBadWrite("role/lookup", data, "has no reviewer credential")
		})
	}
	e.mustDo(logical.UpdateOperation, "role/lookup", base)

	// use_annotations_as_alias_metadata is the cluster's: a local role on
	// such a cluster without a credential is refused too.
	e.writeConfig(map[string]any{"token_reviewer_jwt": "", "disable_local_ca_jwt": true, "use_annotations_as_alias_metadata": true})
	e.requireBadWrite("role/other", base, "use_annotations_as_alias_metadata")

	// With a reviewer credential, each is accepted.
	e.writeConfig(nil)
	e.mustDo(logical.UpdateOperation, "role/lookup", maps2(base, map[string]any{"bound_pod_label_selector": `{"matchLabels":{"app":"a"}}`}))
}

func maps2(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// tokenKind is one way a token can be made for the invariant table.
type tokenKind int

const (
	kindValid tokenKind = iota
	kindForged
	kindExpired
	kindTooOld
	kindWrongAudience
	kindWrongIssuer
	kindUnknownKid
	kindOtherCluster
	kindNoKid
	kindNoIat
	kindLegacy
	kindHMAC
	numKinds
)

func (k tokenKind) String() string {
	return [...]string{"valid", "forged", "expired", "too-old", "wrong-audience", "wrong-issuer", "unknown-kid",
		"other-cluster", "no-kid", "no-iat", "legacy", "hmac"}[k]
}

// localToken makes a token of kind, issued age before now, for the
// default service account of e's cluster; other is another cluster's key.
func (e *testEnv) localToken(kind tokenKind, now time.Time, age time.Duration, other crypto.Signer) string {
	iat := now.Add(-age)
	claims := testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault")
	claims["iat"], claims["nbf"], claims["exp"] = iat.Unix(), iat.Unix(), iat.Add(time.Hour).Unix()
	kid := testKeyID(e.t, e.signer.Public())
	signer := e.signer
	switch kind {
	case kindForged:
		signer = other // the cluster's kid, another key
	case kindExpired:
		claims["exp"] = now.Add(-2 * time.Minute).Unix()
	case kindWrongAudience:
		claims["aud"] = []string{"other-service"}
	case kindWrongIssuer:
		claims["iss"] = "https://elsewhere.example"
	case kindUnknownKid:
		kid = fmt.Sprintf("kid-%d", age)
		signer = other
	case kindOtherCluster:
		signer, kid = other, testKeyID(e.t, other.Public())
	case kindNoKid:
		return testkit.SignJWT(e.t, e.signer, jose.RS256, claims)
	case kindNoIat:
		delete(claims, "iat")
	case kindLegacy:
		legacy := testkit.LegacyClaims(testkit.Namespace, testkit.SAName, testkit.SAUID, "s")
		legacy["aud"] = []string{"vault"}
		return testkit.SignJWTWithKid(e.t, e.signer, kid, legacy)
	case kindHMAC:
		return testkit.HMACToken(e.t)
	}
	return testkit.SignJWTWithKid(e.t, signer, kid, claims)
}

// The invariant of local mode, over generated tokens of every kind and
// ages on both sides of local_max_token_age, with a reviewer credential
// and without one: no TokenReview is ever made, exactly the valid tokens
// no older than the bound log in, and the login JWT is never sent to the
// API server.
func TestLocalModeInvariant(t *testing.T) {
	for _, reviewer := range []bool{true, false} {
		t.Run(fmt.Sprintf("reviewer=%v", reviewer), func(t *testing.T) {
			e := newTestEnv(t)
			clk := useTestClock(e)
			bearers := watchBearers(e.kube)
			cfg := map[string]any{"issuer": testkit.Issuer}
			if !reviewer {
				// No credential at all: the keys come from jwks_url, read
				// without one (the fake serves them anonymously there).
				keys := newKeyServer(t, e.kube)
				cfg = map[string]any{"token_reviewer_jwt": "", "disable_local_ca_jwt": true, "issuer": testkit.Issuer,
					"jwks_url": keys.url, "kubernetes_ca_cert": e.kube.caPEM + keys.caPEM}
			}
			e.writeConfig(cfg)
			e.writeRole(testRole, localRole("5m"))
			other := testkit.PrivateKey(t, "other.key")
			rng := rand.New(rand.NewPCG(19, uint64(len(fmt.Sprint(reviewer)))))
			accepted, wantAccepted := 0, 0
			for i := range 120 {
				kind := tokenKind(rng.IntN(int(numKinds)))
				age := time.Duration(rng.IntN(int(10*time.Minute/time.Second))) * time.Second
				if kind == kindTooOld {
					age = 5*time.Minute + time.Second + time.Duration(rng.IntN(3600))*time.Second
				}
				jwt := e.localToken(kind, clk.Now(), age, other)
				want := kind == kindValid && age <= 5*time.Minute
				resp, err := e.login(testRole, jwt)
				got := err == nil && resp != nil && !resp.IsError() && resp.Auth != nil
				if got != want {
					t.Fatalf("token %d (%s, %s old): logged in %v, want %v: resp=%v err=%v", i, kind, age, got, want, resp, err)
				}
				if got {
					accepted++
				}
				if want {
					wantAccepted++
				}
				if paths := bearers.carried(jwt); len(paths) > 0 {
					t.Fatalf("token %d (%s): the login JWT was sent to %v", i, kind, paths)
				}
			}
			e.requireReviews(0, "local mode, every kind of token")
			if accepted == 0 || accepted != wantAccepted {
				t.Fatalf("%d tokens logged in, want %d (and some)", accepted, wantAccepted)
			}
		})
	}
}

// Each refusal of local mode has its reason code.
func TestLocalModeRefusals(t *testing.T) {
	e := newTestEnv(t)
	clk := useTestClock(e)
	e.writeConfig(nil)
	e.writeRole(testRole, localRole("5m"))
	other := testkit.PrivateKey(t, "other.key")
	for _, tc := range []struct {
		kind   tokenKind
		age    time.Duration
		reason string
	}{
		{kindTooOld, 5*time.Minute + time.Second, refusal.ReasonTokenTooOld},
		{kindNoIat, 0, refusal.ReasonTokenTooOld},
		{kindUnknownKid, 0, refusal.ReasonSigningKeyUnknown},
		{kindOtherCluster, 0, refusal.ReasonSigningKeyUnknown},
		{kindNoKid, 0, refusal.ReasonSigningKeyUnknown},
		{kindForged, 0, refusal.ReasonSignature},
		{kindLegacy, 0, refusal.ReasonClaims},
	} {
		t.Run(tc.kind.String(), func(t *testing.T) {
			mark := len(e.logs.String())
			resp, err := e.login(testRole, e.localToken(tc.kind, clk.Now(), tc.age, other))
			e.requireDeniedSince(mark, resp, err, tc.reason)
		})
	}
	e.requireReviews(0, "refusals of local mode")
}

// A key the cluster drops stops verifying once the key set refreshes; and
// when the refresh cannot be made, the copy stops vouching at its bound
// (three refresh periods): a stale cache never keeps a removed key alive.
func TestLocalModeRemovedKey(t *testing.T) {
	e := newTestEnv(t)
	clk := useTestClock(e)
	e.writeConfig(map[string]any{"issuer": testkit.Issuer})
	e.writeRole(testRole, localRole("5m"))
	rotated := testkit.PrivateKey(t, "other.key")
	rotatedKid := testKeyID(t, rotated.Public())
	e.kube.publish(rotatedKid, rotated.Public())
	token := func() string {
		claims := testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault")
		now := clk.Now()
		claims["iat"], claims["nbf"], claims["exp"] = now.Unix(), now.Unix(), now.Add(time.Hour).Unix()
		return testkit.SignJWTWithKid(t, rotated, rotatedKid, claims)
	}
	e.mustLogin(testRole, token())

	e.kube.unpublish(rotatedKid)
	clk.Advance(5*time.Minute + time.Second) // the refresh period
	before := e.kube.jwksGets.Load()
	// The first login past the period may still be answered from the copy
	// while it starts the refresh; once the refresh is in, the key is gone.
	_, _ = e.login(testRole, token())
	waitFor(t, func() bool { return e.kube.jwksGets.Load() > before }, "the key set's refresh")
	waitFor(t, func() bool {
		_, err := e.login(testRole, token())
		return err != nil
	}, "the removed key to stop verifying")
	mark := len(e.logs.String())
	resp, err := e.login(testRole, token())
	e.requireDeniedSince(mark, resp, err, refusal.ReasonSigningKeyUnknown)

	// A key still published, while the key set cannot be refreshed, stops
	// vouching once the copy is past its bound: the login fails, and is
	// not reviewed instead.
	e.kube.publish(rotatedKid, rotated.Public())
	clk.Advance(6 * time.Second) // past the unknown-kid throttle
	e.mustLogin(testRole, token())
	e.kube.answerStatus("/openid/v1/jwks", http.StatusServiceUnavailable, "down")
	clk.Advance(15*time.Minute + time.Second)
	resp, err = e.login(testRole, token())
	if err == nil && resp != nil && resp.Auth != nil {
		t.Fatal("a key set past its bound without a good refresh still vouched for a token")
	}
	e.requireReviews(0, "local mode across a rotation and an outage")
}

// requireDeniedSince is requireDenied for the log written after mark.
func (e *testEnv) requireDeniedSince(mark int, resp *logical.Response, err error, reason string) {
	e.t.Helper()
	if !errors.Is(err, logical.ErrPermissionDenied) {
		e.t.Fatalf("want permission denied (reason %s), got err=%v resp=%#v", reason, err, resp)
	}
	if logs := e.logs.String()[mark:]; !strings.Contains(logs, `"reason":"`+reason+`"`) {
		e.t.Fatalf("log does not record reason %q:\n%s", reason, logs)
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	if !testkit.Eventually(5*time.Second, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// unpublish stops the fake serving the key named kid.
func (f *fakeKube) unpublish(kid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.published, kid)
}

// With two clusters, a local role that binds both lets each token in only
// as its own cluster's: for every mix of signer, issuer and kid, a login
// passes exactly when all three are one cluster's, and lands in that
// cluster.
func TestLocalModeTwoClusters(t *testing.T) {
	c := newClusterEnv(t, eastIssuer)
	c.writeConfig(map[string]any{"issuer": testkit.Issuer})
	c.writeEast(map[string]any{"issuer": eastIssuer})
	c.writeRole(testRole, maps2(localRole("5m"), map[string]any{"bound_clusters": "default,east"}))
	type side struct {
		name   string
		signer crypto.Signer
		iss    string
		uid    string
	}
	sides := []side{{defaultCluster, c.signer, testkit.Issuer, testkit.SAUID}, {"east", c.eastSigner, eastIssuer, eastSAUID}}
	for _, s := range sides {
		for _, iss := range sides {
			for _, kid := range sides {
				name := fmt.Sprintf("signer=%s,iss=%s,kid=%s", s.name, iss.name, kid.name)
				claims := testkit.Claims(testkit.Namespace, testkit.SAName, iss.uid, "vault")
				claims["iss"] = iss.iss
				jwt := testkit.SignJWTWithKid(t, s.signer, testKeyID(t, kid.signer.Public()), claims)
				resp, err := c.login(testRole, jwt)
				passed := err == nil && resp != nil && resp.Auth != nil
				want := s.name == iss.name && s.name == kid.name
				if passed != want {
					t.Fatalf("%s: logged in %v, want %v (resp=%v err=%v)", name, passed, want, resp, err)
				}
				if passed && resp.Auth.Metadata[metaCluster] != s.name {
					t.Fatalf("%s: landed in cluster %q", name, resp.Auth.Metadata[metaCluster])
				}
			}
		}
	}
	c.requireReviews(0, "local mode, two clusters")
	if n := c.east.reviews.Load(); n != 0 {
		t.Fatalf("east made %d TokenReviews", n)
	}
}

// A local role whose login needs a lookup makes it with the reviewer
// credential, and refuses (reviewer_required) when the config lost its
// credential after the role was written; the login JWT is never sent.
func TestLocalModeLookups(t *testing.T) {
	e := newTestEnv(t)
	bearers := watchBearers(e.kube)
	e.writeConfig(map[string]any{"issuer": testkit.Issuer})
	e.kube.setNamespaceLabels(testkit.Namespace, map[string]string{"team": "a"})
	e.writeRole(testRole, maps2(localRole("5m"), map[string]any{
		"bound_service_account_namespaces":         "none",
		"bound_service_account_namespace_selector": `{"matchLabels":{"team":"a"}}`,
	}))
	jwt := e.boundToken(time.Now(), nil)
	e.mustLogin(testRole, jwt)
	if got := bearers.at("/api/v1/namespaces/" + testkit.Namespace); len(got) == 0 || got[0] != testReviewer {
		t.Fatalf("the namespace was read with %q, want the reviewer token", got)
	}

	// The config loses its reviewer: the login is refused, not looked up
	// with the login JWT.
	keys := newKeyServer(t, e.kube)
	e.writeConfig(map[string]any{"token_reviewer_jwt": "", "disable_local_ca_jwt": true, "issuer": testkit.Issuer,
		"jwks_url": keys.url, "kubernetes_ca_cert": e.kube.caPEM + keys.caPEM})
	mark := len(e.logs.String())
	jwt = e.boundToken(time.Now(), nil)
	resp, err := e.login(testRole, jwt)
	e.requireDeniedSince(mark, resp, err, refusal.ReasonReviewerRequired)
	if paths := bearers.carried(jwt); len(paths) > 0 {
		t.Fatalf("the login JWT was sent to %v", paths)
	}
	e.requireReviews(0, "local mode with lookups")
}

// Roles that do not use local mode are unchanged: an always role still
// reviews every login.
func TestLocalModeLeavesOtherRoles(t *testing.T) {
	e := configured(t)
	e.writeRole("local", localRole("5m"))
	e.mustLogin(testRole, e.token())
	e.requireReviews(1, "an always role")
	e.mustLogin("local", e.boundToken(time.Now(), nil))
	e.requireReviews(1, "a local role")
}

// A flood of tokens with made-up kids costs no TokenReview and no more key
// fetches than the key set's throttle allows (one per 5 s; the test clock
// stands still): each is refused.
func TestLocalModeFloodOfMadeUpKids(t *testing.T) {
	e := newTestEnv(t)
	clk := useTestClock(e)
	e.writeConfig(map[string]any{"issuer": testkit.Issuer})
	e.writeRole(testRole, localRole("5m"))
	other := testkit.PrivateKey(t, "other.key")
	e.mustLogin(testRole, e.localToken(kindValid, clk.Now(), 0, other))
	before := e.kube.jwksGets.Load()
	for i := range 200 {
		resp, err := e.login(testRole, e.localToken(kindUnknownKid, clk.Now(), time.Duration(i), other))
		if err == nil && resp != nil && resp.Auth != nil {
			t.Fatalf("token %d with a made-up kid logged in", i)
		}
	}
	if n := e.kube.jwksGets.Load() - before; n > 1 {
		t.Fatalf("200 made-up kids made %d key fetches, want at most 1", n)
	}
	e.requireReviews(0, "a flood of made-up kids")
}
