package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/load"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/measure"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/progress"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

// point is one size of one dimension and what the logins cost there.
type point struct {
	n     int
	setup time.Duration // making the dimension this large
	runs  []*load.Result
	// rss is the plugin process's resident memory after the runs.
	rss int64
	// flood: the bad tokens' runs beside runs (the valid logins), and the
	// TokenReviews the API server served during them.
	flood   []*load.Result
	reviews float64
}

// measurePoint logs in once with every token of the pool (the first login
// of an account creates its entity in Vault; no later login does), warms
// up, then runs the rounds and reads the plugin's memory.
func (c *costs) measurePoint(ctx context.Context, t targets.Target, pool, roles []string) (*point, error) {
	c.usePool(pool, roles)
	prime, err := c.st.Load.Run(ctx, load.Spec{Target: t, Workload: load.Distinct, Clients: c.o.clients, Count: len(pool)})
	if err != nil {
		return nil, err
	}
	if err := failed("prime", prime); err != nil {
		return nil, err
	}
	if c.o.warmup > 0 {
		if _, err := c.st.Load.Run(ctx, load.Spec{Target: t, Workload: load.Distinct, Clients: c.o.clients, For: c.o.warmup}); err != nil {
			return nil, err
		}
	}
	p := &point{}
	for round := 1; round <= c.o.rounds; round++ {
		r, err := c.bench.MeasuredRun(ctx, t, load.Distinct, c.o.clients)
		if err != nil {
			return nil, err
		}
		r.Round = round
		if err := failed("run", r); err != nil {
			return nil, err
		}
		p.runs = append(p.runs, r)
		progress.Printf("  round %d: %.0f logins/s, plugin %.0f µs/login", round, r.Rate(), perLoginUS(r, measure.ProcPlugin))
	}
	p.rss = c.pluginRSS()
	return p, nil
}

func (c *costs) pluginRSS() int64 {
	rss, err := c.bench.Instruments.Procs.PluginRSS(c.o.plugins.Name)
	if err != nil {
		progress.Printf("WARNING: plugin RSS unknown: %v", err)
		return 0
	}
	return rss
}

// failed is an error when any login of r failed: a curve of failing logins
// measures the failure, not the cost.
func failed(what string, r *load.Result) error {
	if r.Errors == 0 {
		return nil
	}
	return fmt.Errorf("%s: %d of %d logins failed, e.g. %v", what, r.Errors, r.Attempts(), r.ErrSample)
}

// perLoginUS is the CPU time proc spent per successful login of r, in µs;
// 0 when unknown.
func perLoginUS(r *load.Result, proc string) float64 {
	ms, ok := measure.CPUPerLogin(r.CPU[proc], r.OK())
	if !ok {
		return 0
	}
	return ms * 1000
}

// stats of a point over its rounds.

func (p *point) rate() float64 { return sumRate(p.runs) }

func sumRate(runs []*load.Result) float64 {
	ok, secs := 0, 0.0
	for _, r := range runs {
		ok += r.OK()
		secs += r.Elapsed.Seconds()
	}
	if secs == 0 {
		return 0
	}
	return float64(ok) / secs
}

// cpuUS is proc's CPU per login over every round, in µs.
func (p *point) cpuUS(proc string) float64 {
	var cpu time.Duration
	ok := 0
	for _, r := range p.runs {
		cpu += r.CPU[proc]
		ok += r.OK()
	}
	ms, known := measure.CPUPerLogin(cpu, ok)
	if !known {
		return 0
	}
	return ms * 1000
}

// spread is the largest minus the smallest per-round value of f: how much
// the same size moved between rounds.
func (p *point) spread(f func(*load.Result) float64) float64 {
	if len(p.runs) == 0 {
		return 0
	}
	lo, hi := f(p.runs[0]), f(p.runs[0])
	for _, r := range p.runs[1:] {
		lo, hi = min(lo, f(r)), max(hi, f(r))
	}
	return hi - lo
}

// latency is the p-th percentile (nearest rank) of every round's logins, in ms.
func latency(runs []*load.Result, p float64) float64 {
	var all []time.Duration
	for _, r := range runs {
		all = append(all, r.Latencies...)
	}
	slices.Sort(all)
	return float64(load.Percentile(all, p)) / float64(time.Millisecond)
}
