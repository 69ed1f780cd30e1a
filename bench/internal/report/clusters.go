package report

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/load"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/measure"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

// clusterComparison is a *-10c target against its one-cluster twin under
// one workload and client count (issue 12: with 1 and with 10 clusters
// configured, logins/s should differ by noise only).
type clusterComparison struct {
	one, ten         string
	workload         string
	clients          int
	oneRate, tenRate float64
	// ratio is ten's logins/s over one's, over all rounds.
	ratio float64
	// roundRatios are the same ratio in each round, where the two ran one
	// right after the other (see load.RoundOrder); their spread is what the machine's drift does
	// to a ratio, so a ratio of 1 inside it is a difference within noise.
	roundRatios []float64
	// oneSpread is the one-cluster target's fastest run over its slowest:
	// how much the same mount varies from round to round.
	oneSpread float64
	p99Ratio  float64
	// cpuPerLogin[proc] is CPU ms per login of one and ten; missing when
	// not read in every run of both.
	cpuPerLogin map[string][2]float64
	errors      int
}

// withinRounds says whether 1 lies between the smallest and the largest
// per-round ratio.
func (c clusterComparison) withinRounds() bool {
	if len(c.roundRatios) == 0 {
		return false
	}
	return slices.Min(c.roundRatios) <= 1 && 1 <= slices.Max(c.roundRatios)
}

// medianRound is the median of the per-round ratios: unlike the pooled
// ratio, one round that the machine's other load hit hard moves it little.
func (c clusterComparison) medianRound() (float64, bool) {
	n := len(c.roundRatios)
	if n == 0 {
		return 0, false
	}
	r := slices.Sorted(slices.Values(c.roundRatios))
	if n%2 == 1 {
		return r[n/2], true
	}
	return (r[n/2-1] + r[n/2]) / 2, true
}

// compareClusters pairs every measured *-10c target with its twin, for
// each workload and client count both were measured under.
func compareClusters(results []*load.Result, clients []int, workloads []string) []clusterComparison {
	sums := summarizeAll(results)
	type roundKey struct {
		target, workload string
		clients, round   int
	}
	byRound := map[roundKey][]*load.Result{}
	for _, r := range results {
		k := roundKey{r.Target, r.Workload, r.Clients, r.Round}
		byRound[k] = append(byRound[k], r)
	}
	var out []clusterComparison
	for _, pair := range targets.ClusterPairs {
		for _, n := range clients {
			for _, w := range workloads {
				one, okOne := sums[runKey{pair.One, w, n}]
				ten, okTen := sums[runKey{pair.Ten, w, n}]
				if !okOne || !okTen || one.rate == 0 || ten.rate == 0 {
					continue
				}
				c := clusterComparison{
					one: pair.One, ten: pair.Ten, workload: w, clients: n,
					oneRate: one.rate, tenRate: ten.rate, ratio: ten.rate / one.rate,
					errors:      one.errors + ten.errors,
					cpuPerLogin: map[string][2]float64{},
				}
				if one.minRate > 0 {
					c.oneSpread = one.maxRate / one.minRate
				}
				if one.p99 > 0 {
					c.p99Ratio = ms(ten.p99) / ms(one.p99)
				}
				for _, p := range measure.ProcOrder {
					a, okA := measure.CPUPerLogin(one.cpu[p], one.ok)
					b, okB := measure.CPUPerLogin(ten.cpu[p], ten.ok)
					if okA && okB {
						c.cpuPerLogin[p] = [2]float64{a, b}
					}
				}
				c.cpuPerLogin[procAll] = [2]float64{allCPUPerLogin(one), allCPUPerLogin(ten)}
				var rounds []int
				for k := range byRound {
					if k.target == pair.One && k.workload == w && k.clients == n {
						rounds = append(rounds, k.round)
					}
				}
				slices.Sort(rounds)
				for _, r := range rounds {
					a := summarize(byRound[roundKey{pair.One, w, n, r}])
					b := summarize(byRound[roundKey{pair.Ten, w, n, r}])
					if a.rate > 0 && b.rate > 0 {
						c.roundRatios = append(c.roundRatios, b.rate/a.rate)
					}
				}
				out = append(out, c)
			}
		}
	}
	return out
}

// procAll names the sum of every process read, in cpuPerLogin.
const procAll = "all"

// allCPUPerLogin is the CPU ms per login of every process read in every
// run (as the tables' "all" column); 0 when none was.
func allCPUPerLogin(s summary) float64 {
	var total time.Duration
	for _, p := range measure.ProcOrder {
		total += s.cpu[p]
	}
	v, _ := measure.CPUPerLogin(total, s.ok)
	return v
}

// printClusterComparisons writes issue 12's section of the report, when a
// *-10c target and its twin were both measured.
func printClusterComparisons(w io.Writer, cs []clusterComparison) {
	if len(cs) == 0 {
		return
	}
	fmt.Fprintf(w, "\n### Issue 12: 1 and %d clusters configured\n\n", targets.TenClustersExtra+1)
	fmt.Fprintf(w, "Each *-10c mount has config and %d cluster/<name> entries with the same API server and an issuer no token carries; "+
		"every login's token is config's cluster's, so its cluster is chosen among %d and is always the first compared. "+
		"Ratios are 10 clusters over 1; in each round the two ran one right after the other, the 10-cluster one second in odd rounds and first in even ones.\n\n", targets.TenClustersExtra, targets.TenClustersExtra+1)
	fmt.Fprintln(w, "| targets | workload | clients | logins/s 1 → 10 | 10/1 | per-round 10/1 | median per-round | 1 within per-round | 1-cluster runs max/min | p99 10/1 | plugin CPU µs/login 1 → 10 | vault CPU µs/login 1 → 10 | all CPU µs/login 1 → 10 |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
	for _, c := range cs {
		rounds := make([]string, len(c.roundRatios))
		for i, r := range c.roundRatios {
			rounds[i] = fmt.Sprintf("%.3f", r)
		}
		within := "no"
		if c.withinRounds() {
			within = "yes"
		}
		if c.errors > 0 {
			within += fmt.Sprintf(" (%d failed requests)", c.errors)
		}
		cpu := func(p string) string {
			v, ok := c.cpuPerLogin[p]
			if !ok || v[0] == 0 || v[1] == 0 {
				return "–"
			}
			return fmt.Sprintf("%.0f → %.0f", v[0]*1000, v[1]*1000)
		}
		median := "–"
		if m, ok := c.medianRound(); ok {
			median = fmt.Sprintf("%.3f", m)
		}
		fmt.Fprintf(w, "| %s / %s | %s | %d | %.1f → %.1f | %.3f | %s | %s | %s | %.3f | %.3f | %s | %s | %s |\n",
			c.ten, c.one, c.workload, c.clients, c.oneRate, c.tenRate, c.ratio, strings.Join(rounds, ", "), median, within,
			c.oneSpread, c.p99Ratio, cpu(measure.ProcPlugin), cpu(measure.ProcVault), cpu(procAll))
	}
}
