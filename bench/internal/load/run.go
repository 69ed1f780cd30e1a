package load

import (
	"math"

	vault "github.com/hashicorp/vault/api"

	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/fixture"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/measure"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

// Result is one timed run: one target, one workload, one client count,
// one round.
type Result struct {
	Target    string
	Workload  string
	Clients   int
	Round     int
	Elapsed   time.Duration // first request sent to last response received
	Latencies []time.Duration
	Errors    int
	ErrSample map[string]int // error text -> count, bounded (see maxErrKinds)

	// Reviews is the TokenReviews the API server served during the run
	// (reviewsKnown: it could be read before and after).
	Reviews      measure.ReviewCount
	ReviewsKnown bool
	// CPU is the CPU time each process spent during the run (a process
	// that could not be read is missing).
	CPU map[string]time.Duration
	// DrawsPool: the logins took the pool's tokens in turn; reuse is the
	// shortest interval between two logins with the same token.
	DrawsPool bool
	Reuse     ReuseTracker
}

// maxErrKinds bounds the distinct error texts kept per run; a failing server
// can produce a new message per request.
const maxErrKinds = 8

func (r *Result) OK() int { return len(r.Latencies) }

// Attempts is every request sent, answered or failed.
func (r *Result) Attempts() int { return r.OK() + r.Errors }

// Rate is successful requests per second over the run's wall time; failed
// requests do not count as throughput.
func (r *Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK()) / r.Elapsed.Seconds()
}

// request is one timed operation: where it goes, which token it carries,
// what it sends.
type request struct {
	path  string
	token func(client int) string
	// body returns the request body and the pool index of the JWT it
	// carries (-1: none from the pool).
	body func(client int) (map[string]any, int)
}

// Tokens are what the timed requests present, as setup prepared them.
type Tokens struct {
	// Pool is the distinct workload's tokens (nil when it is not
	// measured); Repeat holds one token per client, each of a service
	// account of its own, for the repeat workload and for the targets that
	// ignore the token.
	Pool   *TokenPool
	Repeat []string
	// FloorTokens are non-root tokens whose only extra right is
	// auth/token/create, one per client; FloorBody is what they send there:
	// the policies, metadata and TTL a login on the built-in mount returned.
	FloorTokens []string
	FloorBody   map[string]any
}

func (tk *Tokens) requestFor(t targets.Target, workload string) (request, bool) {
	if t.Kind == targets.KindTokenCreate {
		return request{
			path:  t.LoginPath(),
			token: func(client int) string { return tk.FloorTokens[client%len(tk.FloorTokens)] },
			body:  func(int) (map[string]any, int) { return tk.FloorBody, -1 },
		}, false
	}
	choose, draws := tokenChooser(t, workload, tk.Pool, tk.Repeat)
	return request{
		path: t.LoginPath(),
		body: func(client int) (map[string]any, int) {
			jwt, k := choose(client)
			return map[string]any{"role": fixture.RoleName, "jwt": jwt}, k
		},
	}, draws
}

// Loader puts the load on Vault: the connection and the tokens every run
// presents.
type Loader struct {
	Conn   Conn
	Tokens *Tokens
}

// Spec is one run: Clients concurrent workers against Target under
// Workload, for For or, when For is 0, for Count requests in all.
type Spec struct {
	Target   targets.Target
	Workload string
	Clients  int
	For      time.Duration
	Count    int
}

// Run drives one run. Each worker sends its next request as soon as the
// previous one is answered (closed loop) and stops sending once the run's
// time has passed; the run ends when the last in-flight request is
// answered, and that is the time throughput is divided by.
func (l *Loader) Run(ctx context.Context, spec Spec) (*Result, error) {
	t, workload, clients, d, count := spec.Target, spec.Workload, spec.Clients, spec.For, spec.Count
	req, draws := l.Tokens.requestFor(t, workload)
	workers := make([]*vault.Client, clients)
	for i := range workers {
		token := ""
		if req.token != nil {
			token = req.token(i)
		}
		c, err := l.Conn.Client(token)
		if err != nil {
			return nil, err
		}
		workers[i] = c
	}

	type workerResult struct {
		lat    []time.Duration
		errs   int
		sample map[string]int
		reuse  ReuseTracker
	}
	out := make([]workerResult, clients)
	var (
		wg     sync.WaitGroup
		budget atomic.Int64
	)
	budget.Store(int64(count))
	start := time.Now()
	deadline := start.Add(d)
	more := func() bool {
		if ctx.Err() != nil {
			return false
		}
		if d > 0 {
			return time.Now().Before(deadline)
		}
		return budget.Add(-1) >= 0
	}
	for i, c := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := &out[i]
			res.lat = make([]time.Duration, 0, 4096)
			for more() {
				body, k := req.body(i)
				t0 := time.Now()
				if k >= 0 {
					if gap, seen := l.Tokens.Pool.Use(k, t0); seen {
						res.reuse.Add(gap)
					}
				}
				s, err := c.Logical().WriteWithContext(ctx, req.path, body)
				lat := time.Since(t0)
				if err == nil {
					err = CheckIssued(s)
				}
				if err != nil {
					if ctx.Err() != nil {
						return // interrupted, not a failure of the target
					}
					res.errs++
					if res.sample == nil {
						res.sample = map[string]int{}
					}
					msg := ShortErr(err)
					if _, ok := res.sample[msg]; ok || len(res.sample) < maxErrKinds {
						res.sample[msg]++
					}
					continue
				}
				res.lat = append(res.lat, lat)
			}
		}()
	}
	wg.Wait()

	r := &Result{Target: t.Name, Workload: workload, Clients: clients, Elapsed: time.Since(start), DrawsPool: draws}
	for _, w := range out {
		r.Latencies = append(r.Latencies, w.lat...)
		r.Errors += w.errs
		r.Reuse.Merge(w.reuse)
		for msg, c := range w.sample {
			if r.ErrSample == nil {
				r.ErrSample = map[string]int{}
			}
			if _, ok := r.ErrSample[msg]; ok || len(r.ErrSample) < maxErrKinds {
				r.ErrSample[msg] += c
			}
		}
	}
	return r, nil
}

// ShortErr flattens an error to one bounded line: Vault's API errors carry
// the URL, status code and a multi-line list of messages.
func ShortErr(err error) string {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	return msg
}

// Percentile returns the nearest-rank Percentile of sorted: the smallest
// value with at least p of all values at or below it. No interpolation, so
// every number reported is a latency that was actually observed.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
