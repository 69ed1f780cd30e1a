package report

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/load"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/measure"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

func TestSummarizeCountsOnlySuccessesAsThroughput(t *testing.T) {
	runs := []*load.Result{
		{Elapsed: 2 * time.Second, Latencies: []time.Duration{3, 1, 2}, Errors: 4},
		{Elapsed: 1 * time.Second, Latencies: []time.Duration{6, 5, 4}},
	}
	s := summarize(runs)
	if s.ok != 6 || s.errors != 4 {
		t.Fatalf("ok, errors = %d, %d; want 6, 4", s.ok, s.errors)
	}
	if s.rate != 2 {
		t.Errorf("rate = %v, want 6 ok / 3 s = 2", s.rate)
	}
	if s.minRate != 1.5 || s.maxRate != 3 {
		t.Errorf("per-run rates = %v–%v, want 1.5–3", s.minRate, s.maxRate)
	}
	if s.p50 != 3 || s.p99 != 6 {
		t.Errorf("p50, p99 = %v, %v; want 3, 6 (over both runs, sorted)", s.p50, s.p99)
	}
}

func TestSummarizeReviewsAndCPU(t *testing.T) {
	runs := []*load.Result{
		{Elapsed: time.Second, Latencies: make([]time.Duration, 100), Errors: 2, ReviewsKnown: true, Reviews: measure.ReviewCount{Total: 90, Failed: 1},
			CPU: map[string]time.Duration{measure.ProcVault: 300 * time.Millisecond, measure.ProcPlugin: 100 * time.Millisecond}},
		{Elapsed: time.Second, Latencies: make([]time.Duration, 100), ReviewsKnown: true, Reviews: measure.ReviewCount{Total: 110},
			CPU: map[string]time.Duration{measure.ProcVault: 100 * time.Millisecond}},
	}
	s := summarize(runs)
	if v, ok := s.reviewsPerLogin(); !ok || v != 200.0/202 {
		t.Errorf("reviews per login = %v %v, want 200/202 (per request sent, failed ones included)", v, ok)
	}
	if s.reviews.Failed != 1 {
		t.Errorf("failed reviews = %v, want 1", s.reviews.Failed)
	}
	if s.cpu[measure.ProcVault] != 400*time.Millisecond {
		t.Errorf("vault CPU = %v, want 400ms", s.cpu[measure.ProcVault])
	}
	// The plugin's CPU is missing from the second run: unknown overall,
	// not a sum of what happened to be read.
	if v, ok := s.cpu[measure.ProcPlugin]; ok {
		t.Errorf("plugin CPU = %v, want unknown", v)
	}
	if per, ok := measure.CPUPerLogin(s.cpu[measure.ProcVault], s.ok); !ok || per != 2 {
		t.Errorf("vault CPU per login = %v ms, want 2", per)
	}

	// One run without a review count makes the total unknown.
	runs[1].ReviewsKnown = false
	if _, ok := summarize(runs).reviewsPerLogin(); ok {
		t.Error("reviews per login known although one run's count is not")
	}
}

// goalRun builds a run of n successful logins in one second, with latency
// lat each.
func goalRun(key runKey, n int, lat time.Duration, reviews float64) *load.Result {
	l := make([]time.Duration, n)
	for i := range l {
		l[i] = lat
	}
	return &load.Result{Target: key.target, Workload: key.workload, Clients: key.clients, Elapsed: time.Second, Latencies: l,
		ReviewsKnown: true, Reviews: measure.ReviewCount{Total: reviews}}
}

func TestEvaluateGoals(t *testing.T) {
	results := []*load.Result{
		goalRun(runKey{targets.Upstream, load.Distinct, 8}, 500, 20*time.Millisecond, 500),
		goalRun(runKey{targets.PluginAlways, load.Distinct, 8}, 650, 18*time.Millisecond, 650), // 1.3x, p99 0.9x: met
		goalRun(runKey{targets.Noop, load.Repeat, 8}, 1500, 5*time.Millisecond, 0),
		goalRun(runKey{targets.Builtin, load.Repeat, 8}, 1000, 8*time.Millisecond, 1000),
		goalRun(runKey{targets.PluginCached, load.Repeat, 8}, 1250, 6*time.Millisecond, 8), // 0.83x noop (met), 1.25x builtin (not met)
		goalRun(runKey{targets.Noop, load.Distinct, 8}, 1500, 5*time.Millisecond, 0),
		goalRun(runKey{targets.Builtin, load.Distinct, 8}, 900, 9*time.Millisecond, 900),
		goalRun(runKey{targets.PluginHybrid, load.Distinct, 8}, 1200, 6*time.Millisecond, 30), // 0.8x, 1.33x, 0.025 reviews/login
		// Another client count must not leak into the 8-client goals.
		goalRun(runKey{targets.Upstream, load.Distinct, 1}, 5000, time.Millisecond, 0),
	}
	got := map[string]goal{}
	for _, g := range evaluateGoals(results, 8, 10*time.Second) {
		got[g.what] = g
	}
	want := map[string]struct {
		value  float64
		status string
	}{
		"plugin-always / upstream, distinct: logins/s":               {1.3, "met"},
		"plugin-always / upstream, distinct: p99 latency (no worse)": {0.9, "met"},
		"plugin-cached / noop, repeat: logins/s":                     {1250.0 / 1500, "met"},
		"plugin-cached / builtin, repeat: logins/s":                  {1.25, "not met"},
		// 8 reviews for 8 clients in a 1 s run with a 10 s TTL: one each.
		"plugin-cached, repeat: TokenReviews per token per 10s (review_cache_ttl)": {1, "met"},
		"plugin-hybrid / noop, distinct: logins/s":                                 {0.8, "met"},
		"plugin-hybrid / builtin, distinct: logins/s":                              {1200.0 / 900, "met"},
		"plugin-hybrid, distinct: TokenReviews per login (~0)":                     {0.025, "not met"},
	}
	if len(got) != len(want) {
		t.Errorf("%d goals, want %d: %v", len(got), len(want), got)
	}
	for what, w := range want {
		g, ok := got[what]
		if !ok {
			t.Errorf("goal %q missing", what)
			continue
		}
		if !g.measured || math.Abs(g.value-w.value) > 1e-9 || g.status() != w.status {
			t.Errorf("%s = %v (measured %v), %s; want %v, %s", what, g.value, g.measured, g.status(), w.value, w.status)
		}
	}
}

