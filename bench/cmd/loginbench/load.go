package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// runResult is one timed run: one target, one client count, one round.
type runResult struct {
	target    string
	clients   int
	round     int
	elapsed   time.Duration // first request sent to last response received
	latencies []time.Duration
	errors    int
	errSample map[string]int // error text -> count, bounded (see maxErrKinds)
}

// maxErrKinds bounds the distinct error texts kept per run; a failing server
// can produce a new message per request.
const maxErrKinds = 8

func (r *runResult) ok() int { return len(r.latencies) }

// rate is successful requests per second over the run's wall time; failed
// requests do not count as throughput.
func (r *runResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok()) / r.elapsed.Seconds()
}

// request is one timed operation: where it goes, what it sends, which token
// it carries.
type request struct {
	path  string
	token func(worker int) string
	body  func(worker int) map[string]any
}

func requestFor(target string, env *benchEnv) request {
	login := func(mount string) request {
		return request{
			path: "auth/" + mount + "/login",
			body: func(worker int) map[string]any {
				return map[string]any{"role": roleName, "jwt": env.workloadJWTs[worker%len(env.workloadJWTs)]}
			},
		}
	}
	switch target {
	case targetPlugin:
		return login(pluginMount)
	case targetBuiltin:
		return login(builtinMount)
	default:
		return request{
			path:  "auth/token/create",
			token: func(worker int) string { return env.floorTokens[worker%len(env.floorTokens)] },
			body:  func(int) map[string]any { return env.floorBody },
		}
	}
}

// measure runs the warm-up, then for every client count R rounds of the
// targets in alternation, so that drift on a shared machine (other jobs, Go
// GC in Vault, growing token store) spreads over all targets alike.
func measure(ctx context.Context, o *options, env *benchEnv) ([]*runResult, error) {
	if o.warmup > 0 {
		for _, t := range o.targets {
			r, err := runOnce(ctx, o, env, t, o.maxClients(), o.warmup)
			if err != nil {
				return nil, err
			}
			progress("warm-up %-7s clients=%-3d %6d ok %4d errors", t, r.clients, r.ok(), r.errors)
		}
	}
	var results []*runResult
	for _, n := range o.clients {
		for round := 1; round <= o.rounds; round++ {
			for _, t := range o.targets {
				if ctx.Err() != nil {
					return results, fmt.Errorf("interrupted: %w", ctx.Err())
				}
				r, err := runOnce(ctx, o, env, t, n, o.duration)
				if err != nil {
					return results, err
				}
				r.round = round
				results = append(results, r)
				s := summarize([]*runResult{r})
				progress("round %d/%d %-7s clients=%-3d %7.1f/s p50 %6.2f ms p99 %6.2f ms  %d ok %d errors",
					round, o.rounds, t, n, s.rate, ms(s.p50), ms(s.p99), s.ok, s.errors)
				for msg, c := range r.errSample {
					progress("    %d x %s", c, msg)
				}
			}
		}
	}
	return results, nil
}

// runOnce drives clients concurrent workers against one target for d. Each
// worker sends its next request as soon as the previous one is answered
// (closed loop) and stops sending once d has passed; the run ends when the
// last in-flight request is answered, and that is the time throughput is
// divided by.
func runOnce(ctx context.Context, o *options, env *benchEnv, target string, clients int, d time.Duration) (*runResult, error) {
	req := requestFor(target, env)
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
	}
	out := make([]workerResult, clients)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for i, c := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := &out[i]
			res.lat = make([]time.Duration, 0, 4096)
			body := req.body(i)
			for ctx.Err() == nil && time.Now().Before(deadline) {
				t0 := time.Now()
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

	r := &runResult{target: target, clients: clients, elapsed: time.Since(start)}
	for _, w := range out {
		r.latencies = append(r.latencies, w.lat...)
		r.errors += w.errs
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
