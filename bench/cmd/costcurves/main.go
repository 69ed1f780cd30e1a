// Command costcurves measures, on the real stack, how the cost of a login
// through this plugin grows as one dimension of the work grows while the
// others stay small: roles on the mount, clusters, namespaces behind a
// selector role, distinct service accounts, and a flood of forged and
// expired tokens beside a steady stream of valid logins. For each size it
// runs a short fixed load and records logins/s, p50/p99, the plugin
// process's CPU per login (from /proc) and its resident memory; it fits each
// curve against log10(N) and N, calls it flat, log or linear, and draws one
// SVG chart per dimension.
//
// Every mount runs this plugin in review_mode=hybrid: tokens are verified
// against the cluster's keys and no TokenReview is made, so what grows is
// the plugin's own work (and Vault's), not the API server's.
//
// Like loginbench it expects a running stack and reads the stack's env file
// variables as flag defaults; scripts/bench-curves.sh starts a private one.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/fixture"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/load"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/measure"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/progress"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/setup"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

func main() {
	os.Exit(run())
}

func run() int {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "costcurves:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := prepare(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "costcurves: setup:", err)
		return 1
	}
	// A dimension that fails is reported and the next one still runs: the
	// dimensions are independent mounts, and a long run should not lose
	// the curves it can still measure.
	var curves []*curve
	failures := 0
	for _, d := range o.dims {
		cv, err := c.measureDimension(ctx, d)
		if cv != nil && len(cv.points) > 0 {
			curves = append(curves, cv)
		}
		if err != nil {
			failures++
			c.notes.Add("%s: %v (the points measured before it are kept)", d, err)
			if ctx.Err() != nil {
				break
			}
		}
	}
	if err := writeResults(o, c, curves); err != nil {
		fmt.Fprintln(os.Stderr, "costcurves:", err)
		return 1
	}
	if failures > 0 {
		return 1
	}
	return 0
}

// costs holds what every dimension shares: the prepared stack, the rounds'
// instruments and the workload tokens made so far.
type costs struct {
	o     *options
	st    *setup.Stack
	bench *load.Bench
	notes *progress.Notes
	// ref is the reference mount (-reference): loginbench's plugin-hybrid,
	// one cluster and one role, logged in with the base tokens.
	ref targets.Target
	// base are tokens of the first -base-accounts workload accounts of
	// fixture.Namespace, made once.
	base []string
	// loadAtStart is the load average when the first dimension began.
	loadAtStart string
	started     time.Time
}

// prepare runs loginbench's setup for the one target every mount copies
// (this plugin, hybrid) and makes the base tokens.
func prepare(ctx context.Context, o *options) (*costs, error) {
	notes := &progress.Notes{}
	cfg := setup.Config{
		Vault: o.vault, Kube: o.kube, Plugins: o.plugins,
		Accounts: setup.Accounts{ServiceAccounts: o.baseAccounts, PoolSetupLimit: time.Minute, TokenLifetime: o.tokenLifetime},
		Role:     o.role,
		Targets:  []string{targets.PluginHybrid}, Workloads: []string{load.Repeat}, Clients: o.clients,
	}
	st, err := setup.Prepare(ctx, cfg, notes)
	if err != nil {
		return nil, err
	}
	c := &costs{o: o, st: st, notes: notes, started: time.Now(), ref: targets.ByName[targets.PluginHybrid]}
	c.bench = &load.Bench{
		Loader:      st.Load,
		Instruments: load.Instruments{Kube: st.Kube, Procs: measure.Procs{StackDir: o.stackDir}, PluginFiles: st.PluginFiles},
		Schedule:    load.Schedule{Targets: nil, Clients: []int{o.clients}, Rounds: o.rounds, Duration: o.duration},
		Notes:       notes, TokensMinted: st.TokensMinted, LocalMaxTokenAge: o.role.LocalMaxTokenAge,
	}
	accounts := make([]setup.Account, o.baseAccounts)
	for i := range accounts {
		accounts[i] = setup.Account{Namespace: fixture.Namespace, Name: setup.WorkloadSAName(i)}
	}
	if c.base, err = setup.RequestTokens(ctx, st.Kube, accounts, []string{fixture.Audience}, o.tokenLifetime); err != nil {
		return nil, err
	}
	if o.reference {
		if err := c.primeReference(ctx); err != nil {
			return nil, err
		}
	}
	c.loadAtStart = measure.LoadAverage()
	return c, os.MkdirAll(filepath.Clean(o.outDir), 0o755)
}

// primeReference logs in once with every base token on the reference
// mount, so its entities exist before its first measured round, as the
// dimensions' do.
func (c *costs) primeReference(ctx context.Context) error {
	c.usePool(c.base, nil)
	prime, err := c.st.Load.Run(ctx, load.Spec{Target: c.ref, Workload: load.Distinct, Clients: c.o.clients, Count: len(c.base)})
	if err != nil {
		return fmt.Errorf("priming the reference mount %s: %w", c.ref.Mount, err)
	}
	return failed("priming the reference mount "+c.ref.Mount, prime)
}
