package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// summary aggregates the runs of one target at one client count.
type summary struct {
	runs             int
	ok, errors       int
	rate             float64 // all successful requests / all runs' wall time
	minRate, maxRate float64 // the slowest and fastest single run
	p50, p99         time.Duration
}

func summarize(runs []*runResult) summary {
	s := summary{runs: len(runs), minRate: math.Inf(1)}
	var all []time.Duration
	var wall time.Duration
	for _, r := range runs {
		s.ok += r.ok()
		s.errors += r.errors
		wall += r.elapsed
		all = append(all, r.latencies...)
		s.minRate = min(s.minRate, r.rate())
		s.maxRate = max(s.maxRate, r.rate())
	}
	if len(runs) == 0 {
		s.minRate = 0
	}
	if wall > 0 {
		s.rate = float64(s.ok) / wall.Seconds()
	}
	slices.Sort(all)
	s.p50 = percentile(all, 0.50)
	s.p99 = percentile(all, 0.99)
	return s
}

// percentile returns the nearest-rank percentile of sorted: the smallest
// value with at least p of all values at or below it. No interpolation, so
// every number reported is a latency that was actually observed.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func totalErrors(results []*runResult) int {
	n := 0
	for _, r := range results {
		n += r.errors
	}
	return n
}

var targetLabel = map[string]string{
	targetPlugin:  "plugin (auth/" + pluginMount + "/login)",
	targetBuiltin: "built-in (auth/" + builtinMount + "/login)",
	targetFloor:   "floor (auth/token/create)",
}

// printReport writes Markdown, so the output can go into BENCHMARKS.md as is.
func printReport(w io.Writer, o *options, env *benchEnv, results []*runResult) {
	fmt.Fprintf(w, "\n## loginbench results\n\n")
	fmt.Fprintf(w, "- command: `%s`\n", commandLine())
	fmt.Fprintf(w, "- Vault %s, kube-apiserver %s, built-in kubernetes auth %s\n", env.vaultVersion, env.kubeVersion, orDash(env.builtinPlugin))
	if o.wants(targetPlugin) {
		fmt.Fprintf(w, "- plugin %s %s, sha256 %s\n", o.pluginName, o.pluginVersion, env.pluginSHA256)
	}
	fmt.Fprintf(w, "- load generator: %s, GOMAXPROCS %d, %d CPUs (%s)\n", runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU(), cpuModel())
	fmt.Fprintf(w, "- %d round(s) of %s per target and client count, targets alternating %s; warm-up %s per target\n",
		o.rounds, o.duration, strings.Join(o.targets, " → "), o.warmup)
	if o.wants(targetFloor) {
		kind := "tokens without a parent (no_parent=true), like the tokens logins return"
		if o.floorChild {
			kind = "child tokens of the issuing token (-floor-child)"
		}
		issuer := "one issuing token per client"
		if o.floorShared {
			issuer = "one issuing token shared by all clients (-floor-shared-token)"
		}
		fmt.Fprintf(w, "- floor: auth/token/create by non-root tokens (%s), same policies, metadata and TTL as a built-in login's token; %s\n", issuer, kind)
	}
	fmt.Fprintf(w, "- logins/s = successful requests / wall time of the runs; p50/p99 over every successful request (nearest rank)\n")

	for _, n := range o.clients {
		sums := map[string]summary{}
		for _, t := range o.targets {
			var runs []*runResult
			for _, r := range results {
				if r.target == t && r.clients == n {
					runs = append(runs, r)
				}
			}
			if len(runs) > 0 {
				sums[t] = summarize(runs)
			}
		}
		if len(sums) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n### %d concurrent client(s)\n\n", n)
		fmt.Fprintln(w, "| target | runs | ok | errors | req/s | per-run req/s (min–max) | p50 ms | p99 ms |")
		fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
		for _, t := range o.targets {
			s, ok := sums[t]
			if !ok {
				continue
			}
			fmt.Fprintf(w, "| %s | %d | %d | %d | %.1f | %.1f–%.1f | %.2f | %.2f |\n",
				targetLabel[t], s.runs, s.ok, s.errors, s.rate, s.minRate, s.maxRate, ms(s.p50), ms(s.p99))
		}

		header := false
		for _, pair := range [][2]string{{targetPlugin, targetBuiltin}, {targetPlugin, targetFloor}, {targetBuiltin, targetFloor}} {
			a, okA := sums[pair[0]]
			b, okB := sums[pair[1]]
			if !okA || !okB {
				continue
			}
			if !header {
				fmt.Fprintln(w, "\n| ratio | throughput | p50 latency | p99 latency |")
				fmt.Fprintln(w, "| --- | ---: | ---: | ---: |")
				header = true
			}
			label := pair[0] + " / " + pair[1]
			if a.errors > 0 || b.errors > 0 {
				// The ratio compares successful requests only; say so where it is read.
				label += " (with failed requests)"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", label,
				ratio(a.rate, b.rate), ratio(ms(a.p50), ms(b.p50)), ratio(ms(a.p99), ms(b.p99)))
		}
		for _, t := range o.targets {
			if s, ok := sums[t]; ok && s.errors > 0 {
				fmt.Fprintf(w, "\n**%s: %d of %d requests failed at %d clients; its numbers cover the successful ones only.**\n",
					t, s.errors, s.errors+s.ok, n)
			}
		}
	}
	fmt.Fprintln(w)
}

// commandLine is how this process was started, with the binary's directory
// dropped: the report should say which flags produced it, not where the
// binary happened to be built.
func commandLine() string {
	args := append([]string{filepath.Base(os.Args[0])}, os.Args[1:]...)
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"") {
			args[i] = strconv.Quote(a)
		}
	}
	return strings.Join(args, " ")
}

func ratio(a, b float64) string {
	if b == 0 || a == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a/b)
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
