// Package metrics counts what one mount's logins do, and renders the counts
// as JSON for Vault's API and in the Prometheus text exposition format.
//
// Every Metrics owns a registry of its own: Vault's plugin multiplexing runs
// many mounts in one process, so nothing here is global and two mounts never
// share a series. Label values are bounded: role names are the caller's to
// check (only roles that exist may be passed), and reasons, fault kinds and
// results come from fixed sets; a value outside its set is counted as
// "other" rather than creating a series.
package metrics

import (
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Namespace prefixes every family's name.
const Namespace = "kubeauth"

// Names of the families.
const (
	LoginsName         = Namespace + "_logins_total"
	RefusalsName       = Namespace + "_refusals_total"
	FaultsName         = Namespace + "_faults_total"
	TokenReviewName    = Namespace + "_tokenreview_duration_seconds"
	ReviewCacheName    = Namespace + "_review_cache_total"
	KeyRefreshesName   = Namespace + "_key_refreshes_total"
	LoginsInFlightName = Namespace + "_logins_in_flight"
)

// Outcomes of a login, the "outcome" label of kubeauth_logins_total.
const (
	OutcomeSuccess = "success" // a token was issued
	OutcomeRefused = "refused" // failed authentication (403)
	OutcomeInvalid = "invalid" // a malformed request (400)
	OutcomeFault   = "fault"   // the setup or Kubernetes failed (500)
)

// Results of a TokenReview, the "result" label of
// kubeauth_tokenreview_duration_seconds.
const (
	ReviewAuthenticated = "authenticated" // Kubernetes vouched for the token
	ReviewRejected      = "rejected"      // Kubernetes answered, and not with a clean yes
	ReviewFailed        = "failed"        // no answer: unreachable, timeout, TLS, an HTTP error
)

// Results of a review-cache lookup, the "result" label of
// kubeauth_review_cache_total.
const (
	CacheHit    = "hit"    // a kept answer was used
	CacheMiss   = "miss"   // a TokenReview was made
	CacheShared = "shared" // the answer of a concurrent login's TokenReview was shared
)

// Results of a refresh of the cluster's signing keys, the "result" label of
// kubeauth_key_refreshes_total.
const (
	RefreshSucceeded = "success"
	RefreshFailed    = "failure"
)

// Other stands for a label value outside its fixed set.
const Other = "other"

// The fixed result sets.
var (
	reviewResults  = []string{ReviewAuthenticated, ReviewRejected, ReviewFailed}
	cacheResults   = []string{CacheHit, CacheMiss, CacheShared}
	refreshResults = []string{RefreshSucceeded, RefreshFailed}
)

// reviewBuckets are the TokenReview latency buckets in seconds: a review on
// a nearby API server takes about a millisecond, and every call is cut off
// at the request timeout (10 s by default).
var reviewBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Vocabulary is the fixed set of each caller-supplied label: the reason
// codes of refusals and the kinds of faults.
type Vocabulary struct {
	Reasons    []string
	FaultKinds []string
}

// Metrics holds one mount's families. All methods are safe for concurrent
// use; a nil *Metrics records nothing.
type Metrics struct {
	registry *prometheus.Registry
	families []family

	logins       *prometheus.CounterVec
	refusals     *prometheus.CounterVec
	faults       *prometheus.CounterVec
	reviews      *prometheus.HistogramVec
	reviewCache  *prometheus.CounterVec
	keyRefreshes *prometheus.CounterVec
	inFlight     prometheus.Gauge
	keysAge      *keysAge
	cacheEntries *cacheEntries

	reasons, kinds []string

	// clustersMu guards clusters and the forgotten marks of their
	// handles. Every write of a series labeled with a cluster holds it for
	// reading, so ForgetCluster, which holds it for writing, is never
	// undone by a write that checked just before it.
	clustersMu sync.RWMutex
	// clusters are the live handles by name; a forgotten cluster has none.
	clusters map[string]*Cluster
}

// family is what the JSON rendering needs to know of a family that may have
// no samples yet.
type family struct {
	name, help, kind string
}

// New returns empty families in a registry of their own. The series of the
// fixed result sets start at zero, so that a rate over them is defined from
// the first scrape.
func New(v Vocabulary) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		reasons:  slices.Clone(v.Reasons),
		kinds:    slices.Clone(v.FaultKinds),
		clusters: map[string]*Cluster{},
	}
	m.logins = m.counterVec(LoginsName, "Logins by role, cluster and outcome (success, refused, invalid, fault).", "role", "cluster", "outcome")
	m.refusals = m.counterVec(RefusalsName, "Refused logins by role, cluster and reason code.", "role", "cluster", "reason")
	m.faults = m.counterVec(FaultsName, "Logins that failed on a fault, by role, cluster and kind.", "role", "cluster", "kind")
	reviewHelp := "Duration of the TokenReview calls to the Kubernetes API, by cluster and result (authenticated, rejected, failed)."
	m.reviews = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: TokenReviewName, Help: reviewHelp, Buckets: reviewBuckets}, []string{"cluster", "result"})
	m.add(m.reviews, TokenReviewName, reviewHelp, "histogram")
	m.reviewCache = m.counterVec(ReviewCacheName, "Review-cache lookups of logins by cluster and result (hit, miss, shared).", "cluster", "result")
	m.keyRefreshes = m.counterVec(KeyRefreshesName, "Fetches of the cluster's signing keys by cluster and result (success, failure).", "cluster", "result")
	inFlightHelp := "Logins being processed."
	m.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{Name: LoginsInFlightName, Help: inFlightHelp})
	m.add(m.inFlight, LoginsInFlightName, inFlightHelp, "gauge")
	m.keysAge = newKeysAge()
	m.add(m.keysAge, KeysAgeName, keysAgeHelp, "gauge")
	m.cacheEntries = newCacheEntries()
	m.add(m.cacheEntries, CacheEntriesName, cacheEntriesHelp, "gauge")

	m.Cluster(DefaultCluster)
	return m
}

