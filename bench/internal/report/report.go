// Package report writes loginbench's report: the setup it ran on, a table
// per workload and client count, issue 9's goals, issue 12's one- against
// ten-cluster comparison and the CPU profiles, in Markdown.
package report

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/fixture"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/load"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/measure"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/setup"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

// Write writes the report as Markdown, so it can go into BENCHMARKS.md as is.
func Write(w io.Writer, in *Input) {
	o := &in.Settings
	fmt.Fprintf(w, "\n## loginbench results\n\n")
	writeVersions(w, in)
	writeSchedule(w, o)
	writeWorkloads(w, in)
	fmt.Fprintf(w, "- logins/s = successful requests / wall time of the runs; p50/p99 over every successful request (nearest rank); TokenReviews = the API server's apiserver_request_total{resource=\"tokenreviews\"} (all codes) after minus before each run, per request sent; CPU = user+system time of each process (/proc) after minus before each run, per successful login\n")
	for _, n := range in.Notes {
		fmt.Fprintf(w, "- **note:** %s\n", n)
	}

	sums := summarizeAll(in.Results)
	for _, n := range o.Clients {
		for _, wl := range o.Workloads {
			printTables(w, o, sums, runKey{workload: wl, clients: n}, in.PoolSize)
		}
	}
	writeGoals(w, o, in.Results)
	printClusterComparisons(w, compareClusters(in.Results, o.Clients, o.Workloads))
	for _, p := range in.Profiles {
		printProfile(w, o, p)
	}
	fmt.Fprintln(w)
}

// writeVersions says how this report came to be: the command, the
// versions of everything measured, and the machine.
func writeVersions(w io.Writer, in *Input) {
	o := &in.Settings
	fmt.Fprintf(w, "- command: `%s`\n", commandLine())
	fmt.Fprintf(w, "- %s UTC; Vault %s, kube-apiserver %s, built-in kubernetes auth %s\n",
		time.Now().UTC().Format("2006-01-02 15:04"), in.Facts.VaultVersion, in.Facts.KubeVersion, orDash(in.Facts.BuiltinVersion))
	for _, p := range []struct {
		kind          targets.Kind
		name, version string
	}{
		{targets.KindPlugin, o.Plugins.Name, o.Plugins.Version},
		{targets.KindUpstream, setup.UpstreamName, o.Plugins.UpstreamVersion},
		{targets.KindNoop, setup.NoopName, "(unversioned)"},
	} {
		if o.wantsKind(p.kind) {
			fmt.Fprintf(w, "- plugin %s %s, sha256 %s\n", p.name, p.version, in.Facts.SHA256[p.name])
		}
	}
	fmt.Fprintf(w, "- load generator: %s, GOMAXPROCS %d, %d CPUs (%s); load average %s at the start of the rounds, %s at the end\n",
		runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU(), cpuModel(), orDash(in.LoadAtStart), measure.LoadAverage())
}

// writeSchedule says what ran in which order, and the roles and clusters
// the mounts were given.
func writeSchedule(w io.Writer, o *Settings) {
	order := strings.Join(o.Targets, " → ")
	if even := load.RoundOrder(o.Targets, 2); o.Rounds > 1 && !slices.Equal(even, o.Targets) {
		order = fmt.Sprintf("%s in odd rounds, %s in even ones", order, strings.Join(even, " → "))
	}
	fmt.Fprintf(w, "- %d round(s) of %s per target, workload and client count; in each round: %s, for workloads %s; warm-up %s per target\n",
		o.Rounds, o.Duration, order, strings.Join(o.Workloads, ", "), o.Warmup)
	roles := fmt.Sprintf("- every role: bound_service_account_names=%s*, audience=%s, token_type=%s", fixture.WorkloadSAPrefix, fixture.Audience, fixture.TokenType)
	for _, t := range o.Targets {
		role := targets.Role(targets.ByName[t], o.Role)
		for _, k := range slices.Sorted(maps.Keys(role)) {
			if strings.HasPrefix(k, "review_") || k == "local_max_token_age" {
				roles += fmt.Sprintf("; %s: %s=%v", t, k, role[k])
			}
		}
	}
	fmt.Fprintln(w, roles+" (durations in seconds)")
	for _, t := range o.Targets {
		if n := targets.ByName[t].ExtraClusters; n > 0 {
			fmt.Fprintf(w, "- %s: config and %d clusters at cluster/%s … cluster/%s (config's kubernetes_host, CA and reviewer JWT; issuers %s … %s, which no token carries); the role sets no bound_clusters (config's cluster only)\n",
				t, n, targets.ExtraClusterName(1), targets.ExtraClusterName(n), targets.ExtraClusterIssuer(1), targets.ExtraClusterIssuer(n))
		}
	}
}

