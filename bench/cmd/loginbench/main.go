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
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/load"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/measure"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/progress"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/report"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/setup"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

// options are the command-line settings; see parseFlags for their meaning.
type options struct {
	clients   []int
	duration  time.Duration
	warmup    time.Duration
	rounds    int
	targets   []string
	workloads []string
	allowErrs bool

	profileSeconds int
	profiles       []load.ProfileSpec
	profileVault   bool
	outDir         string

	vault    setup.Vault
	kube     setup.Kube
	plugins  setup.Plugins
	accounts setup.Accounts
	role     targets.RoleSettings
	floor    setup.Floor
	stackDir string
}

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

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("loginbench", flag.ContinueOnError)
	var (
		clients    = fs.String("clients", "1,8", "comma-separated numbers of concurrent clients; every target is measured at each")
		targetList = fs.String("targets", strings.Join(targets.DefaultNames(), ","), "comma-separated subset of "+strings.Join(targets.Names(), ",")+" (the *-10c ones, mounts with ten clusters, only when named)")
		workload   = fs.String("workload", "both", "distinct (each login the next token of the pool), repeat (each client reuses its own token) or both")
		profiles   = fs.String("profile", "auto", "CPU profiles to take after the rounds, of the plugin process and Vault's, as target:workload pairs (e.g. plugin-hybrid:distinct; for targets other than plugin-*, Vault's alone); auto: each measured plugin-* target under the workload the issue sets its goal in; none: no profile")
		o          options
		stackDirD  = os.Getenv("STACK_DIR")
	)
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of one measured run (one target, one workload, one client count, one round)")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unrecorded load per target before the first round (connections, plugin processes, caches), after one login per service account")
	fs.IntVar(&o.rounds, "rounds", 3, "how many times the targets are measured in alternation")
	fs.DurationVar(&o.vault.Timeout, "timeout", 30*time.Second, "per-request timeout; a request that exceeds it counts as an error")
	fs.BoolVar(&o.allowErrs, "allow-errors", false, "exit 0 even when requests failed (they are still counted and reported)")

	fs.IntVar(&o.accounts.Pool, "pool", 30000, "distinct workload: how many workload tokens to create (TokenRequest) before the runs; a token should come back less often than every 10 s, the API server's own review cache, so the pool must exceed 10 s of the fastest reviewing target's logins (the built-in method did 1,600/s here)")
	fs.IntVar(&o.accounts.ServiceAccounts, "service-accounts", 300, "how many workload service accounts the tokens are spread over (token k belongs to account k mod N)")
	fs.DurationVar(&o.accounts.PoolSetupLimit, "pool-setup-limit", 3*time.Minute, "stop creating tokens after this long and use those created so far")
	fs.DurationVar(&o.accounts.TokenLifetime, "token-lifetime", 3*time.Hour, "expirationSeconds of the workload tokens: longer than the whole benchmark")
	fs.DurationVar(&o.role.ReviewCacheTTL, "review-cache-ttl", 10*time.Second, "review_cache_ttl written to the plugin-cached and plugin-hybrid roles")
	fs.DurationVar(&o.role.LocalMaxTokenAge, "local-max-token-age", time.Hour,
		"local_max_token_age written to the plugin-hybrid role; the pool is created once before the runs, so this must exceed the benchmark's length for every token to count as young (as in a rollout)")

	fs.BoolVar(&o.floor.Child, "floor-child", false, "token-create issues child tokens of the issuing token instead of tokens without a parent (as login tokens are)")
	fs.BoolVar(&o.floor.Shared, "floor-shared-token", false, "all token-create clients issue tokens with one token instead of one each")

	fs.IntVar(&o.profileSeconds, "profile-seconds", 10, "length of each CPU profile (0: no profiles)")
	fs.BoolVar(&o.profileVault, "profile-vault", true, "with each plugin profile, take one of Vault's process too (sys/pprof/profile)")
	fs.StringVar(&o.outDir, "out-dir", "", "where profiles are written (default: a new directory under the system's temp dir)")

	fs.StringVar(&o.vault.Addr, "vault-addr", os.Getenv("VAULT_ADDR"), "Vault address")
	fs.StringVar(&o.vault.Token, "vault-token", os.Getenv("VAULT_TOKEN"), "Vault token allowed to mount, register plugins, write policies and read sys/pprof (root in the dev stack)")
	fs.StringVar(&o.kube.Kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "admin kubeconfig: creates the service accounts and tokens, reads the API server's /metrics")
	fs.StringVar(&o.kube.Host, "kube-host", os.Getenv("KUBE_HOST"), "kubernetes_host written to every mount's config")
	fs.StringVar(&o.kube.CAFile, "kube-ca-file", os.Getenv("KUBE_CA_FILE"), "PEM file written as kubernetes_ca_cert to every mount's config")
	fs.StringVar(&o.stackDir, "stack-dir", stackDirD, "the stack's state directory, whose *.pid files name the processes whose CPU time is reported (empty: no CPU columns)")

	fs.StringVar(&o.plugins.Bin, "plugin-bin", "", "this plugin's binary (copied into -plugin-dir and registered)")
	fs.StringVar(&o.plugins.Dir, "plugin-dir", os.Getenv("VAULT_PLUGIN_DIR"), "Vault's plugin directory")
	fs.StringVar(&o.plugins.Name, "plugin-name", "vault-plugin-auth-kubernetes", "catalog name of this plugin")
	fs.StringVar(&o.plugins.Version, "plugin-version", "v0.1.0", "catalog version of this plugin; must match what the binary reports")
	fs.StringVar(&o.plugins.UpstreamBin, "upstream-bin", "", "the upstream plugin's binary (scripts/build-stack.sh kubernetes-upstream)")
	fs.StringVar(&o.plugins.UpstreamVersion, "upstream-version", "v0.24.1", "catalog version the upstream plugin is registered with")
	fs.StringVar(&o.plugins.NoopBin, "noop-bin", "", "the no-op plugin's binary (bench/cmd/noopplugin)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}

	for _, s := range strings.Split(*clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-clients: %q is not a positive integer", s)
		}
		if !slices.Contains(o.clients, n) {
			o.clients = append(o.clients, n)
		}
	}
	var err error
	if o.targets, err = parseTargets(*targetList); err != nil {
		return nil, err
	}
	if o.workloads, err = parseWorkloads(*workload); err != nil {
		return nil, err
	}
	if o.profiles, err = parseProfiles(*profiles, o.targets, o.workloads); err != nil {
		return nil, err
	}
	for _, p := range o.profiles {
		if targets.ByName[p.Target].Kind != targets.KindPlugin && !o.profileVault {
			return nil, fmt.Errorf("-profile %s:%s: only Vault's process can be profiled for %s, and -profile-vault is off", p.Target, p.Workload, p.Target)
		}
	}

	if o.duration <= 0 || o.rounds < 1 || o.vault.Timeout <= 0 || o.warmup < 0 || o.profileSeconds < 0 {
		return nil, errors.New("-duration and -timeout must be positive, -rounds at least 1, -warmup and -profile-seconds not negative")
	}
	if o.accounts.ServiceAccounts < 1 || o.accounts.Pool < 1 || o.accounts.PoolSetupLimit <= 0 || o.accounts.TokenLifetime < 10*time.Minute {
		return nil, errors.New("-service-accounts and -pool must be positive, -pool-setup-limit positive, -token-lifetime at least 10m (the API server's minimum)")
	}
	if o.maxClients() > o.accounts.ServiceAccounts {
		return nil, fmt.Errorf("-service-accounts %d: fewer than the %d clients; the repeat workload gives each client a service account of its own", o.accounts.ServiceAccounts, o.maxClients())
	}
	if o.wantsWorkload(load.Distinct) && o.accounts.Pool < o.accounts.ServiceAccounts {
		return nil, fmt.Errorf("-pool %d: fewer tokens than -service-accounts %d", o.accounts.Pool, o.accounts.ServiceAccounts)
	}

	var missing []string
	for _, req := range []struct{ name, val string }{
		{"-vault-addr (VAULT_ADDR)", o.vault.Addr},
		{"-vault-token (VAULT_TOKEN)", o.vault.Token},
		{"-kubeconfig (KUBECONFIG)", o.kube.Kubeconfig},
		{"-kube-host (KUBE_HOST)", o.kube.Host},
		{"-kube-ca-file (KUBE_CA_FILE)", o.kube.CAFile},
	} {
		if req.val == "" {
			missing = append(missing, req.name)
		}
	}
	needDir := false
	for _, t := range o.targets {
		switch targets.ByName[t].Kind {
		case targets.KindPlugin:
			needDir = true
			if o.plugins.Bin == "" && !slices.Contains(missing, "-plugin-bin") {
				missing = append(missing, "-plugin-bin")
			}
		case targets.KindUpstream:
			needDir = true
			if o.plugins.UpstreamBin == "" {
				missing = append(missing, "-upstream-bin")
			}
		case targets.KindNoop:
			needDir = true
			if o.plugins.NoopBin == "" {
				missing = append(missing, "-noop-bin")
			}
		}
	}
	if needDir && o.plugins.Dir == "" {
		missing = append(missing, "-plugin-dir (VAULT_PLUGIN_DIR)")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing settings: %s (source the stack's env file)", strings.Join(missing, ", "))
	}
	return &o, nil
}