func TestEvaluateGoalsUnmeasuredAndFailed(t *testing.T) {
	up := goalRun(runKey{targets.Upstream, load.Distinct, 8}, 500, 20*time.Millisecond, 500)
	always := goalRun(runKey{targets.PluginAlways, load.Distinct, 8}, 900, 10*time.Millisecond, 900)
	always.Errors = 3
	for _, g := range evaluateGoals([]*load.Result{up, always}, 8, 10*time.Second) {
		switch {
		case strings.HasPrefix(g.what, "plugin-always"):
			// 1.8x would be met, but not with failed requests.
			if g.status() != "not judged: 3 failed requests" {
				t.Errorf("%s: %s, want not judged", g.what, g.status())
			}
		default:
			if g.status() != "not measured" {
				t.Errorf("%s: %s, want not measured", g.what, g.status())
			}
		}
	}
}

func TestReviewsPerTokenPerTTL(t *testing.T) {
	run := func(clients int, elapsed time.Duration, reviews float64) *load.Result {
		return &load.Result{Clients: clients, Elapsed: elapsed, ReviewsKnown: true, Reviews: measure.ReviewCount{Total: reviews}}
	}
	tests := []struct {
		name string
		runs []*load.Result
		want float64
	}{
		// 8 tokens, 10.2 s run, 10 s TTL: up to 2 reviews each fit.
		{"two windows", []*load.Result{run(8, 10200*time.Millisecond, 16)}, 1},
		{"one window", []*load.Result{run(8, 9*time.Second, 8)}, 1},
		{"a review per login", []*load.Result{run(8, 9*time.Second, 800)}, 100},
		{"the worst run counts", []*load.Result{run(8, 9*time.Second, 4), run(8, 9*time.Second, 12)}, 1.5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := reviewsPerTokenPerTTL(tc.runs, 10*time.Second)
			if !ok || got != tc.want {
				t.Errorf("= %v %v, want %v", got, ok, tc.want)
			}
		})
	}
	if _, ok := reviewsPerTokenPerTTL(nil, 10*time.Second); ok {
		t.Error("known without runs")
	}
	unknown := run(8, time.Second, 0)
	unknown.ReviewsKnown = false
	if _, ok := reviewsPerTokenPerTTL([]*load.Result{unknown}, 10*time.Second); ok {
		t.Error("known without a review count")
	}
}

func TestReuseCell(t *testing.T) {
	s := summary{drawsPool: true, rate: 1000}
	if got, want := reuseCell(s, 12000), "none / 12.0 s"; got != want {
		t.Errorf("no token came back: %q, want %q", got, want)
	}
	s.reuse.Add(25 * time.Second)
	s.rate = 1500
	if got, want := reuseCell(s, 12000), "25.0 s / 8.0 s (< 10 s!)"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
	s.reuse.Add(9500 * time.Millisecond)
	if got, want := reuseCell(s, 12000), "9.5 s (< 10 s!) / 8.0 s (< 10 s!)"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

func TestCommandLineDropsMachinePathsAndTokens(t *testing.T) {
	saved := os.Args
	defer func() { os.Args = saved }()
	os.Args = []string{"/home/x/repo/bin/loginbench", "-plugin-bin", "/home/x/repo/bin/vault-plugin-auth-kubernetes", "-targets", "noop,builtin", "-out-dir", "/tmp/b/results-1", "-vault-token", "s.secret", "--vault-token=s.other", "-kube-host", "https://127.0.0.1:1"}
	want := `loginbench -plugin-bin vault-plugin-auth-kubernetes -targets noop,builtin -out-dir results-1 -vault-token REDACTED -vault-token=REDACTED -kube-host https://127.0.0.1:1`
	if got := commandLine(); got != want {
		t.Errorf("commandLine() = %s\nwant %s", got, want)
	}
}
