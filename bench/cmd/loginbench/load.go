package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/fixture"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/measure"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/progress"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

// runResult is one timed run: one target, one workload, one client count,
// one round.
type runResult struct {
	target    string
	workload  string
	clients   int
	round     int
	elapsed   time.Duration // first request sent to last response received
	latencies []time.Duration
	errors    int
	errSample map[string]int // error text -> count, bounded (see maxErrKinds)

	// reviews is the TokenReviews the API server served during the run
	// (reviewsKnown: it could be read before and after).
	reviews      measure.ReviewCount
	reviewsKnown bool
	// cpu is the CPU time each process spent during the run (a process
	// that could not be read is missing).
	cpu map[string]time.Duration
	// drawsPool: the logins took the pool's tokens in turn; reuse is the
	// shortest interval between two logins with the same token.
	drawsPool bool
	reuse     reuseTracker
}

// maxErrKinds bounds the distinct error texts kept per run; a failing server
// can produce a new message per request.
const maxErrKinds = 8

func (r *runResult) ok() int { return len(r.latencies) }

// attempts is every request sent, answered or failed.
func (r *runResult) attempts() int { return r.ok() + r.errors }

// rate is successful requests per second over the run's wall time; failed
// requests do not count as throughput.
func (r *runResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok()) / r.elapsed.Seconds()
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

func requestFor(t targets.Target, workload string, env *benchEnv) (request, bool) {
	if t.Kind == targets.KindTokenCreate {
		return request{
			path:  t.LoginPath(),
			token: func(client int) string { return env.floorTokens[client%len(env.floorTokens)] },
			body:  func(int) (map[string]any, int) { return env.floorBody, -1 },
		}, false
	}
	choose, draws := tokenChooser(t, workload, env.pool, env.repeat)
	return request{
		path: t.LoginPath(),
		body: func(client int) (map[string]any, int) {
			jwt, k := choose(client)
			return map[string]any{"role": fixture.RoleName, "jwt": jwt}, k
		},
	}, draws
}

// runRounds primes and warms every target, then for every client count runs
// R rounds of the workloads and targets in alternation, so that drift on a
// shared machine (other jobs, Go GC in Vault, the growing identity store)
// spreads over all targets alike.
func runRounds(ctx context.Context, o *options, env *benchEnv) ([]*runResult, error) {
	for _, name := range o.targets {
		t := targets.ByName[name]
		if env.pool != nil && t.Reviews() {
			// One login per service account before any timing: the first
			// login of an account creates its entity in Vault's identity
			// store, a write no later login repeats.
			r, err := runOnce(ctx, o, env, t, workloadDistinct, o.maxClients(), 0, o.serviceAccts)
			if err != nil {
				return nil, err
			}
			progress.Printf("prime   %-17s %5d logins (one per service account), %d errors", name, r.ok(), r.errors)
		}
		if o.warmup > 0 {
			r, err := runOnce(ctx, o, env, t, o.workloads[0], o.maxClients(), o.warmup, 0)
			if err != nil {
				return nil, err
			}
			progress.Printf("warm-up %-17s clients=%-3d %6d ok %4d errors", name, r.clients, r.ok(), r.errors)
		}
	}
	env.loadAtStart = loadAverage()
	progress.Printf("load average %s", env.loadAtStart)
	var results []*runResult
	for _, n := range o.clients {
		for round := 1; round <= o.rounds; round++ {
			for _, w := range o.workloads {
				for _, name := range roundOrder(o.targets, round) {
					if ctx.Err() != nil {
						return results, fmt.Errorf("interrupted: %w", ctx.Err())
					}
					r, err := measuredRun(ctx, o, env, targets.ByName[name], w, n)
					if err != nil {
						return results, err
					}
					r.round = round
					results = append(results, r)
					logRun(o, r)
				}
			}
		}
	}
	return results, nil
}