// DefaultCluster is the cluster label of the mount's config.
const DefaultCluster = "default"

// Cluster is one cluster's share of the mount's metrics. Its series of the
// fixed result sets start at zero when it is made, so that a rate over them
// is defined from the first scrape. A nil *Cluster records nothing, and so
// does one whose cluster was forgotten: a login or a key refresh that was
// under way when the cluster was deleted does not bring its series back.
type Cluster struct {
	m    *Metrics
	name string
	// forgotten is set by ForgetCluster; guarded by m.clustersMu.
	forgotten bool
}

// Cluster returns the metrics of the cluster called name (a stored
// cluster's name: the caller bounds the label's values): the handle in use
// for that name, or, when there is none (the first use, or the first since
// the cluster was forgotten), a new one.
func (m *Metrics) Cluster(name string) *Cluster {
	if m == nil {
		return nil
	}
	m.clustersMu.Lock()
	defer m.clustersMu.Unlock()
	if c := m.clusters[name]; c != nil {
		return c
	}
	for _, r := range reviewResults {
		m.reviews.WithLabelValues(name, r)
	}
	for _, r := range cacheResults {
		m.reviewCache.WithLabelValues(name, r)
	}
	for _, r := range refreshResults {
		m.keyRefreshes.WithLabelValues(name, r)
	}
	c := &Cluster{m: m, name: name}
	m.clusters[name] = c
	return c
}

// ForgetCluster drops every series of a cluster that no longer exists, and
// makes its handles record nothing from now on.
func (m *Metrics) ForgetCluster(name string) {
	if m == nil {
		return
	}
	m.clustersMu.Lock()
	defer m.clustersMu.Unlock()
	if c := m.clusters[name]; c != nil {
		c.forgotten = true
		delete(m.clusters, name)
	}
	match := prometheus.Labels{"cluster": name}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.logins, m.refusals, m.faults, m.reviews, m.reviewCache, m.keyRefreshes,
	} {
		v.DeletePartialMatch(match)
	}
	m.keysAge.forget(name)
}

