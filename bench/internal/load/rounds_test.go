package load

import (
	"slices"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

// Even rounds run each 10c target before its twin; the others keep their
// places.
func TestRoundOrder(t *testing.T) {
	names := []string{targets.Noop, targets.PluginAlways, targets.PluginAlways10c, targets.PluginCached, targets.Builtin}
	if got := RoundOrder(names, 1); !slices.Equal(got, names) {
		t.Errorf("round 1: %v, want %v", got, names)
	}
	want := []string{targets.Noop, targets.PluginAlways10c, targets.PluginAlways, targets.PluginCached, targets.Builtin}
	if got := RoundOrder(names, 2); !slices.Equal(got, want) {
		t.Errorf("round 2: %v, want %v (plugin-cached has no twin measured: unmoved)", got, want)
	}
	if got := RoundOrder(names, 3); !slices.Equal(got, names) {
		t.Errorf("round 3: %v, want %v", got, names)
	}
	if names[1] != targets.PluginAlways {
		t.Error("roundOrder changed its argument")
	}
}

func TestPercentile(t *testing.T) {
	ten := make([]time.Duration, 10)
	for i := range ten {
		ten[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"single", []time.Duration{7}, 0.99, 7},
		{"median of ten is the fifth", ten, 0.50, 5 * time.Millisecond},
		{"p99 of ten is the largest", ten, 0.99, 10 * time.Millisecond},
		{"p10 of ten is the first", ten, 0.10, 1 * time.Millisecond},
		{"p0 clamps to the smallest", ten, 0, 1 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("percentile(%v) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}