// measuredRun is one timed run with the API server's TokenReview count and
// every process's CPU time read before and after it.
func measuredRun(ctx context.Context, o *options, env *benchEnv, t targets.Target, workload string, clients int) (*runResult, error) {
	if t.ReviewMode == "hybrid" && !env.agedNoted && time.Since(env.tokensMinted) > o.localMaxTokenAge {
		env.agedNoted = true
		env.notes.Add("from %s on, the workload tokens are older than local_max_token_age %s: plugin-hybrid reviews them as plugin-cached does (raise -local-max-token-age, at most the plugin's maximum, or shorten the run)",
			time.Now().UTC().Format("15:04:05"), o.localMaxTokenAge)
	}
	pluginFile := env.pluginFiles[t.Kind]
	revBefore, errBefore := measure.ReadTokenReviews(ctx, env.kube)
	cpuBefore := env.procs.Snapshot(pluginFile)
	r, err := runOnce(ctx, o, env, t, workload, clients, o.duration, 0)
	if err != nil {
		return nil, err
	}
	cpuAfter := env.procs.Snapshot(pluginFile)
	revAfter, errAfter := measure.ReadTokenReviews(ctx, env.kube)
	r.cpu = measure.CPUDelta(cpuBefore, cpuAfter)
	if errBefore == nil && errAfter == nil {
		r.reviews, r.reviewsKnown = revAfter.Sub(revBefore), true
	} else if ctx.Err() == nil {
		progress.Printf("WARNING: TokenReview count unknown for this run: %v %v", errBefore, errAfter)
	}
	return r, nil
}

func logRun(o *options, r *runResult) {
	s := summarize([]*runResult{r})
	extra := ""
	if r.reviewsKnown && r.attempts() > 0 {
		extra += fmt.Sprintf(" reviews/login %.3f", r.reviews.Total/float64(r.attempts()))
	}
	if r.drawsPool && r.reuse.ok {
		extra += fmt.Sprintf(" token reuse >= %.1fs", r.reuse.min.Seconds())
	}
	if ms, ok := cpuPerLogin(r.cpu[measure.ProcPlugin], r.ok()); ok {
		extra += fmt.Sprintf(" plugin CPU %.0f µs/login", ms*1000)
	}
	progress.Printf("round %d/%d %-8s %-17s clients=%-3d %7.1f/s p50 %6.2f ms p99 %6.2f ms %d ok %d errors%s",
		r.round, o.rounds, r.workload, r.target, r.clients, s.rate, ms(s.p50), ms(s.p99), s.ok, s.errors, extra)
	for msg, c := range r.errSample {
		progress.Printf("    %d x %s", c, msg)
	}
}

// runOnce drives clients concurrent workers against one target, for d or,
// when d is 0, for count requests in all. Each worker sends its next
// request as soon as the previous one is answered (closed loop) and stops
// sending once d has passed; the run ends when the last in-flight request
// is answered, and that is the time throughput is divided by.
func runOnce(ctx context.Context, o *options, env *benchEnv, t targets.Target, workload string, clients int, d time.Duration, count int) (*runResult, error) {
	req, draws := requestFor(t, workload, env)
	workers := make([]*vault.Client, clients)
	for i := range workers {
		token := ""
		if req.token != nil {
			token = req.token(i)
		}
		c, err := newVaultClient(o, env.transport, token)
		if err != nil {
			return nil, err
		}
		workers[i] = c
	}

	type workerResult struct {
		lat    []time.Duration
		errs   int
		sample map[string]int
		reuse  reuseTracker
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
					if gap, seen := env.pool.use(k, t0); seen {
						res.reuse.add(gap)
					}
				}
				s, err := c.Logical().WriteWithContext(ctx, req.path, body)
				lat := time.Since(t0)
				if err == nil {
					err = checkIssued(s)
				}
				if err != nil {
					if ctx.Err() != nil {
						return // interrupted, not a failure of the target
					}
					res.errs++
					if res.sample == nil {
						res.sample = map[string]int{}
					}
					msg := shortErr(err)
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

	r := &runResult{target: t.Name, workload: workload, clients: clients, elapsed: time.Since(start), drawsPool: draws}
	for _, w := range out {
		r.latencies = append(r.latencies, w.lat...)
		r.errors += w.errs
		r.reuse.merge(w.reuse)
		for msg, c := range w.sample {
			if r.errSample == nil {
				r.errSample = map[string]int{}
			}
			if _, ok := r.errSample[msg]; ok || len(r.errSample) < maxErrKinds {
				r.errSample[msg] += c
			}
		}
	}
	return r, nil
}

// shortErr flattens an error to one bounded line: Vault's API errors carry
// the URL, status code and a multi-line list of messages.
func shortErr(err error) string {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	return msg
}
