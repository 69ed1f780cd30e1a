package report

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/load"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

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
