package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// CacheEntriesName is the family of how many entries each of the mount's
// bounded caches holds.
const CacheEntriesName = Namespace + "_cache_entries"

const cacheEntriesHelp = "Entries held by each bounded cache (expired ones not yet dropped included), by cache " +
	"(reviews, namespaces: per cluster; login_limits: the mount's, with an empty cluster label) and cluster."

// The caches, the "cache" label of kubeauth_cache_entries.
const (
	CacheReviews     = "reviews"      // TokenReview answers kept for cached and hybrid modes
	CacheNamespaces  = "namespaces"   // namespace labels kept for selector roles
	CacheLoginLimits = "login_limits" // login_rate_limit buckets, one per limited workload
)

// CacheSize is one cache's entries at a scrape. Cluster is "" for a cache
// of the mount's.
type CacheSize struct {
	Cache, Cluster string
	Entries        int
}

// cacheEntries is the gauge of CacheEntriesName, read from the mount when
// scraped: a cache's size changes with every login, and a count kept on the
// side could drift from what the cache really holds.
type cacheEntries struct {
	desc *prometheus.Desc

	mu   sync.Mutex
	read func() []CacheSize
}

func newCacheEntries() *cacheEntries {
	return &cacheEntries{desc: prometheus.NewDesc(CacheEntriesName, cacheEntriesHelp, []string{"cache", "cluster"}, nil)}
}

func (c *cacheEntries) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect calls the reader outside the lock: it takes the mount's and the
// caches' locks, and a scrape must not hold up WatchCacheEntries.
func (c *cacheEntries) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	read := c.read
	c.mu.Unlock()
	if read == nil {
		return
	}
	for _, s := range read() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(s.Entries), s.Cache, s.Cluster)
	}
}

// WatchCacheEntries makes kubeauth_cache_entries read, at each scrape, the
// sizes read returns: one per cache of each cluster the mount holds state
// for, and the mount's own. read must not block on a login; it replaces
// any earlier reader.
func (m *Metrics) WatchCacheEntries(read func() []CacheSize) {
	if m == nil {
		return
	}
	m.cacheEntries.mu.Lock()
	defer m.cacheEntries.mu.Unlock()
	m.cacheEntries.read = read
}
