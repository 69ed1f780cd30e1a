// Package report writes loginbench's report: the setup it ran on, a table
// per workload and client count, issue 9's goals, issue 12's one- against
// ten-cluster comparison and the CPU profiles, in Markdown.
package report

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"math"
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

// summary aggregates the runs of one target, workload and client count.
type summary struct {
	runs             int
	ok, errors       int
	attempts         int
	wall             time.Duration
	rate             float64 // all successful requests / all runs' wall time
	minRate, maxRate float64 // the slowest and fastest single run
	p50, p99         time.Duration

	// reviews over every run; reviewsKnown only when every run's count
	// could be read.
	reviews      measure.ReviewCount
	reviewsKnown bool
	// cpu per process over every run, for the processes read in every run.
	cpu map[string]time.Duration
	// reuse is the shortest interval between two logins with one token,
	// over the runs that drew from the pool.
	drawsPool bool
	reuse     load.ReuseTracker
}

func summarize(runs []*load.Result) summary {
	s := summary{runs: len(runs), minRate: math.Inf(1), reviewsKnown: len(runs) > 0, cpu: map[string]time.Duration{}}
	var all []time.Duration
	cpuSum, cpuRuns := map[string]time.Duration{}, map[string]int{}
	for _, r := range runs {
		s.ok += r.OK()
		s.errors += r.Errors
		s.attempts += r.Attempts()
		s.wall += r.Elapsed
		all = append(all, r.Latencies...)
		s.minRate = min(s.minRate, r.Rate())
		s.maxRate = max(s.maxRate, r.Rate())
		if r.ReviewsKnown {
			s.reviews.Total += r.Reviews.Total
			s.reviews.Failed += r.Reviews.Failed
		} else {
			s.reviewsKnown = false
		}
		for p, v := range r.CPU {
			cpuSum[p] += v
			cpuRuns[p]++
		}
		if r.DrawsPool {
			s.drawsPool = true
			s.reuse.Merge(r.Reuse)
		}
	}
	for p, n := range cpuRuns {
		if n == len(runs) { // a process missing from one run is unknown overall
			s.cpu[p] = cpuSum[p]
		}
	}
	if len(runs) == 0 {
		s.minRate = 0
	}
	if s.wall > 0 {
		s.rate = float64(s.ok) / s.wall.Seconds()
	}
	slices.Sort(all)
	s.p50 = load.Percentile(all, 0.50)
	s.p99 = load.Percentile(all, 0.99)
	return s
}

