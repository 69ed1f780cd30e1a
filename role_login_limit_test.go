package kubeauth

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/loginlimit"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// requireRateLimited asserts a 429 with a Retry-After of at least one
// second, and returns it.
func requireRateLimited(t testing.TB, resp *logical.Response, err error) time.Duration {
	t.Helper()
	var coded logical.HTTPCodedError
	if !errors.As(err, &coded) || coded.Code() != http.StatusTooManyRequests {
		t.Fatalf("want a 429, got err=%v resp=%#v", err, resp)
	}
	if code, _ := logical.RespondErrorCommon(&logical.Request{Operation: logical.UpdateOperation}, resp, err); code == http.StatusForbidden {
		t.Fatal("a rate-limited login reads as a 403")
	}
	if resp == nil || len(resp.Headers[refusal.RetryAfterHeader]) != 1 {
		t.Fatalf("no Retry-After: %#v", resp)
	}
	secs, perr := strconv.Atoi(resp.Headers[refusal.RetryAfterHeader][0])
	if perr != nil || secs < 1 {
		t.Fatalf("Retry-After %q", resp.Headers[refusal.RetryAfterHeader])
	}
	return time.Duration(secs) * time.Second
}

// Within the burst every login passes; the next is 429 before any
// TokenReview, counted as rate_limited; explain shows the bucket without
// taking from it; once the period has passed the workload logs in again.
func TestLoginRateLimitBurstThenRetry(t *testing.T) {
	for _, tc := range []struct {
		limit  string
		burst  int
		refill time.Duration
	}{
		{"3/1m", 3, time.Minute},
		{"1/1s", 1, time.Second},
		{"2/1h,burst=5", 5, time.Hour},
	} {
		t.Run(tc.limit, func(t *testing.T) {
			e := configured(t)
			clk := useTestClock(e)
			e.writeRole(testRole, map[string]any{"login_rate_limit": tc.limit})
			for i := range tc.burst {
				out, _ := e.explain(testRole, e.token())
				requireStep(t, out, "login_rate_limit", outcomePassed, "", "login_rate_limit")
				e.mustLogin(testRole, e.token())
				e.requireReviews(int64(2*(i+1)), "logins within the burst") // explain reviews too
			}
			reviews := e.kube.reviews.Load()
			for range 20 {
				out, _ := e.explain(testRole, e.token())
				requireStep(t, out, "login_rate_limit", outcomeRefused, refusal.ReasonRateLimited, "login_rate_limit")
				resp, err := e.login(testRole, e.token())
				requireRateLimited(t, resp, err)
			}
			e.requireReviews(reviews, "logins over the limit")
			if got := metricValue(e.scrape(), "kubeauth_refusals_total", "cluster", "default", "reason", refusal.ReasonRateLimited, "role", testRole); got != 20 {
				t.Fatalf("rate_limited refusals counted %v, want 20", got)
			}
			clk.Advance(tc.refill)
			e.mustLogin(testRole, e.token())
		})
	}
}

// The Retry-After a refused login is told is enough: after it, the login
// passes; one second less, it would not have.
func TestLoginRateLimitRetryAfterIsTrue(t *testing.T) {
	e := configured(t)
	clk := useTestClock(e)
	e.writeRole(testRole, map[string]any{"login_rate_limit": "5/1m"})
	for range 5 {
		e.mustLogin(testRole, e.token())
	}
	clk.Advance(7 * time.Second) // 12s per login: 5s to wait
	resp, err := e.login(testRole, e.token())
	if wait := requireRateLimited(t, resp, err); wait != 5*time.Second {
		t.Fatalf("Retry-After %v, want 5s", wait)
	}
	clk.Advance(4 * time.Second)
	resp, err = e.login(testRole, e.token())
	requireRateLimited(t, resp, err)
	clk.Advance(time.Second)
	e.mustLogin(testRole, e.token())
}