// parseTargets reads -targets and returns the targets in the fixed round
// order, whatever order the flag used.
func parseTargets(s string) ([]string, error) {
	seen := map[string]bool{}
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if _, ok := targets.ByName[name]; !ok {
			return nil, fmt.Errorf("-targets: unknown target %q (want some of %s)", name, strings.Join(targets.Names(), ", "))
		}
		seen[name] = true
	}
	var out []string
	for _, name := range targets.Names() {
		if seen[name] {
			out = append(out, name)
		}
	}
	return out, nil
}

func parseWorkloads(s string) ([]string, error) {
	switch s {
	case load.Distinct, load.Repeat:
		return []string{s}, nil
	case "both":
		return []string{load.Distinct, load.Repeat}, nil
	}
	return nil, fmt.Errorf("-workload: %q is not distinct, repeat or both", s)
}

// goalWorkload is the workload in which the issue states each plugin mode's
// goal, and so the one its CPU profile is taken under by default.
var goalWorkload = map[string]string{
	targets.PluginAlways:    load.Distinct,
	targets.PluginCached:    load.Repeat,
	targets.PluginHybrid:    load.Distinct,
	targets.PluginAlways10c: load.Distinct,
	targets.PluginCached10c: load.Repeat,
}

// parseProfiles reads -profile: "none", "auto", or target:workload pairs,
// each naming a measured target. Only this plugin serves profiles: for the
// other targets Vault's process alone is profiled.
func parseProfiles(s string, measured, workloads []string) ([]load.ProfileSpec, error) {
	switch s {
	case "none", "":
		return nil, nil
	case "auto":
		var out []load.ProfileSpec
		for _, t := range measured {
			if w, ok := goalWorkload[t]; ok && slices.Contains(workloads, w) {
				out = append(out, load.ProfileSpec{Target: t, Workload: w})
			}
		}
		return out, nil
	}
	var out []load.ProfileSpec
	for _, item := range strings.Split(s, ",") {
		t, w, ok := strings.Cut(strings.TrimSpace(item), ":")
		if !ok || !slices.Contains(workloads, w) {
			return nil, fmt.Errorf("-profile: %q is not target:workload with a measured workload (%s)", item, strings.Join(workloads, ", "))
		}
		if !slices.Contains(measured, t) {
			return nil, fmt.Errorf("-profile: %q does not name a measured target", item)
		}
		out = append(out, load.ProfileSpec{Target: t, Workload: w})
	}
	return out, nil
}

func (o *options) wants(target string) bool { return slices.Contains(o.targets, target) }

func (o *options) wantsWorkload(w string) bool { return slices.Contains(o.workloads, w) }

func (o *options) wantsKind(k targets.Kind) bool {
	for _, t := range o.targets {
		if targets.ByName[t].Kind == k {
			return true
		}
	}
	return false
}

func (o *options) maxClients() int {
	m := 0
	for _, n := range o.clients {
		m = max(m, n)
	}
	return m
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