// reviewsPerLogin is TokenReviews per request sent.
func (s summary) reviewsPerLogin() (float64, bool) {
	if !s.reviewsKnown || s.attempts == 0 {
		return 0, false
	}
	return s.reviews.Total / float64(s.attempts), true
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// TotalErrors is how many requests of all runs failed.
func TotalErrors(results []*load.Result) int {
	n := 0
	for _, r := range results {
		n += r.Errors
	}
	return n
}

// runKey names the runs summarized together.
type runKey struct {
	target, workload string
	clients          int
}

func summarizeAll(results []*load.Result) map[runKey]summary {
	groups := map[runKey][]*load.Result{}
	for _, r := range results {
		k := runKey{r.Target, r.Workload, r.Clients}
		groups[k] = append(groups[k], r)
	}
	out := map[runKey]summary{}
	for k, runs := range groups {
		out[k] = summarize(runs)
	}
	return out
}

// goal is one of issue 9's targets, evaluated on one run of the tool.
type goal struct {
	what      string
	value     float64
	measured  bool
	op        string // ">=" or "<="
	threshold float64
	// invalid says why the value cannot be judged (failed requests).
	invalid string
}

func (g goal) status() string {
	switch {
	case !g.measured:
		return "not measured"
	case g.invalid != "":
		return "not judged: " + g.invalid
	case g.op == ">=" && g.value >= g.threshold, g.op == "<=" && g.value <= g.threshold:
		return "met"
	}
	return "not met"
}

var opSymbol = map[string]string{">=": "≥", "<=": "≤"}

// goalClients is the client count the issue states its targets at.
const goalClients = 8

// hybridMaxReviewsPerLogin is what "TokenReviews per login ~0" is taken to
// mean for hybrid mode on young tokens.
const hybridMaxReviewsPerLogin = 0.01

// evaluateGoals computes issue 9's targets from the summaries at clients
// concurrent clients. reviewCacheTTL is the cached role's TTL, against
// which its TokenReviews are judged (at most one per token per TTL).
func evaluateGoals(results []*load.Result, clients int, reviewCacheTTL time.Duration) []goal {
	sums := summarizeAll(results)
	ratio := func(what, a, b, w string) ratioGoal {
		return ratioGoal{what: what, a: runKey{a, w, clients}, b: runKey{b, w, clients}, metric: byRate, op: ">="}
	}
	p99 := ratio("plugin-always / upstream, distinct: p99 latency (no worse)", targets.PluginAlways, targets.Upstream, load.Distinct)
	p99.metric, p99.op = byP99, "<="
	goals := []goal{
		ratio("plugin-always / upstream, distinct: logins/s", targets.PluginAlways, targets.Upstream, load.Distinct).judge(sums, 1.2),
		p99.judge(sums, 1.0),
		ratio("plugin-cached / noop, repeat: logins/s", targets.PluginCached, targets.Noop, load.Repeat).judge(sums, 0.8),
		ratio("plugin-cached / builtin, repeat: logins/s", targets.PluginCached, targets.Builtin, load.Repeat).judge(sums, 1.3),
		cachedReviewsGoal(results, clients, reviewCacheTTL),
		ratio("plugin-hybrid / noop, distinct: logins/s", targets.PluginHybrid, targets.Noop, load.Distinct).judge(sums, 0.8),
		ratio("plugin-hybrid / builtin, distinct: logins/s", targets.PluginHybrid, targets.Builtin, load.Distinct).judge(sums, 1.3),
	}
	hybridReviews := goal{what: "plugin-hybrid, distinct: TokenReviews per login (~0)", op: "<=", threshold: hybridMaxReviewsPerLogin}
	if s, ok := measured(sums, runKey{targets.PluginHybrid, load.Distinct, clients}); ok {
		if v, known := s.reviewsPerLogin(); known {
			hybridReviews.value, hybridReviews.measured = v, true
		}
	}
	return append(goals, hybridReviews)
}

// measured is the summary of k's runs, if any request of them succeeded.
func measured(sums map[runKey]summary, k runKey) (summary, bool) {
	s, ok := sums[k]
	return s, ok && s.ok > 0
}

// ratioGoal is a goal on one target's runs against another's: a's metric
// over b's, compared with a threshold by op.
type ratioGoal struct {
	what   string
	a, b   runKey
	metric func(summary) float64
	op     string
}

func byRate(s summary) float64 { return s.rate }

func byP99(s summary) float64 { return ms(s.p99) }

// judge evaluates the ratio; failed requests in either run make it
// unjudgeable.
func (r ratioGoal) judge(sums map[runKey]summary, threshold float64) goal {
	g := goal{what: r.what, op: r.op, threshold: threshold}
	sa, okA := measured(sums, r.a)
	sb, okB := measured(sums, r.b)
	if !okA || !okB {
		return g
	}
	g.measured = true
	g.value = r.metric(sa) / r.metric(sb)
	if n := sa.errors + sb.errors; n > 0 {
		g.invalid = fmt.Sprintf("%d failed requests", n)
	}
	return g
}

// cachedReviewsGoal judges plugin-cached's TokenReviews in the repeat
// workload against review_cache_ttl: at most one per token per TTL.
func cachedReviewsGoal(results []*load.Result, clients int, reviewCacheTTL time.Duration) goal {
	g := goal{what: fmt.Sprintf("plugin-cached, repeat: TokenReviews per token per %s (review_cache_ttl)", reviewCacheTTL), op: "<=", threshold: 1}
	var runs []*load.Result
	for _, r := range results {
		if r.Target == targets.PluginCached && r.Workload == load.Repeat && r.Clients == clients {
			runs = append(runs, r)
		}
	}
	if v, ok := reviewsPerTokenPerTTL(runs, reviewCacheTTL); ok {
		g.value, g.measured = v, true
	}
	return g
}

// reviewsPerTokenPerTTL is, over the repeat runs of a cached target, the
// largest ratio of TokenReviews to what "at most one per token per TTL"
// allows in that run. In a run of length L, a token's reviews are at least
// a TTL apart, so at most floor(L/TTL)+1 of them fall into it; each client
// presents a token of its own.
func reviewsPerTokenPerTTL(runs []*load.Result, ttl time.Duration) (float64, bool) {
	worst, any := 0.0, false
	for _, r := range runs {
		if !r.ReviewsKnown || ttl <= 0 || r.Clients == 0 {
			return 0, false
		}
		allowed := float64(r.Clients) * (math.Floor(float64(r.Elapsed)/float64(ttl)) + 1)
		worst = max(worst, r.Reviews.Total/allowed)
		any = true
	}
	return worst, any
}

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

// writeGoals judges issue 9's goals at the client count the issue states
// them at, or the largest one measured.
func writeGoals(w io.Writer, o *Settings, results []*load.Result) {
	goalN := goalClients
	if !slices.Contains(o.Clients, goalN) {
		goalN = o.maxClients()
	}
	fmt.Fprintf(w, "\n### Issue 9's targets, %d clients\n\n", goalN)
	if goalN != goalClients {
		fmt.Fprintf(w, "(The issue states them at %d clients, which this run did not measure.)\n\n", goalClients)
	}
	fmt.Fprintln(w, "| target | measured | goal | result |")
	fmt.Fprintln(w, "| --- | ---: | ---: | --- |")
	for _, g := range evaluateGoals(results, goalN, o.Role.ReviewCacheTTL) {
		val := "–"
		if g.measured {
			val = strconv.FormatFloat(g.value, 'f', 3, 64)
		}
		fmt.Fprintf(w, "| %s | %s | %s %g | %s |\n", g.what, val, opSymbol[g.op], g.threshold, g.status())
	}

}

// reuseCell describes how soon a token came back in runs that drew from
// the pool: the shortest interval seen between two logins with one token,
// and the pool's cycle at the target's rate (the interval if it alone drew
// from the pool). Either under the API server's review cache TTL is marked.
func reuseCell(s summary, poolSize int) string {
	mark := func(d time.Duration) string {
		v := fmt.Sprintf("%.1f s", d.Seconds())
		if d < load.APIServerReviewCacheTTL {
			v += " (< 10 s!)"
		}
		return v
	}
	seen := "none"
	if s.reuse.OK {
		seen = mark(s.reuse.Min)
	}
	return seen + " / " + mark(load.PoolCycle(poolSize, s.rate))
}

func printTables(w io.Writer, o *Settings, sums map[runKey]summary, key runKey, poolSize int) {
	var rows []row
	for _, t := range o.Targets {
		k := key
		k.target = t
		if s, ok := sums[k]; ok && s.runs > 0 {
			rows = append(rows, row{t, s})
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\n### %s workload, %d concurrent client(s)\n\n", key.workload, key.clients)
	printRunTable(w, rows, poolSize)
	printCPUTable(w, rows)
	printFailures(w, rows)
}

// row is one target's line of a table.
type row struct {
	target string
	s      summary
}

func printRunTable(w io.Writer, rows []row, poolSize int) {
	fmt.Fprintln(w, "| target | runs | ok | errors | logins/s | per-run (min–max) | p50 ms | p99 ms | TokenReviews | reviews/login | token reuse: shortest seen / pool cycle |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range rows {
		s := r.s
		reviews, perLogin := reviewCells(s)
		reuse := "–"
		if s.drawsPool {
			reuse = reuseCell(s, poolSize)
		}
		fmt.Fprintf(w, "| %s | %d | %d | %d | %.1f | %.1f–%.1f | %.2f | %.2f | %s | %s | %s |\n",
			r.target, s.runs, s.ok, s.errors, s.rate, s.minRate, s.maxRate, ms(s.p50), ms(s.p99), reviews, perLogin, reuse)
	}
}

// reviewCells are the TokenReviews and reviews/login cells of a row.
func reviewCells(s summary) (reviews, perLogin string) {
	reviews, perLogin = "–", "–"
	if s.reviewsKnown {
		reviews = strconv.FormatFloat(s.reviews.Total, 'f', 0, 64)
		if s.reviews.Failed > 0 {
			reviews += fmt.Sprintf(" (%.0f not 2xx)", s.reviews.Failed)
		}
	}
	if v, ok := s.reviewsPerLogin(); ok {
		perLogin = strconv.FormatFloat(v, 'f', 3, 64)
	}
	return reviews, perLogin
}

// printCPUTable says where the CPU went, per successful login, for the
// rows whose processes were read.
func printCPUTable(w io.Writer, rows []row) {
	header := false
	for _, r := range rows {
		if len(r.s.cpu) == 0 {
			continue
		}
		if !header {
			fmt.Fprintf(w, "\n| CPU ms per login | %s | all |\n", strings.Join(measure.ProcOrder, " | "))
			fmt.Fprintf(w, "| --- |%s ---: |\n", strings.Repeat(" ---: |", len(measure.ProcOrder)))
			header = true
		}
		cells, all := cpuCells(r.s)
		fmt.Fprintf(w, "| %s | %s | %.3f |\n", r.target, strings.Join(cells, " | "), all)
	}
}

// cpuCells are a row's CPU ms per login, process by process, and over all
// the processes read.
func cpuCells(s summary) ([]string, float64) {
	cells := []string{}
	var total time.Duration
	for _, p := range measure.ProcOrder {
		v, ok := s.cpu[p]
		per, okPer := measure.CPUPerLogin(v, s.ok)
		if !ok || !okPer {
			cells = append(cells, "–")
			continue
		}
		total += v
		cells = append(cells, strconv.FormatFloat(per, 'f', 3, 64))
	}
	all, _ := measure.CPUPerLogin(total, s.ok)
	return cells, all
}

// printFailures warns under the tables of every target with failed
// requests.
func printFailures(w io.Writer, rows []row) {
	var notes []string
	for _, r := range rows {
		if r.s.errors > 0 {
			notes = append(notes, fmt.Sprintf("**%s: %d of %d requests failed; its numbers cover the successful ones only.**", r.target, r.s.errors, r.s.attempts))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\n%s\n", strings.Join(notes, "\n"))
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
