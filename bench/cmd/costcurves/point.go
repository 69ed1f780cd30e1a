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
	// ref are the reference mount's rounds, run beside runs (-reference):
	// a mount that never changes, on the same machine in the same
	// minutes, so a ratio to them is free of the machine's drift.
	ref []*load.Result
	// rss is the plugin process's resident memory after the runs.
	rss int64
	// flood: the bad tokens' runs beside runs (the valid logins), and the
	// TokenReviews the API server served during them.
	flood   []*load.Result
	reviews float64
}

// measurePoint logs in once with every token of the pool (the first login
// of an account creates its entity in Vault; no later login does), warms
// up, then runs the rounds (each beside a reference round, with
// -reference) and reads the plugin's memory.
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
		// The reference goes first in odd rounds and last in even ones,
		// so a drift within the point favors neither.
		refFirst := round%2 == 1
		if c.o.reference && refFirst {
			if err := c.referenceRound(ctx, p, round); err != nil {
				return nil, err
			}
		}
		if c.o.reference {
			c.usePool(pool, roles)
		}
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
		if c.o.reference && !refFirst {
			if err := c.referenceRound(ctx, p, round); err != nil {
				return nil, err
			}
		}
	}
	p.rss = c.pluginRSS()
	return p, nil
}

// referenceRound is one round of the reference mount with the base
// accounts' tokens, added to p.ref.
func (c *costs) referenceRound(ctx context.Context, p *point, round int) error {
	c.usePool(c.base, nil)
	r, err := c.bench.MeasuredRun(ctx, c.ref, load.Distinct, c.o.clients)
	if err != nil {
		return err
	}
	r.Round = round
	if err := failed("reference run", r); err != nil {
		return err
	}
	p.ref = append(p.ref, r)
	progress.Printf("  round %d, reference: %.0f logins/s, plugin %.0f µs/login", round, r.Rate(), perLoginUS(r, measure.ProcPlugin))
	return nil
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
func (p *point) cpuUS(proc string) float64 { return cpuPerLoginUS(p.runs, proc) }

// Over the reference: the point's cost divided by the reference's,
// measured in the same minutes (0 without reference rounds).

func (p *point) rateOverRef() float64 { return ratio(sumRate(p.runs), sumRate(p.ref)) }

func (p *point) cpuOverRef() float64 {
	return ratio(cpuPerLoginUS(p.runs, measure.ProcPlugin), cpuPerLoginUS(p.ref, measure.ProcPlugin))
}

// roundRatios are f of each round over f of the reference's round of the
// same number.
func (p *point) roundRatios(f func(*load.Result) float64) []float64 {
	var out []float64
	for i, r := range p.runs {
		if i < len(p.ref) {
			out = append(out, ratio(f(r), f(p.ref[i])))
		}
	}
	return out
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func cpuPerLoginUS(runs []*load.Result, proc string) float64 {
	var cpu time.Duration
	ok := 0
	for _, r := range runs {
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
	var vs []float64
	for _, r := range p.runs {
		vs = append(vs, f(r))
	}
	return spreadOf(vs)
}

func spreadOf(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	return slices.Max(vs) - slices.Min(vs)
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
