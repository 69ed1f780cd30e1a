package metrics

import (
	"sync/atomic"
	"testing"
)

// The sizes are read at each scrape, as the reader gives them: a sample per
// cache and cluster, a mount's cache with an empty cluster label, none before a
// reader is set, and a later reader replacing the first.
func TestCacheEntriesAreReadAtScrape(t *testing.T) {
	m := New(testVocabulary)
	if got := parseText(t, m)[CacheEntriesName].GetMetric(); len(got) != 0 {
		t.Fatalf("samples before any reader: %v", got)
	}
	var reviews atomic.Int64
	m.WatchCacheEntries(func() []CacheSize {
		return []CacheSize{
			{Cache: CacheReviews, Cluster: DefaultCluster, Entries: int(reviews.Load())},
			{Cache: CacheNamespaces, Cluster: "east", Entries: 3},
			{Cache: CacheLoginLimits, Entries: 7},
		}
	})
	for _, n := range []int64{0, 5, 2} {
		reviews.Store(n)
		want := map[[2]string]float64{{CacheReviews, DefaultCluster}: float64(n), {CacheNamespaces, "east"}: 3, {CacheLoginLimits, ""}: 7}
		requireCacheEntries(t, m, want)
	}
	m.WatchCacheEntries(func() []CacheSize { return []CacheSize{{Cache: CacheReviews, Cluster: "west", Entries: 1}} })
	requireCacheEntries(t, m, map[[2]string]float64{{CacheReviews, "west"}: 1})
}

// requireCacheEntries checks the scraped samples by cache and cluster
// ("" where the sample has no cluster label).
func requireCacheEntries(t *testing.T, m *Metrics, want map[[2]string]float64) {
	t.Helper()
	got := map[[2]string]float64{}
	for _, pm := range parseText(t, m)[CacheEntriesName].GetMetric() {
		var key [2]string
		for _, l := range pm.GetLabel() {
			switch l.GetName() {
			case "cache":
				key[0] = l.GetValue()
			case "cluster":
				key[1] = l.GetValue()
			default:
				t.Fatalf("unexpected label %s", l.GetName())
			}
		}
		got[key] = pm.GetGauge().GetValue()
	}
	if len(got) != len(want) {
		t.Fatalf("cache entries %v, want %v", got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Fatalf("cache entries %v, want %v", got, want)
		}
	}
}
