package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/setup"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

// options are the command-line settings.
type options struct {
	dims          []string
	sizes         map[string][]int // dimension -> sizes, in increasing order
	clients       int
	duration      time.Duration
	warmup        time.Duration
	rounds        int
	reference     bool
	baseAccounts  int
	tokenLifetime time.Duration
	validRate     float64 // the flood's valid logins per second
	outDir        string

	vault      setup.Vault
	kube       setup.Kube
	plugins    setup.Plugins
	role       targets.RoleSettings
	stackDir   string
	signingKey string
}

// The dimensions, in the order they are measured.
const (
	DimRoles      = "roles"
	DimClusters   = "clusters"
	DimNamespaces = "namespaces"
	DimAccounts   = "accounts"
	DimFlood      = "flood"
)

var allDims = []string{DimRoles, DimClusters, DimNamespaces, DimAccounts, DimFlood}

// defaultSizes are the ranges; flood's are multiples of the valid
// rate.
var defaultSizes = map[string]string{
	DimRoles:      "1,10,100,1000,10000",
	DimClusters:   "1,2,5,10,20,50",
	DimNamespaces: "10,100,1000,10000",
	DimAccounts:   "300,1000,3000,10000,30000",
	DimFlood:      "1,2,5,10",
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("costcurves", flag.ContinueOnError)
	o := &options{sizes: map[string][]int{}}
	dims := fs.String("dims", strings.Join(allDims, ","), "comma-separated dimensions to measure, of "+strings.Join(allDims, ","))
	sizeFlags := map[string]*string{}
	for _, d := range allDims {
		sizeFlags[d] = fs.String(d, defaultSizes[d], "sizes of the "+d+" dimension, comma-separated, increasing")
	}
	fs.IntVar(&o.clients, "clients", 8, "concurrent closed-loop clients of every measured run")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of one measured run")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "warm-up before the rounds of each size")
	fs.IntVar(&o.rounds, "rounds", 2, "measured runs per size")
	fs.BoolVar(&o.reference, "reference", true, "alternate each round with a round of the reference mount (plugin-hybrid: one cluster, one role, the base accounts), so a drift of the machine shows in both and cancels in their ratio")
	fs.IntVar(&o.baseAccounts, "base-accounts", 300, "workload accounts whose tokens every dimension but accounts and namespaces logs in with")
	fs.DurationVar(&o.tokenLifetime, "token-lifetime", 2*time.Hour, "lifetime asked for each workload token")
	fs.Float64Var(&o.validRate, "flood-valid-rate", 100, "valid logins per second during the flood; the bad tokens come at -flood times this")
	fs.StringVar(&o.outDir, "out-dir", "costcurves-out", "where results.md and the charts go")
	fs.StringVar(&o.vault.Addr, "vault-addr", os.Getenv("VAULT_ADDR"), "Vault's address")
	fs.StringVar(&o.vault.Token, "vault-token", os.Getenv("VAULT_TOKEN"), "a token that may mount, register plugins and write policies")
	fs.DurationVar(&o.vault.Timeout, "request-timeout", 30*time.Second, "per request")
	fs.StringVar(&o.kube.Kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "the API server's admin kubeconfig")
	fs.StringVar(&o.kube.Host, "kube-host", os.Getenv("KUBE_HOST"), "kubernetes_host of every mount")
	fs.StringVar(&o.kube.CAFile, "kube-ca-file", os.Getenv("KUBE_CA_FILE"), "kubernetes_ca_cert of every mount")
	fs.StringVar(&o.signingKey, "kube-signing-key", os.Getenv("KUBE_SA_SIGNING_KEY"), "the API server's service-account signing key: the flood's expired tokens are signed with it")
	fs.StringVar(&o.stackDir, "stack-dir", os.Getenv("STACK_DIR"), "the stack's state directory (its PID files)")
	fs.StringVar(&o.plugins.Dir, "plugin-dir", os.Getenv("VAULT_PLUGIN_DIR"), "Vault's plugin directory")
	fs.StringVar(&o.plugins.Bin, "plugin-bin", "", "this plugin's binary")
	fs.StringVar(&o.plugins.Name, "plugin-name", "vault-plugin-auth-kubernetes", "this plugin's catalog name")
	fs.StringVar(&o.plugins.Version, "plugin-version", "", "this plugin's version (make print-version)")
	o.role = targets.RoleSettings{ReviewCacheTTL: 10 * time.Second, LocalMaxTokenAge: time.Hour}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var err error
	if o.dims, err = parseDims(*dims); err != nil {
		return nil, err
	}
	for _, d := range o.dims {
		if o.sizes[d], err = parseSizes(d, *sizeFlags[d]); err != nil {
			return nil, err
		}
	}
	return o, o.validate()
}

func (o *options) validate() error {
	var missing []string
	for name, v := range map[string]string{
		"-vault-addr": o.vault.Addr, "-vault-token": o.vault.Token, "-kubeconfig": o.kube.Kubeconfig, "-kube-host": o.kube.Host,
		"-kube-ca-file": o.kube.CAFile, "-stack-dir": o.stackDir, "-plugin-dir": o.plugins.Dir, "-plugin-bin": o.plugins.Bin,
	} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if slices.Contains(o.dims, DimFlood) && o.signingKey == "" {
		missing = append(missing, "-kube-signing-key")
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("missing settings: %s (source the stack's env file)", strings.Join(missing, ", "))
	}
	if o.clients < 1 || o.rounds < 1 || o.duration <= 0 || o.validRate <= 0 || o.baseAccounts < o.clients {
		return errors.New("-clients, -rounds, -duration and -flood-valid-rate must be positive, -base-accounts at least -clients")
	}
	return nil
}

func parseDims(s string) ([]string, error) {
	var out []string
	for _, d := range strings.Split(s, ",") {
		d = strings.TrimSpace(d)
		if !slices.Contains(allDims, d) {
			return nil, fmt.Errorf("-dims: unknown dimension %q (want some of %s)", d, strings.Join(allDims, ", "))
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return cmp.Compare(slices.Index(allDims, a), slices.Index(allDims, b)) })
	return out, nil
}

// parseSizes reads one dimension's sizes: at least two, increasing, each
// at least 1.
func parseSizes(dim, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || (len(out) > 0 && n <= out[len(out)-1]) {
			return nil, fmt.Errorf("-%s: %q is not an increasing list of sizes of at least 1", dim, s)
		}
		out = append(out, n)
	}
	if len(out) < 2 {
		return nil, fmt.Errorf("-%s: a curve needs at least two sizes", dim)
	}
	return out, nil
}