// forgedFor is a generated forged token claiming the default workload (or,
// for "unknown", a service account Kubernetes does not know): signed by a
// key that is not the cluster's, for another audience, or with a UID
// Kubernetes never gave it.
func (e *testEnv) forgedFor(rng *rand.Rand, pod bool) string {
	e.t.Helper()
	ns, name, uid := testkit.Namespace, testkit.SAName, testkit.SAUID
	key, aud := e.signer, "vault"
	switch rng.IntN(4) {
	case 0:
		key = testkit.PrivateKey(e.t, "other.key")
	case 1:
		aud = fmt.Sprint("aud-", rng.IntN(1000))
	case 2:
		uid = fmt.Sprintf("0b3f7c8e-5d2a-4e9b-8f41-%012x", rng.Uint64()&0xffffffffffff)
	case 3:
		name = fmt.Sprint("ghost-", rng.IntN(1000)) // bound by "*", unknown to Kubernetes
	}
	claims := testkit.Claims(ns, name, uid, aud)
	claims["jti"] = fmt.Sprint(rng.Uint64())
	if pod {
		claims["kubernetes.io"].(map[string]any)["pod"] = map[string]any{"name": testPodName, "uid": testPodUID}
	}
	return testkit.SignJWT(e.t, key, jose.RS256, claims)
}

// A flood of forged tokens claiming a real workload never creates a bucket
// and never takes from the workload's: its next valid login passes, with
// pem_keys (the signature is checked locally) and without (Kubernetes
// refuses the forgeries at review).
func TestLoginRateLimitForgedFloodHarmsNobody(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config map[string]any
		pod    bool
	}{
		{"review", nil, false},
		{"review pod-bound", nil, true},
		{"pem_keys", map[string]any{"pem_keys": "PEM"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := configured(t)
			if tc.config != nil {
				e.writeConfig(map[string]any{"pem_keys": publicPEM(t, e.signer.Public())})
			}
			e.kube.putPod(testkit.Namespace, testPodName, fakePod{uid: testPodUID, nodeName: testNodeName})
			clk := useTestClock(e)
			e.writeRole(testRole, map[string]any{"login_rate_limit": "1/1m", "bound_service_account_names": "*"})
			valid := e.token()
			if tc.pod {
				valid = e.podToken(testPodName, testPodUID, "")
			}
			rng := rand.New(rand.NewPCG(20, 1))
			flood := func() {
				for range 150 {
					resp, err := e.login(testRole, e.forgedFor(rng, tc.pod))
					if err == nil && resp != nil && resp.Auth != nil {
						t.Fatal("a forged token logged in")
					}
				}
			}
			flood()
			if n := e.b.loginLimits.Len(); n != 0 {
				t.Fatalf("forged logins created %d buckets", n)
			}
			e.mustLogin(testRole, valid) // the one login of the minute
			flood()
			if n := e.b.loginLimits.Len(); n != 1 {
				t.Fatalf("%d buckets after one valid login and forgeries, want 1", n)
			}
			clk.Advance(time.Minute)
			flood()
			// Had any forgery taken the token the minute gave back, this
			// would be refused.
			e.mustLogin(testRole, valid)
		})
	}
}

// Each workload has its own bucket: two pods of one service account, two
// service accounts, and one workload under two roles.
func TestLoginRateLimitPerWorkload(t *testing.T) {
	e := configured(t)
	useTestClock(e)
	const otherPod, otherPodUID = "web-7d4b9c-abcde", "9d2e4c11-0a7b-4c3e-9f12-6b8e1d0c7a42"
	const otherSA, otherSAUID = "batch", "5e1d2c3b-4a59-4687-9a0b-1c2d3e4f5a6b"
	e.kube.putPod(testkit.Namespace, testPodName, fakePod{uid: testPodUID, nodeName: testNodeName})
	e.kube.putPod(testkit.Namespace, otherPod, fakePod{uid: otherPodUID, nodeName: testNodeName})
	e.kube.addServiceAccount(testkit.Namespace, otherSA, otherSAUID, nil)
	e.writeRole(testRole, map[string]any{"login_rate_limit": "1/1h", "bound_service_account_names": "*"})
	e.writeRole("second", map[string]any{"login_rate_limit": "1/1h"})

	tokens := []string{
		e.podToken(testPodName, testPodUID, ""),
		e.podToken(otherPod, otherPodUID, ""),
		e.token(),
		e.tokenFor(testkit.Namespace, otherSA, otherSAUID),
	}
	for i, tok := range tokens {
		e.mustLogin(testRole, tok)
		for j, again := range tokens[:i+1] {
			resp, err := e.login(testRole, again)
			if j == i {
				requireRateLimited(t, resp, err)
			} else if err == nil {
				t.Fatalf("workload %d logged in twice", j)
			}
		}
	}
	e.mustLogin("second", e.token()) // another role counts apart
	if n := e.b.loginLimits.Len(); n != len(tokens)+1 {
		t.Fatalf("%d buckets, want %d", n, len(tokens)+1)
	}
}

