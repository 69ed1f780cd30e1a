package report

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/load"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/measure"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

// roundRun is goalRun in a given round, with the plugin's CPU.
func roundRun(key runKey, round, n int, lat, pluginCPU time.Duration) *load.Result {
	r := goalRun(key, n, lat, 0)
	r.Round = round
	r.CPU = map[string]time.Duration{measure.ProcPlugin: pluginCPU}
	return r
}

func TestCompareClusters(t *testing.T) {
	results := []*load.Result{
		roundRun(runKey{targets.PluginAlways, load.Distinct, 8}, 1, 1000, 10*time.Millisecond, 500*time.Millisecond),
		roundRun(runKey{targets.PluginAlways10c, load.Distinct, 8}, 1, 980, 10*time.Millisecond, 500*time.Millisecond),
		roundRun(runKey{targets.PluginAlways, load.Distinct, 8}, 2, 800, 10*time.Millisecond, 400*time.Millisecond),
		roundRun(runKey{targets.PluginAlways10c, load.Distinct, 8}, 2, 820, 12*time.Millisecond, 410*time.Millisecond),
		// cached without its 10c twin: nothing to compare.
		roundRun(runKey{targets.PluginCached, load.Repeat, 8}, 1, 2000, 3*time.Millisecond, 500*time.Millisecond),
		// Another client count is compared on its own.
		roundRun(runKey{targets.PluginAlways, load.Distinct, 1}, 1, 300, time.Millisecond, 300*time.Millisecond),
		roundRun(runKey{targets.PluginAlways10c, load.Distinct, 1}, 1, 150, time.Millisecond, 300*time.Millisecond),
	}
	cs := compareClusters(results, []int{1, 8}, []string{load.Distinct, load.Repeat})
	if len(cs) != 2 {
		t.Fatalf("%d comparisons, want 2 (always at 1 and 8 clients): %+v", len(cs), cs)
	}
	one, eight := cs[0], cs[1]
	if one.clients != 1 || eight.clients != 8 {
		t.Fatalf("clients %d, %d; want 1, 8", one.clients, eight.clients)
	}

	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	if !near(eight.ratio, 1800.0/1800) || !near(eight.oneRate, 900) {
		t.Errorf("8 clients: ratio %v, 1-cluster rate %v; want 1 and 900", eight.ratio, eight.oneRate)
	}
	if len(eight.roundRatios) != 2 || !near(eight.roundRatios[0], 0.98) || !near(eight.roundRatios[1], 1.025) {
		t.Errorf("per-round ratios = %v, want [0.98 1.025]", eight.roundRatios)
	}
	if m, ok := eight.medianRound(); !ok || !near(m, (0.98+1.025)/2) {
		t.Errorf("median per-round ratio = %v %v, want the mean of the two middle ones", m, ok)
	}
	if !eight.withinRounds() {
		t.Error("ratio 1 lies between 0.98 and 1.025, yet not within the rounds")
	}
	if !near(eight.oneSpread, 1.25) || !near(eight.p99Ratio, 1.2) {
		t.Errorf("spread %v, p99 ratio %v; want 1.25 and 1.2", eight.oneSpread, eight.p99Ratio)
	}
	if got := eight.cpuPerLogin[measure.ProcPlugin]; !near(got[0], 0.5) || !near(got[1], 910.0/1800) {
		t.Errorf("plugin CPU ms/login = %v, want [0.5 %v]", got, 910.0/1800)
	}

	if m, ok := one.medianRound(); !ok || !near(m, 0.5) {
		t.Errorf("1 client: median per-round ratio = %v %v, want 0.5 (one round)", m, ok)
	}
	if !near(one.ratio, 0.5) || one.withinRounds() {
		t.Errorf("1 client: ratio %v, within %v; want 0.5, not within", one.ratio, one.withinRounds())
	}
}

func TestMedianRound(t *testing.T) {
	for _, tc := range []struct {
		ratios []float64
		want   float64
		ok     bool
	}{
		{nil, 0, false},
		{[]float64{1.2, 0.6, 1.0}, 1.0, true},
		{[]float64{1.9, 0.6, 1.0, 0.9}, 0.95, true},
	} {
		c := clusterComparison{roundRatios: tc.ratios}
		got, ok := c.medianRound()
		if ok != tc.ok || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("median of %v = %v %v, want %v %v", tc.ratios, got, ok, tc.want, tc.ok)
		}
	}
	c := clusterComparison{roundRatios: []float64{1.2, 0.6, 1.0}}
	c.medianRound()
	if !slices.Equal(c.roundRatios, []float64{1.2, 0.6, 1.0}) {
		t.Errorf("medianRound reordered the ratios: %v", c.roundRatios)
	}
}
