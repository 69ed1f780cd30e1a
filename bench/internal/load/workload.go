// Package load puts loginbench's load on Vault: the workloads (which token
// each login presents), the token pool the distinct workload draws from,
// the closed loop of concurrent clients whose every request is timed, and
// the schedule around it: the rounds, with the instruments of package
// measure read before and after each run, and the CPU profiles taken under
// load once the rounds are over. Running the load is what both need, so
// they live here rather than in measure, which only reads.
package load

import (
	"sync/atomic"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

// Workloads, as -workload names them: what JWT each login presents.
const (
	Distinct = "distinct"
	Repeat   = "repeat"
)

// APIServerReviewCacheTTL is how long kube-apiserver keeps a successful
// TokenReview answer for the same token (its token authenticator's success
// cache). A token presented again sooner may be answered from that cache,
// which would hide what a review costs the API server in a rollout.
const APIServerReviewCacheTTL = 10 * time.Second

// TokenPool is the distinct workload's tokens. Token k belongs to service
// account k mod accounts, so consecutive logins name different accounts.
// One cursor is shared by every client and every target: a token comes back
// only after every other token of the pool has been presented once, so the
// interval between two logins with the same token is as long as the pool
// allows at the current rate.
type TokenPool struct {
	jwts     []string
	accounts int
	epoch    time.Time
	cursor   atomic.Uint64
	// lastUse[k] is when token k was last presented, in nanoseconds since
	// epoch plus one (0: never).
	lastUse []atomic.Int64
}

func NewTokenPool(jwts []string, accounts int, epoch time.Time) *TokenPool {
	return &TokenPool{jwts: jwts, accounts: accounts, epoch: epoch, lastUse: make([]atomic.Int64, len(jwts))}
}

// Len is how many tokens the pool holds.
func (p *TokenPool) Len() int { return len(p.jwts) }

// Next is the index of the token the Next distinct login presents.
func (p *TokenPool) Next() int {
	return int((p.cursor.Add(1) - 1) % uint64(len(p.jwts)))
}

// Use records that token k is presented at now and returns how long ago it
// was presented before, and whether it had been at all.
func (p *TokenPool) Use(k int, now time.Time) (time.Duration, bool) {
	prev := p.lastUse[k].Swap(int64(now.Sub(p.epoch)) + 1)
	if prev == 0 {
		return 0, false
	}
	return now.Sub(p.epoch) - time.Duration(prev-1), true
}

// PoolCycle is how long the pool takes to come round at rate logins/s: the
// interval between two logins with the same token when only this target
// draws from it.
func PoolCycle(poolSize int, rate float64) time.Duration {
	if rate <= 0 {
		return 0
	}
	return time.Duration(float64(poolSize) / rate * float64(time.Second))
}

// ReuseTracker keeps the shortest interval one client saw between two
// logins with the same token.
type ReuseTracker struct {
	Min time.Duration
	OK  bool
}

func (r *ReuseTracker) Add(d time.Duration) {
	if !r.OK || d < r.Min {
		r.Min, r.OK = d, true
	}
}

func (r *ReuseTracker) Merge(o ReuseTracker) {
	if o.OK {
		r.Add(o.Min)
	}
}

// tokenChooser returns, for one run, the function that picks the JWT a
// client presents next, and whether the run's logins draw from the pool:
//   - distinct workload, a target that verifies tokens: the pool's next
//     token, for every login;
//   - repeat workload, or a target that does not look at the token (the
//     no-op plugin, token-create): the client's own token, every time.
//
// A target that ignores the token gets no pool tokens so that it does not
// shorten the interval at which the others see theirs again.
func tokenChooser(t targets.Target, workload string, pool *TokenPool, repeat []string) (func(client int) (jwt string, index int), bool) {
	if workload == Distinct && t.Reviews() && pool != nil {
		return func(int) (string, int) {
			k := pool.Next()
			return pool.jwts[k], k
		}, true
	}
	return func(client int) (string, int) { return repeat[client%len(repeat)], -1 }, false
}