// However many verified workloads log in, the buckets stay within their
// maximum.
func TestLoginRateLimitBucketsBounded(t *testing.T) {
	e := configured(t)
	e.b.loginLimits = loginlimit.NewBuckets(4)
	e.writeRole(testRole, map[string]any{"login_rate_limit": "1/1h", "bound_service_account_names": "*"})
	for i := range 30 {
		name, uid := fmt.Sprint("sa-", i), fmt.Sprintf("5e1d2c3b-4a59-4687-9a0b-%012d", i)
		e.kube.addServiceAccount(testkit.Namespace, name, uid, nil)
		e.mustLogin(testRole, e.tokenFor(testkit.Namespace, name, uid))
		if n := e.b.loginLimits.Len(); n > 4 {
			t.Fatalf("%d buckets after %d workloads", n, i+1)
		}
	}
}

// A role without login_rate_limit stores and reads without it and counts
// nothing; an update that does not send it keeps it, "" and a PATCH null
// clear it, and anything that is not a limit is a 400 naming the field
// with nothing written.
func TestLoginRateLimitField(t *testing.T) {
	e := configured(t)
	before := e.rawEntry("role/" + testRole)
	if _, ok := before["login_rate_limit"]; ok {
		t.Fatal("a role without login_rate_limit stores the key")
	}
	if _, ok := e.mustDo(logical.ReadOperation, "role/"+testRole, nil).Data["login_rate_limit"]; ok {
		t.Fatal("login_rate_limit read from a role without it")
	}
	for range 50 {
		e.mustLogin(testRole, e.token())
	}
	if n := e.b.loginLimits.Len(); n != 0 {
		t.Fatalf("a role without a limit made %d buckets", n)
	}
	for _, bad := range []string{"5", "0/1m", "5/0s", "5/25h", "5/1m,burst=0", "5/1m,burst=10001", "10001/1m", " 5/1m", "5/1m,rate=1", "lots"} {
		e.requireBadWrite("role/"+testRole, map[string]any{"login_rate_limit": bad}, "login_rate_limit:")
	}
	read := func() any { return e.mustDo(logical.ReadOperation, "role/"+testRole, nil).Data["login_rate_limit"] }
	e.mustDo(logical.UpdateOperation, "role/"+testRole, map[string]any{"login_rate_limit": "5/1m,burst=10"})
	e.mustDo(logical.UpdateOperation, "role/"+testRole, map[string]any{"token_ttl": "1h"})
	if got := read(); got != "5/1m,burst=10" {
		t.Fatalf("after an update without it, login_rate_limit reads %v", got)
	}
	e.mustDo(logical.UpdateOperation, "role/"+testRole, map[string]any{"login_rate_limit": ""})
	if got := read(); got != nil {
		t.Fatalf(`after "", login_rate_limit reads %v`, got)
	}
	e.mustDo(logical.UpdateOperation, "role/"+testRole, map[string]any{"login_rate_limit": "5/1m"})
	e.mustDo(logical.PatchOperation, "role/"+testRole, map[string]any{"login_rate_limit": nil})
	if after := e.rawEntry("role/" + testRole); !strings.Contains(fmt.Sprint(after), "token_ttl:3600") || after["login_rate_limit"] != nil {
		t.Fatalf("after a PATCH null the role stores %v", after)
	}
}

// Concurrent logins of one workload all pass the peek while its bucket is
// full; the take after the review decides, so no more than the burst pass.
func TestLoginRateLimitConcurrentLoginsTakeAtMostTheBurst(t *testing.T) {
	e := configured(t)
	e.writeRole(testRole, map[string]any{"login_rate_limit": "3/1h"})
	passed, limited := 0, 0
	for _, err := range e.loginsSharingReview(12, e.token()) {
		var coded logical.HTTPCodedError
		switch {
		case err == nil:
			passed++
		case errors.As(err, &coded) && coded.Code() == http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("login: %v", err)
		}
	}
	if passed != 3 || limited != 9 {
		t.Fatalf("%d passed and %d were limited, want 3 and 9", passed, limited)
	}
}
