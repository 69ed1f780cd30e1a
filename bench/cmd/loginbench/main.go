// Command loginbench measures Kubernetes logins through Vault's HTTP API: this
// project's plugin against Vault's built-in kubernetes auth method, on the same
// Vault and the same kube-apiserver, with Vault's own auth/token/create as the
// floor (a login cannot cost less than issuing the token it returns).
//
// It expects a running stack (scripts/stack-up.sh) and reads the stack's env
// file variables (VAULT_ADDR, VAULT_TOKEN, KUBECONFIG, KUBE_HOST, KUBE_CA_FILE,
// VAULT_PLUGIN_DIR) as flag defaults. scripts/bench.sh starts a private stack,
// runs this tool and stops the stack again.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options are the command-line settings; see registerFlags for their meaning.
type options struct {
	clients   []int
	duration  time.Duration
	warmup    time.Duration
	rounds    int
	targets   []string
	timeout   time.Duration
	allowErrs bool

	floorChild  bool
	floorShared bool

	vaultAddr  string
	vaultToken string
	kubeconfig string
	kubeHost   string
	kubeCAFile string

	pluginBin     string
	pluginDir     string
	pluginName    string
	pluginVersion string
}

// Target names, in the order each round runs them.
const (
	targetPlugin  = "plugin"
	targetBuiltin = "builtin"
	targetFloor   = "floor"
)

var allTargets = []string{targetPlugin, targetBuiltin, targetFloor}

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

	env, err := setup(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loginbench: setup:", err)
		return 1
	}

	results, err := measure(ctx, opts, env)
	printReport(os.Stdout, opts, env, results)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loginbench:", err)
		return 1
	}
	if n := totalErrors(results); n > 0 && !opts.allowErrs {
		fmt.Fprintf(os.Stderr, "loginbench: %d requests failed; the numbers above are not a clean run (-allow-errors to exit 0 anyway)\n", n)
		return 1
	}
	return 0
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("loginbench", flag.ContinueOnError)
	var (
		clients = fs.String("clients", "1,8", "comma-separated numbers of concurrent clients; every target is measured at each")
		targets = fs.String("targets", strings.Join(allTargets, ","), "comma-separated subset of plugin,builtin,floor (ratios need all three)")
		o       options
	)
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of one measured run (one target, one client count, one round)")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unrecorded load per target before the first round (connections, plugin process, caches)")
	fs.IntVar(&o.rounds, "rounds", 3, "how many times the targets are measured in alternation")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "per-request timeout; a request that exceeds it counts as an error")
	fs.BoolVar(&o.floorChild, "floor-child", false, "floor issues child tokens of the issuing token instead of tokens without a parent (as login tokens are)")
	fs.BoolVar(&o.floorShared, "floor-shared-token", false, "all floor clients issue tokens with one token instead of one each")
	fs.BoolVar(&o.allowErrs, "allow-errors", false, "exit 0 even when requests failed (they are still counted and reported)")

	fs.StringVar(&o.vaultAddr, "vault-addr", os.Getenv("VAULT_ADDR"), "Vault address")
	fs.StringVar(&o.vaultToken, "vault-token", os.Getenv("VAULT_TOKEN"), "Vault token allowed to mount, register plugins and write policies (root in the dev stack)")
	fs.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "admin kubeconfig used to create the service accounts and tokens")
	fs.StringVar(&o.kubeHost, "kube-host", os.Getenv("KUBE_HOST"), "kubernetes_host written to both mounts' config")
	fs.StringVar(&o.kubeCAFile, "kube-ca-file", os.Getenv("KUBE_CA_FILE"), "PEM file written as kubernetes_ca_cert to both mounts' config")

	fs.StringVar(&o.pluginBin, "plugin-bin", "", "plugin binary to register (copied into -plugin-dir)")
	fs.StringVar(&o.pluginDir, "plugin-dir", os.Getenv("VAULT_PLUGIN_DIR"), "Vault's plugin directory")
	fs.StringVar(&o.pluginName, "plugin-name", "vault-plugin-auth-kubernetes", "catalog name of the plugin")
	fs.StringVar(&o.pluginVersion, "plugin-version", "v0.1.0", "catalog version of the plugin; must match what the binary reports")
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
		o.clients = append(o.clients, n)
	}
	seen := map[string]bool{}
	for _, s := range strings.Split(*targets, ",") {
		s = strings.TrimSpace(s)
		if !contains(allTargets, s) {
			return nil, fmt.Errorf("-targets: unknown target %q (want plugin, builtin or floor)", s)
		}
		if !seen[s] {
			seen[s] = true
		}
	}
	// Keep the fixed round order whatever order the flag used.
	for _, t := range allTargets {
		if seen[t] {
			o.targets = append(o.targets, t)
		}
	}

	if o.duration <= 0 || o.rounds < 1 || o.timeout <= 0 || o.warmup < 0 {
		return nil, errors.New("-duration and -timeout must be positive, -rounds at least 1, -warmup not negative")
	}
	var missing []string
	for _, req := range []struct{ name, val string }{
		{"-vault-addr (VAULT_ADDR)", o.vaultAddr},
		{"-vault-token (VAULT_TOKEN)", o.vaultToken},
		{"-kubeconfig (KUBECONFIG)", o.kubeconfig},
		{"-kube-host (KUBE_HOST)", o.kubeHost},
		{"-kube-ca-file (KUBE_CA_FILE)", o.kubeCAFile},
	} {
		if req.val == "" {
			missing = append(missing, req.name)
		}
	}
	if o.wants(targetPlugin) {
		if o.pluginBin == "" {
			missing = append(missing, "-plugin-bin")
		}
		if o.pluginDir == "" {
			missing = append(missing, "-plugin-dir (VAULT_PLUGIN_DIR)")
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing settings: %s (source the stack's env file)", strings.Join(missing, ", "))
	}
	return &o, nil
}

func (o *options) wants(target string) bool { return contains(o.targets, target) }

func (o *options) maxClients() int {
	m := 0
	for _, n := range o.clients {
		m = max(m, n)
	}
	return m
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
