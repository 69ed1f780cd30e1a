// Command loginbench measures Kubernetes logins through Vault's HTTP API on one
// Vault and one kube-apiserver, target against target in alternating rounds:
// a no-op external auth plugin (the ceiling of any external plugin), the
// upstream plugin, this project's plugin in each review mode, Vault's
// built-in kubernetes method, and auth/token/create (issuing a token with no
// login at all). Two workloads: distinct tokens (each login the next token
// of a large pool, as in a rollout) and repeat (each client reuses its own
// token). For each run it reports logins/s, p50/p99, the TokenReviews the API
// server served per login and the CPU each process spent per login; it can
// take a CPU profile of the plugin process under load.
//
// It expects a running stack (scripts/stack-up.sh) and reads the stack's env
// file variables (VAULT_ADDR, VAULT_TOKEN, KUBECONFIG, KUBE_HOST, KUBE_CA_FILE,
// VAULT_PLUGIN_DIR, STACK_DIR) as flag defaults. scripts/bench.sh starts a
// private stack, runs this tool and stops the stack again.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/load"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/measure"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/progress"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/report"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/setup"
)

func main() {
	os.Exit(run())
}

func run() int {
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "loginbench:", err)
		return 2
	}

	// Ctrl-C stops the measurement; the partial results are still printed
	// so an interrupted run is visibly incomplete rather than lost.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	notes := &progress.Notes{}
	st, err := setup.Prepare(ctx, setupConfig(opts), notes)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loginbench: setup:", err)
		return 1
	}

	bench := newBench(opts, st, notes)
	results, err := bench.RunRounds(ctx)
	var profiles []*load.Profile
	if err == nil && opts.profileSeconds > 0 {
		profiles = bench.TakeProfiles(ctx, profileSettings(opts, st))
	}
	report.Write(os.Stdout, reportInput(opts, st, bench, results, profiles))
	if err != nil {
		fmt.Fprintln(os.Stderr, "loginbench:", err)
		return 1
	}
	if n := report.TotalErrors(results); n > 0 && !opts.allowErrs {
		fmt.Fprintf(os.Stderr, "loginbench: %d requests failed; the numbers above are not a clean run (-allow-errors to exit 0 anyway)\n", n)
		return 1
	}
	return 0
}

// setupConfig is what setup needs of the command line.
func setupConfig(o *options) setup.Config {
	return setup.Config{
		Vault: o.vault, Kube: o.kube, Plugins: o.plugins, Accounts: o.accounts, Role: o.role, Floor: o.floor,
		Targets: o.targets, Workloads: o.workloads, Clients: o.maxClients(),
		ServePprof: len(o.profiles) > 0, OutDir: o.outDir,
	}
}

// newBench hands the rounds what they need of the command line and the
// prepared stack.
func newBench(o *options, st *setup.Stack, notes *progress.Notes) *load.Bench {
	return &load.Bench{
		Loader:      st.Load,
		Instruments: load.Instruments{Kube: st.Kube, Procs: measure.Procs{StackDir: o.stackDir}, PluginFiles: st.PluginFiles},
		Schedule: load.Schedule{
			Targets: o.targets, Workloads: o.workloads, Clients: o.clients, Rounds: o.rounds,
			Warmup: o.warmup, Duration: o.duration, ServiceAccounts: o.accounts.ServiceAccounts,
		},
		Notes:            notes,
		TokensMinted:     st.TokensMinted,
		LocalMaxTokenAge: o.role.LocalMaxTokenAge,
	}
}

func profileSettings(o *options, st *setup.Stack) load.ProfileSettings {
	return load.ProfileSettings{
		Specs: o.profiles, Seconds: o.profileSeconds, Vault: o.profileVault,
		VaultAddr: o.vault.Addr, VaultToken: o.vault.Token, PprofAddr: st.PprofAddr, OutDir: st.OutDir,
	}
}

// reportInput gathers what the report states: the settings, what setup
// found, the notes and the measurements.
func reportInput(o *options, st *setup.Stack, b *load.Bench, results []*load.Result, profiles []*load.Profile) *report.Input {
	in := &report.Input{
		Settings: report.Settings{
			Targets: o.targets, Workloads: o.workloads, Clients: o.clients, Rounds: o.rounds,
			Duration: o.duration, Warmup: o.warmup, Role: o.role, Plugins: o.plugins,
			ServiceAccounts: o.accounts.ServiceAccounts, Floor: o.floor,
		},
		Facts:       st.Facts,
		Notes:       b.Notes.List(),
		LoadAtStart: b.LoadAtStart,
		Results:     results,
		Profiles:    profiles,
	}
	if pool := st.Load.Tokens.Pool; pool != nil {
		in.PoolSize = pool.Len()
	}
	return in
}
