package kubeauth

import (
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// limitWorkload is one workload logging in again and again with one token
// against the TLS fake API server, the role in review_mode=always (every
// login that passes costs one TokenReview), under the given
// login_rate_limit ("" for none).
type limitWorkload struct {
	e     *testEnv
	clock *testkit.Clock
	token string
}

func newLimitWorkload(t testing.TB, limit string) *limitWorkload {
	t.Helper()
	e := configured(t)
	// Vault's default log level: the debug line of each login is not written.
	e.b.Logger().SetLevel(hclog.Info)
	clk := useTestClock(e)
	e.writeRole(testRole, map[string]any{"review_mode": reviewAlways, "login_rate_limit": limit})
	return &limitWorkload{e: e, clock: clk, token: e.token()}
}

// exhaust logs in until the workload's bucket is empty: burst logins pass.
func (w *limitWorkload) exhaust(t testing.TB, burst int) {
	t.Helper()
	for range burst {
		w.e.mustLogin(testRole, w.token)
	}
	resp, err := w.e.login(testRole, w.token)
	requireRateLimited(t, resp, err)
}

// limitSpent is the limit the refused workload runs into: one login a
// day, so no login during a run is let through by a refill.
const limitSpent = "1/24h"

// limitRoomy is a limit the baseline never runs into as long as the clock
// moves a millisecond per login: 10 logins a millisecond come back.
const limitRoomy = "10000/1s"

// BenchmarkLoginRateLimit is one workload's logins against the TLS fake
// API server, each a TokenReview when it passes:
//
//   - "allowed-no-limit": the role has no login_rate_limit;
//   - "allowed-under-limit": the role has one the workload stays under (the
//     test clock moves 1 ms per login), so each login peeks and takes;
//   - "refused": the workload's bucket is empty, so each login is a 429.
//
// Each reports tokenreviews/op as the fake API server counted them: 1 for
// an allowed login, 0 for a refused one, whose ns/op is what a
// crash-looping pod costs Vault once it is over its limit.
func BenchmarkLoginRateLimit(b *testing.B) {
	b.Run("allowed-no-limit", func(b *testing.B) {
		benchLimitLogins(b, newLimitWorkload(b, ""), false, 0)
	})
	b.Run("allowed-under-limit", func(b *testing.B) {
		benchLimitLogins(b, newLimitWorkload(b, limitRoomy), false, time.Millisecond)
	})
	b.Run("refused", func(b *testing.B) {
		w := newLimitWorkload(b, limitSpent)
		w.exhaust(b, 1)
		benchLimitLogins(b, w, true, 0)
	})
}

// benchLimitLogins runs the workload's logins, each one passing (or, with
// refused, each one a 429), the clock moving step per login, and reports
// the TokenReviews the fake API server answered per login.
func benchLimitLogins(b *testing.B, w *limitWorkload, refused bool, step time.Duration) {
	before := w.e.kube.reviews.Load()
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		w.clock.Advance(step)
		resp, err := w.e.login(testRole, w.token)
		if refused {
			requireRateLimited(b, resp, err)
		} else if err != nil || resp == nil || resp.Auth == nil {
			b.Fatalf("login %d: %v %#v", n, err, resp)
		}
		n++
	}
	b.StopTimer()
	b.ReportMetric(float64(w.e.kube.reviews.Load()-before)/float64(n), "tokenreviews/op")
}

// A login refused by login_rate_limit costs no TokenReview: after the burst,
// none of 100 refused logins reaches the API server, while each login of
// the burst did (so the count is live).
func TestLoginRateLimitRefusalsCostNoTokenReview(t *testing.T) {
	const burst, refused = 3, 100
	w := newLimitWorkload(t, "3/24h")
	w.exhaust(t, burst)
	w.e.requireReviews(burst, "the burst's logins")
	for range refused {
		resp, err := w.e.login(testRole, w.token)
		requireRateLimited(t, resp, err)
	}
	w.e.requireReviews(burst, "the burst's logins and 100 refused ones")
}