// record runs write unless c's cluster was forgotten.
func (c *Cluster) record(write func()) {
	if c == nil {
		return
	}
	c.m.clustersMu.RLock()
	defer c.m.clustersMu.RUnlock()
	if !c.forgotten {
		write()
	}
}

// recordLogin runs write with the cluster label of a login that ended with
// c's cluster chosen ("" when c is nil: it ended before), unless that
// cluster was forgotten since.
func (m *Metrics) recordLogin(c *Cluster, write func(cluster string)) {
	m.clustersMu.RLock()
	defer m.clustersMu.RUnlock()
	switch {
	case c == nil:
		write("")
	case !c.forgotten:
		write(c.name)
	}
}

func (m *Metrics) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	m.add(c, name, help, "counter")
	return c
}

// add registers c; the names are constants of this package, so a clash is
// a programming error.
func (m *Metrics) add(c prometheus.Collector, name, help, kind string) {
	m.registry.MustRegister(c)
	m.families = append(m.families, family{name: name, help: help, kind: kind})
}

// LoginStarted counts a login in flight until the returned func is called.
func (m *Metrics) LoginStarted() (done func()) {
	if m == nil {
		return func() {}
	}
	m.inFlight.Inc()
	return m.inFlight.Dec
}

// Logins are labeled with the role and the cluster the token came from.
// role is "" when the request names no role that exists; c is the chosen
// cluster's handle, nil when the login ended before its cluster was known
// (the label is then ""). A login whose cluster was forgotten while it ran
// is not counted.

// LoginSucceeded counts a login that issued a token with the role.
func (m *Metrics) LoginSucceeded(role string, c *Cluster) {
	if m != nil {
		m.recordLogin(c, func(cluster string) { m.logins.WithLabelValues(role, cluster, OutcomeSuccess).Inc() })
	}
}

// LoginInvalid counts a malformed login request.
func (m *Metrics) LoginInvalid(role string, c *Cluster) {
	if m != nil {
		m.recordLogin(c, func(cluster string) { m.logins.WithLabelValues(role, cluster, OutcomeInvalid).Inc() })
	}
}

// LoginRefused counts a failed authentication with the role, by reason code.
func (m *Metrics) LoginRefused(role string, c *Cluster, reason string) {
	if m != nil {
		m.recordLogin(c, func(cluster string) {
			m.logins.WithLabelValues(role, cluster, OutcomeRefused).Inc()
			m.refusals.WithLabelValues(role, cluster, bounded(reason, m.reasons)).Inc()
		})
	}
}

// LoginFaulted counts a login that failed on a fault, by kind.
func (m *Metrics) LoginFaulted(role string, c *Cluster, kind string) {
	if m != nil {
		m.recordLogin(c, func(cluster string) {
			m.logins.WithLabelValues(role, cluster, OutcomeFault).Inc()
			m.faults.WithLabelValues(role, cluster, bounded(kind, m.kinds)).Inc()
		})
	}
}

// TokenReviewed records one TokenReview call to the cluster and how long it took.
func (c *Cluster) TokenReviewed(result string, took time.Duration) {
	c.record(func() { c.m.reviews.WithLabelValues(c.name, bounded(result, reviewResults)).Observe(took.Seconds()) })
}

// ReviewCacheLookup counts one lookup of the cluster's review cache by result.
func (c *Cluster) ReviewCacheLookup(result string) {
	c.record(func() { c.m.reviewCache.WithLabelValues(c.name, bounded(result, cacheResults)).Inc() })
}

// KeysRefreshed counts one fetch of the cluster's signing keys by result.
func (c *Cluster) KeysRefreshed(result string) {
	c.record(func() { c.m.keyRefreshes.WithLabelValues(c.name, bounded(result, refreshResults)).Inc() })
}

// bounded is v when it is one of allowed, else Other: no caller can grow a
// family by passing an unexpected value.
func bounded(v string, allowed []string) string {
	if slices.Contains(allowed, v) {
		return v
	}
	return Other
}
