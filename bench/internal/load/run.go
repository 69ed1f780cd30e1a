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
	// late: requests of a paced run that no worker was free to start.
	late int
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
	// Roles, when set, spreads the logins over roles: the login with the
	// pool's token k names Roles[k mod len(Roles)] (costcurves' roles
	// dimension). Empty: every login names fixture.RoleName.
	Roles []string
}

// roleFor is the role the login with the pool's token k (-1: none) names.
func (tk *Tokens) roleFor(k int) string {
	if len(tk.Roles) == 0 || k < 0 {
		return fixture.RoleName
	}
	return tk.Roles[k%len(tk.Roles)]
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
			return map[string]any{"role": tk.roleFor(k), "jwt": jwt}, k
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
	req, draws := l.Tokens.requestFor(spec.Target, spec.Workload)
	clients, err := l.clients(req, spec.Clients)
	if err != nil {
		return nil, err
	}
	out := make([]workerResult, len(clients))
	start := time.Now()
	more := keepSending(ctx, spec, start)
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() { out[i] = l.work(ctx, c, req, i, more) })
	}
	wg.Wait()

	r := &Result{Target: spec.Target.Name, Workload: spec.Workload, Clients: spec.Clients, Elapsed: time.Since(start), DrawsPool: draws}
	for _, w := range out {
		r.add(w)
	}
	return r, nil
}

// clients makes one Vault client per worker, each with the token its
// requests carry (none for logins).
func (l *Loader) clients(req request, n int) ([]*vault.Client, error) {
	out := make([]*vault.Client, n)
	for i := range out {
		token := ""
		if req.token != nil {
			token = req.token(i)
		}
		c, err := l.Conn.Client(token)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// keepSending says, before each request, whether a worker sends it: until
// the run's time has passed from start or, for a counted run, while
// requests are left; never once ctx is done.
func keepSending(ctx context.Context, spec Spec, start time.Time) func() bool {
	var budget atomic.Int64
	budget.Store(int64(spec.Count))
	deadline := start.Add(spec.For)
	return func() bool {
		if ctx.Err() != nil {
			return false
		}
		if spec.For > 0 {
			return time.Now().Before(deadline)
		}
		return budget.Add(-1) >= 0
	}
}

// workerResult is what one worker saw.
type workerResult struct {
	lat    []time.Duration
	errs   int
	sample map[string]int
	reuse  ReuseTracker
}

// work is one worker's closed loop: send a request, wait for its answer,
// send the next, while more says so.
func (l *Loader) work(ctx context.Context, c *vault.Client, req request, client int, more func() bool) workerResult {
	res := workerResult{lat: make([]time.Duration, 0, 4096)}
	for more() {
		body, k := req.body(client)
		t0 := time.Now()
		l.trackReuse(&res.reuse, k, t0)
		s, err := c.Logical().WriteWithContext(ctx, req.path, body)
		lat := time.Since(t0)
		if err == nil {
			err = CheckIssued(s)
		}
		if err != nil {
			if ctx.Err() != nil {
				return res // interrupted, not a failure of the target
			}
			res.errs++
			res.sample = addErrSample(res.sample, ShortErr(err), 1)
			continue
		}
		res.lat = append(res.lat, lat)
	}
	return res
}

// trackReuse records that the pool's token k (-1: none) is presented at
// now, and how soon it came back.
func (l *Loader) trackReuse(r *ReuseTracker, k int, now time.Time) {
	if k < 0 {
		return
	}
	if gap, seen := l.Tokens.Pool.Use(k, now); seen {
		r.Add(gap)
	}
}

// add merges one worker's observations into the run's.
func (r *Result) add(w workerResult) {
	r.Latencies = append(r.Latencies, w.lat...)
	r.Errors += w.errs
	r.Reuse.Merge(w.reuse)
	for msg, n := range w.sample {
		r.ErrSample = addErrSample(r.ErrSample, msg, n)
	}
}

// addErrSample counts n more of msg, keeping at most maxErrKinds distinct
// texts; it returns the sample, made on first use.
func addErrSample(sample map[string]int, msg string, n int) map[string]int {
	if sample == nil {
		sample = map[string]int{}
	}
	if _, ok := sample[msg]; ok || len(sample) < maxErrKinds {
		sample[msg] += n
	}
	return sample
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