// writeWorkloads says which tokens the logins presented and were issued.
func writeWorkloads(w io.Writer, in *Input) {
	o := &in.Settings
	kinds := []string{}
	for _, t := range o.Targets {
		if k, ok := in.Facts.TokenKind[t]; ok {
			kinds = append(kinds, t+" "+k)
		}
	}
	fmt.Fprintf(w, "- tokens issued: %s\n", strings.Join(kinds, ", "))
	if in.PoolSize > 0 {
		ps := in.Facts.Pool
		fmt.Fprintf(w, "- distinct workload: a pool of %d tokens (of %d asked for; created in %s) over %d service accounts, each login the next token of the pool, shared by all clients and targets (the no-op plugin and token-create get a fixed token per client instead); a token should come back less often than every %s, the API server's own review cache\n",
			ps.Created, ps.Wanted, ps.Took.Round(time.Second), o.ServiceAccounts, load.APIServerReviewCacheTTL)
	}
	if o.wantsWorkload(load.Repeat) {
		fmt.Fprintf(w, "- repeat workload: each client presents one token of its own service account, every login\n")
	}
	if o.wants(targets.TokenCreate) {
		kind := "tokens without a parent (no_parent=true), like the tokens logins return"
		if o.Floor.Child {
			kind = "child tokens of the issuing token (-floor-child)"
		}
		issuer := "one issuing token per client"
		if o.Floor.Shared {
			issuer = "one issuing token shared by all clients (-floor-shared-token)"
		}
		fmt.Fprintf(w, "- token-create: auth/token/create by non-root tokens holding only a policy that allows it, with sudo, and not Vault's templated default policy (%s); the policies, metadata and TTL of a kubernetes login's token; %s\n", issuer, kind)
	}
}

func printProfile(w io.Writer, o *Settings, p *load.Profile) {
	fmt.Fprintf(w, "\n### CPU profile: %s, %s workload, %d clients\n\n", p.Spec.Target, p.Spec.Workload, o.maxClients())
	if p.Load != nil {
		s := summarize([]*load.Result{p.Load})
		fmt.Fprintf(w, "Load during the profile (%s): %.1f logins/s, p50 %.2f ms, p99 %.2f ms, %d errors", p.Load.Elapsed.Round(time.Millisecond), s.rate, ms(s.p50), ms(s.p99), s.errors)
		for _, proc := range []string{measure.ProcPlugin, measure.ProcVault} {
			if v, ok := measure.CPUPerLogin(p.Load.CPU[proc], s.ok); ok {
				fmt.Fprintf(w, "; %s process %.0f µs CPU per login", proc, v*1000)
			}
		}
		fmt.Fprintln(w, ".")
	}
	for _, f := range p.Failures {
		fmt.Fprintf(w, "\n**%s**\n", f)
	}
	for _, proc := range []string{measure.ProcPlugin, measure.ProcVault} {
		if _, ok := p.Files[proc]; !ok {
			continue
		}
		fmt.Fprintf(w, "\n%s process (`%s`, kept beside the results):\n", proc, filepath.Base(p.Files[proc]))
		if sh := p.Shares[proc]; len(sh) > 0 {
			var per float64
			okPer := false
			if p.Load != nil {
				per, okPer = measure.CPUPerLogin(p.Load.CPU[proc], p.Load.OK())
			}
			fmt.Fprintln(w, "\n| where the CPU went | share of the process's CPU samples | µs per login |")
			fmt.Fprintln(w, "| --- | ---: | ---: |")
			for _, s := range sh {
				us := "–"
				if okPer {
					us = fmt.Sprintf("%.0f", s.Fraction*per*1000)
				}
				fmt.Fprintf(w, "| %s | %.1f%% | %s |\n", strings.ReplaceAll(s.Label, "  ", "&nbsp;&nbsp;"), 100*s.Fraction, us)
			}
			fmt.Fprintln(w, "\n(µs per login: the share times the process's CPU per login during the profile's load, from /proc.)")
		}
		if top, ok := p.Tops[proc]; ok {
			fmt.Fprintf(w, "\n```\n%s```\n", top)
		}
	}
}

// commandLine is how this process was started, with every absolute path
// reduced to its file name: the report should say which flags produced it,
// not where the binaries happened to be built (and it goes into
// BENCHMARKS.md as is), and no token.
func commandLine() string {
	args := append([]string{os.Args[0]}, os.Args[1:]...)
	for i, a := range args {
		if filepath.IsAbs(a) || i == 0 {
			a = filepath.Base(a)
		}
		// A token given on the command line stays out of the report.
		if prev := strings.TrimLeft(args[max(i-1, 0)], "-"); i > 0 && prev == "vault-token" {
			a = "REDACTED"
		} else if strings.HasPrefix(strings.TrimLeft(a, "-"), "vault-token=") {
			a = "-vault-token=REDACTED"
		}
		if a == "" || strings.ContainsAny(a, " \t'\"") {
			a = strconv.Quote(a)
		}
		args[i] = a
	}
	return strings.Join(args, " ")
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// cpuModel reads the first "model name" from /proc/cpuinfo; Linux only, and
// only for the report header.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "CPU model unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "CPU model unknown"
}
