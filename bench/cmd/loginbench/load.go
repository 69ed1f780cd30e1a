package main

import (
	"context"
	"fmt"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/load"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/measure"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/progress"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

// runRounds primes and warms every target, then for every client count runs
// R rounds of the workloads and targets in alternation, so that drift on a
// shared machine (other jobs, Go GC in Vault, the growing identity store)
// spreads over all targets alike.
func runRounds(ctx context.Context, o *options, env *session) ([]*load.Result, error) {
	for _, name := range o.targets {
		t := targets.ByName[name]
		if env.Load.Tokens.Pool != nil && t.Reviews() {
			// One login per service account before any timing: the first
			// login of an account creates its entity in Vault's identity
			// store, a write no later login repeats.
			r, err := env.Load.Run(ctx, load.Spec{Target: t, Workload: load.Distinct, Clients: o.maxClients(), Count: o.accounts.ServiceAccounts})
			if err != nil {
				return nil, err
			}
			progress.Printf("prime   %-17s %5d logins (one per service account), %d errors", name, r.OK(), r.Errors)
		}
		if o.warmup > 0 {
			r, err := env.Load.Run(ctx, load.Spec{Target: t, Workload: o.workloads[0], Clients: o.maxClients(), For: o.warmup})
			if err != nil {
				return nil, err
			}
			progress.Printf("warm-up %-17s clients=%-3d %6d ok %4d errors", name, r.Clients, r.OK(), r.Errors)
		}
	}
	env.loadAtStart = loadAverage()
	progress.Printf("load average %s", env.loadAtStart)
	var results []*load.Result
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
					r.Round = round
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
func measuredRun(ctx context.Context, o *options, env *session, t targets.Target, workload string, clients int) (*load.Result, error) {
	if t.ReviewMode == "hybrid" && !env.agedNoted && time.Since(env.TokensMinted) > o.role.LocalMaxTokenAge {
		env.agedNoted = true
		env.notes.Add("from %s on, the workload tokens are older than local_max_token_age %s: plugin-hybrid reviews them as plugin-cached does (raise -local-max-token-age, at most the plugin's maximum, or shorten the run)",
			time.Now().UTC().Format("15:04:05"), o.role.LocalMaxTokenAge)
	}
	pluginFile := env.PluginFiles[t.Kind]
	revBefore, errBefore := measure.ReadTokenReviews(ctx, env.Kube)
	cpuBefore := env.procs.Snapshot(pluginFile)
	r, err := env.Load.Run(ctx, load.Spec{Target: t, Workload: workload, Clients: clients, For: o.duration})
	if err != nil {
		return nil, err
	}
	cpuAfter := env.procs.Snapshot(pluginFile)
	revAfter, errAfter := measure.ReadTokenReviews(ctx, env.Kube)
	r.CPU = measure.CPUDelta(cpuBefore, cpuAfter)
	if errBefore == nil && errAfter == nil {
		r.Reviews, r.ReviewsKnown = revAfter.Sub(revBefore), true
	} else if ctx.Err() == nil {
		progress.Printf("WARNING: TokenReview count unknown for this run: %v %v", errBefore, errAfter)
	}
	return r, nil
}

func logRun(o *options, r *load.Result) {
	s := summarize([]*load.Result{r})
	extra := ""
	if r.ReviewsKnown && r.Attempts() > 0 {
		extra += fmt.Sprintf(" reviews/login %.3f", r.Reviews.Total/float64(r.Attempts()))
	}
	if r.DrawsPool && r.Reuse.OK {
		extra += fmt.Sprintf(" token reuse >= %.1fs", r.Reuse.Min.Seconds())
	}
	if ms, ok := cpuPerLogin(r.CPU[measure.ProcPlugin], r.OK()); ok {
		extra += fmt.Sprintf(" plugin CPU %.0f µs/login", ms*1000)
	}
	progress.Printf("round %d/%d %-8s %-17s clients=%-3d %7.1f/s p50 %6.2f ms p99 %6.2f ms %d ok %d errors%s",
		r.Round, o.rounds, r.Workload, r.Target, r.Clients, s.rate, ms(s.p50), ms(s.p99), s.ok, s.errors, extra)
	for msg, c := range r.ErrSample {
		progress.Printf("    %d x %s", c, msg)
	}
}
