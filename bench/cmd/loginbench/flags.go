package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/load"
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

// lists are the flags read as text, parsed once fs.Parse has run.
type lists struct {
	clients, targets, workload, profile *string
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("loginbench", flag.ContinueOnError)
	o := &options{}
	ls := registerRunFlags(fs, o)
	registerAccountFlags(fs, &o.accounts)
	registerRoleFlags(fs, &o.role)
	registerFloorFlags(fs, &o.floor)
	registerProfileFlags(fs, o)
	registerStackFlags(fs, o)
	registerPluginFlags(fs, &o.plugins)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := o.parseLists(ls); err != nil {
		return nil, err
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	return o, nil
}

// registerRunFlags: what is measured and for how long.
func registerRunFlags(fs *flag.FlagSet, o *options) lists {
	ls := lists{
		clients:  fs.String("clients", "1,8", "comma-separated numbers of concurrent clients; every target is measured at each"),
		targets:  fs.String("targets", strings.Join(targets.DefaultNames(), ","), "comma-separated subset of "+strings.Join(targets.Names(), ",")+" (the *-10c ones, mounts with ten clusters, only when named)"),
		workload: fs.String("workload", "both", "distinct (each login the next token of the pool), repeat (each client reuses its own token) or both"),
		profile:  fs.String("profile", "auto", "CPU profiles to take after the rounds, of the plugin process and Vault's, as target:workload pairs (e.g. plugin-hybrid:distinct; for targets other than plugin-*, Vault's alone); auto: each measured plugin-* target under the workload the issue sets its goal in; none: no profile"),
	}
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of one measured run (one target, one workload, one client count, one round)")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unrecorded load per target before the first round (connections, plugin processes, caches), after one login per service account")
	fs.IntVar(&o.rounds, "rounds", 3, "how many times the targets are measured in alternation")
	fs.BoolVar(&o.allowErrs, "allow-errors", false, "exit 0 even when requests failed (they are still counted and reported)")
	fs.DurationVar(&o.vault.Timeout, "timeout", 30*time.Second, "per-request timeout; a request that exceeds it counts as an error")
	return ls
}

// registerAccountFlags: the workload service accounts and their tokens.
func registerAccountFlags(fs *flag.FlagSet, a *setup.Accounts) {
	fs.IntVar(&a.Pool, "pool", 30000, "distinct workload: how many workload tokens to create (TokenRequest) before the runs; a token should come back less often than every 10 s, the API server's own review cache, so the pool must exceed 10 s of the fastest reviewing target's logins (the built-in method did 1,600/s here)")
	fs.IntVar(&a.ServiceAccounts, "service-accounts", 300, "how many workload service accounts the tokens are spread over (token k belongs to account k mod N)")
	fs.DurationVar(&a.PoolSetupLimit, "pool-setup-limit", 3*time.Minute, "stop creating tokens after this long and use those created so far")
	fs.DurationVar(&a.TokenLifetime, "token-lifetime", 3*time.Hour, "expirationSeconds of the workload tokens: longer than the whole benchmark")
}

// registerRoleFlags: the review fields of this plugin's roles.
func registerRoleFlags(fs *flag.FlagSet, r *targets.RoleSettings) {
	fs.DurationVar(&r.ReviewCacheTTL, "review-cache-ttl", 10*time.Second, "review_cache_ttl written to the plugin-cached and plugin-hybrid roles")
	fs.DurationVar(&r.LocalMaxTokenAge, "local-max-token-age", time.Hour,
		"local_max_token_age written to the plugin-hybrid role; the pool is created once before the runs, so this must exceed the benchmark's length for every token to count as young (as in a rollout)")
}

// registerFloorFlags: how token-create's issuing tokens are made.
func registerFloorFlags(fs *flag.FlagSet, f *setup.Floor) {
	fs.BoolVar(&f.Child, "floor-child", false, "token-create issues child tokens of the issuing token instead of tokens without a parent (as login tokens are)")
	fs.BoolVar(&f.Shared, "floor-shared-token", false, "all token-create clients issue tokens with one token instead of one each")
}

// registerProfileFlags: the CPU profiles taken after the rounds.
func registerProfileFlags(fs *flag.FlagSet, o *options) {
	fs.IntVar(&o.profileSeconds, "profile-seconds", 10, "length of each CPU profile (0: no profiles)")
	fs.BoolVar(&o.profileVault, "profile-vault", true, "with each plugin profile, take one of Vault's process too (sys/pprof/profile)")
	fs.StringVar(&o.outDir, "out-dir", "", "where profiles are written (default: a new directory under the system's temp dir)")
}

