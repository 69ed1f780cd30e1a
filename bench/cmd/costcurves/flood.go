package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/fixture"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/load"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/measure"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/progress"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

// floodTokens is how many distinct bad tokens of each kind the flood
// cycles through: more than a cache bound of 10,000 entries, so a cache
// that kept refusals would be seen to fill.
const floodTokens = 12000

// Workers of the paced runs: enough that a request never waits for one at
// these rates unless the server is slower than the pace.
const (
	validWorkers = 8
	floodWorkers = 32
)

// measureFlood runs, for each multiple m, valid logins paced at
// -flood-valid-rate beside forged and expired tokens paced at m times that
// rate, and a baseline of the valid logins alone first (size 0, reported
// beside the curve). The curve's N is m.
func (c *costs) measureFlood(ctx context.Context, t targets.Target, role map[string]any, cv *curve) error {
	if err := c.writeRole(ctx, t.Mount, fixture.RoleName, role); err != nil {
		return err
	}
	bad, err := c.badTokens()
	if err != nil {
		return err
	}
	flood := &load.Loader{Conn: c.st.Load.Conn, Tokens: &load.Tokens{Pool: load.NewTokenPool(bad, len(bad), time.Now())}}
	c.usePool(c.base, nil)
	if _, err := c.st.Load.Run(ctx, load.Spec{Target: t, Workload: load.Distinct, Clients: c.o.clients, Count: len(c.base)}); err != nil {
		return err
	}
	for _, m := range append([]int{0}, c.o.sizes[DimFlood]...) {
		p := &point{n: m}
		for round := 1; round <= c.o.rounds; round++ {
			valid, bad, reviews, cpu, err := c.floodRun(ctx, t, flood, m)
			if err != nil {
				return err
			}
			valid.CPU = cpu
			p.runs, p.reviews = append(p.runs, valid), p.reviews+reviews
			if bad != nil {
				p.flood = append(p.flood, bad)
			}
			progress.Printf("flood %dx round %d: valid %.1f/s (%d failed, %d late), p99 %.1f ms; bad %d sent, %d let in, %d late; %.0f TokenReviews",
				m, round, valid.Rate(), valid.Errors, valid.Late(), latency([]*load.Result{valid}, 0.99), attempts(bad), okCount(bad), late(bad), reviews)
		}
		p.rss = c.pluginRSS()
		if m == 0 {
			cv.baseline = p
		} else {
			cv.points = append(cv.points, p)
		}
	}
	return nil
}

// floodRun is one run of the valid logins and, when m > 0, the bad ones at
// once, with the plugin's CPU and the API server's TokenReviews read around
// them.
func (c *costs) floodRun(ctx context.Context, t targets.Target, flood *load.Loader, m int) (valid, bad *load.Result, reviews float64, cpu map[string]time.Duration, err error) {
	procs := c.bench.Instruments.Procs
	revBefore, _ := measure.ReadTokenReviews(ctx, c.st.Kube)
	before := procs.Snapshot(c.o.plugins.Name)
	spec := load.Spec{Target: t, Workload: load.Distinct, For: c.o.duration}
	done := make(chan error, 1)
	if m > 0 {
		go func() {
			var ferr error
			bad, ferr = flood.RunPaced(ctx, load.Paced{Spec: spec, Rate: float64(m) * c.o.validRate, Workers: floodWorkers})
			done <- ferr
		}()
	} else {
		done <- nil
	}
	valid, err = c.st.Load.RunPaced(ctx, load.Paced{Spec: spec, Rate: c.o.validRate, Workers: validWorkers})
	if ferr := <-done; err == nil {
		err = ferr
	}
	cpu = measure.CPUDelta(before, procs.Snapshot(c.o.plugins.Name))
	revAfter, _ := measure.ReadTokenReviews(ctx, c.st.Kube)
	return valid, bad, revAfter.Sub(revBefore).Total, cpu, err
}

// badTokens is floodTokens forged and as many expired tokens, alternating,
// made from a real workload token.
func (c *costs) badTokens() ([]string, error) {
	keyPEM, err := os.ReadFile(c.o.signingKey)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	key, err := parseRSAKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", c.o.signingKey, err)
	}
	start := time.Now()
	forged, err := forgeTokens(c.base[0], floodTokens)
	if err != nil {
		return nil, err
	}
	expired, err := expireTokens(c.base[0], floodTokens, key, time.Now())
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, 2*floodTokens)
	for i := range forged {
		out = append(out, forged[i], expired[i])
	}
	progress.Printf("flood: %d forged and %d expired tokens made in %s", len(forged), len(expired), time.Since(start).Round(100*time.Millisecond))
	return out, nil
}

func attempts(r *load.Result) int {
	if r == nil {
		return 0
	}
	return r.Attempts()
}

func okCount(r *load.Result) int {
	if r == nil {
		return 0
	}
	return r.OK()
}

func late(r *load.Result) int {
	if r == nil {
		return 0
	}
	return r.Late()
}
