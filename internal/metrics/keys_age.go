package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// KeysAgeName is the family of the age of each cluster's signing keys.
const KeysAgeName = Namespace + "_cluster_keys_age_seconds"

const keysAgeHelp = "Age of the cluster's signing keys held for hybrid mode (since the fetch that got them began), by cluster; " +
	"no sample while none are held."

// keysAge is the gauge of KeysAgeName. An age grows between fetches, so it
// is read from each cluster's key set when scraped rather than set when a
// fetch ends: a key set that stopped refreshing shows its true age.
type keysAge struct {
	desc *prometheus.Desc

	mu      sync.Mutex
	sources map[string]*keysAgeSource // by cluster name
}

// keysAgeSource is one key set's reader; a pointer, so that a set being
// replaced (a config write) cannot stop its successor's.
type keysAgeSource struct {
	read func() (time.Duration, bool)
}

func newKeysAge() *keysAge {
	return &keysAge{
		desc:    prometheus.NewDesc(KeysAgeName, keysAgeHelp, []string{"cluster"}, nil),
		sources: map[string]*keysAgeSource{},
	}
}

func (k *keysAge) Describe(ch chan<- *prometheus.Desc) { ch <- k.desc }

// Collect reads every source outside the lock: a reader takes its key
// set's lock, and a scrape must not hold a watch or a stop.
func (k *keysAge) Collect(ch chan<- prometheus.Metric) {
	k.mu.Lock()
	names := make([]string, 0, len(k.sources))
	reads := make([]func() (time.Duration, bool), 0, len(k.sources))
	for name, s := range k.sources {
		names = append(names, name)
		reads = append(reads, s.read)
	}
	k.mu.Unlock()
	for i, read := range reads {
		if age, ok := read(); ok {
			ch <- prometheus.MustNewConstMetric(k.desc, prometheus.GaugeValue, age.Seconds(), names[i])
		}
	}
}

func (k *keysAge) forget(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.sources, name)
}

// WatchKeysAge makes the cluster's sample of kubeauth_cluster_keys_age_seconds
// read (at each scrape) the age of the signing keys its key set holds,
// ok false while it holds none. read must not block. It replaces the
// cluster's earlier reader, until stop (which then removes only this one)
// or ForgetCluster.
func (c *Cluster) WatchKeysAge(read func() (age time.Duration, ok bool)) (stop func()) {
	if c == nil {
		return func() {}
	}
	k, s := c.m.keysAge, &keysAgeSource{read: read}
	// A key set started by a login still in flight when its cluster was
	// deleted must not bring the cluster's series back.
	c.record(func() {
		k.mu.Lock()
		k.sources[c.name] = s
		k.mu.Unlock()
	})
	return func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.sources[c.name] == s {
			delete(k.sources, c.name)
		}
	}
}