// registerStackFlags: the running stack, defaulting to its env file's
// variables.
func registerStackFlags(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.vault.Addr, "vault-addr", os.Getenv("VAULT_ADDR"), "Vault address")
	fs.StringVar(&o.vault.Token, "vault-token", os.Getenv("VAULT_TOKEN"), "Vault token allowed to mount, register plugins, write policies and read sys/pprof (root in the dev stack)")
	fs.StringVar(&o.kube.Kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "admin kubeconfig: creates the service accounts and tokens, reads the API server's /metrics")
	fs.StringVar(&o.kube.Host, "kube-host", os.Getenv("KUBE_HOST"), "kubernetes_host written to every mount's config")
	fs.StringVar(&o.kube.CAFile, "kube-ca-file", os.Getenv("KUBE_CA_FILE"), "PEM file written as kubernetes_ca_cert to every mount's config")
	fs.StringVar(&o.stackDir, "stack-dir", os.Getenv("STACK_DIR"), "the stack's state directory, whose *.pid files name the processes whose CPU time is reported (empty: no CPU columns)")
}

// registerPluginFlags: the external plugins' binaries and catalog entries.
func registerPluginFlags(fs *flag.FlagSet, p *setup.Plugins) {
	fs.StringVar(&p.Bin, "plugin-bin", "", "this plugin's binary (copied into -plugin-dir and registered)")
	fs.StringVar(&p.Dir, "plugin-dir", os.Getenv("VAULT_PLUGIN_DIR"), "Vault's plugin directory")
	fs.StringVar(&p.Name, "plugin-name", "vault-plugin-auth-kubernetes", "catalog name of this plugin")
	fs.StringVar(&p.Version, "plugin-version", "v0.1.0", "catalog version of this plugin; must match what the binary reports")
	fs.StringVar(&p.UpstreamBin, "upstream-bin", "", "the upstream plugin's binary (scripts/build-stack.sh kubernetes-upstream)")
	fs.StringVar(&p.UpstreamVersion, "upstream-version", "v0.24.1", "catalog version the upstream plugin is registered with")
	fs.StringVar(&p.NoopBin, "noop-bin", "", "the no-op plugin's binary (bench/cmd/noopplugin)")
}

// parseLists reads the flags given as lists: clients, targets, workloads
// and profiles.
func (o *options) parseLists(ls lists) error {
	var err error
	if o.clients, err = parseClients(*ls.clients); err != nil {
		return err
	}
	if o.targets, err = parseTargets(*ls.targets); err != nil {
		return err
	}
	if o.workloads, err = parseWorkloads(*ls.workload); err != nil {
		return err
	}
	o.profiles, err = parseProfiles(*ls.profile, o.targets, o.workloads)
	return err
}

// parseClients reads -clients: positive counts, each once, in the order
// given.
func parseClients(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-clients: %q is not a positive integer", f)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// validate checks the settings against each other, in the order a reader
// of the usage would: profiles, lengths, accounts, then what is missing.
func (o *options) validate() error {
	for _, check := range []func() error{o.checkProfiles, o.checkLengths, o.checkAccounts, o.checkMissing} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (o *options) checkProfiles() error {
	for _, p := range o.profiles {
		if targets.ByName[p.Target].Kind != targets.KindPlugin && !o.profileVault {
			return fmt.Errorf("-profile %s:%s: only Vault's process can be profiled for %s, and -profile-vault is off", p.Target, p.Workload, p.Target)
		}
	}
	return nil
}

func (o *options) checkLengths() error {
	if o.duration <= 0 || o.rounds < 1 || o.vault.Timeout <= 0 || o.warmup < 0 || o.profileSeconds < 0 {
		return errors.New("-duration and -timeout must be positive, -rounds at least 1, -warmup and -profile-seconds not negative")
	}
	return nil
}

func (o *options) checkAccounts() error {
	a := o.accounts
	if a.ServiceAccounts < 1 || a.Pool < 1 || a.PoolSetupLimit <= 0 || a.TokenLifetime < 10*time.Minute {
		return errors.New("-service-accounts and -pool must be positive, -pool-setup-limit positive, -token-lifetime at least 10m (the API server's minimum)")
	}
	if o.maxClients() > a.ServiceAccounts {
		return fmt.Errorf("-service-accounts %d: fewer than the %d clients; the repeat workload gives each client a service account of its own", a.ServiceAccounts, o.maxClients())
	}
	if o.wantsWorkload(load.Distinct) && a.Pool < a.ServiceAccounts {
		return fmt.Errorf("-pool %d: fewer tokens than -service-accounts %d", a.Pool, a.ServiceAccounts)
	}
	return nil
}

// checkMissing names every setting without a value that the measured
// targets need.
func (o *options) checkMissing() error {
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
	missing = append(missing, o.missingPluginSettings()...)
	if len(missing) > 0 {
		return fmt.Errorf("missing settings: %s (source the stack's env file)", strings.Join(missing, ", "))
	}
	return nil
}

// missingPluginSettings names the binaries and the plugin directory the
// external targets need and lack.
func (o *options) missingPluginSettings() []string {
	var missing []string
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
	return missing
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

func (o *options) wantsWorkload(w string) bool { return slices.Contains(o.workloads, w) }

func (o *options) maxClients() int { return load.MaxClients(o.clients) }
