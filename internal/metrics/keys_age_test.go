package metrics

import (
	"sync"
	"testing"
	"time"
)

// ageSource is a key set's age as a test moves it.
type ageSource struct {
	mu   sync.Mutex
	age  time.Duration
	held bool
}

func (a *ageSource) set(age time.Duration, held bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.age, a.held = age, held
}

func (a *ageSource) read() (time.Duration, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.age, a.held
}

// keysAgeSamples is the gauge's samples by cluster, as scraped.
func keysAgeSamples(t *testing.T, m *Metrics) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, pm := range parseText(t, m)[KeysAgeName].GetMetric() {
		if len(pm.GetLabel()) != 1 || pm.GetLabel()[0].GetName() != "cluster" {
			t.Fatalf("labels %v", pm.GetLabel())
		}
		out[pm.GetLabel()[0].GetValue()] = pm.GetGauge().GetValue()
	}
	return out
}

func requireAges(t *testing.T, m *Metrics, want map[string]float64) {
	t.Helper()
	got := keysAgeSamples(t, m)
	if len(got) != len(want) {
		t.Fatalf("ages %v, want %v", got, want)
	}
	for c, v := range want {
		if got[c] != v {
			t.Fatalf("ages %v, want %v", got, want)
		}
	}
}

// The age is read at each scrape, so a key set that stopped refreshing
// shows how old it really is; no sample while no keys are held; a key set
// that replaced another (a config write) is not stopped by its
// predecessor's stop; a forgotten cluster has no sample.
func TestKeysAgeIsReadAtScrape(t *testing.T) {
	m := New(testVocabulary)
	requireAges(t, m, map[string]float64{})

	var def, east, east2 ageSource
	stopDefault := m.Cluster(DefaultCluster).WatchKeysAge(def.read)
	requireAges(t, m, map[string]float64{})
	def.set(90*time.Second, true)
	requireAges(t, m, map[string]float64{DefaultCluster: 90})
	def.set(30*time.Hour, true)
	requireAges(t, m, map[string]float64{DefaultCluster: 30 * 3600})

	stopEast := m.Cluster("east").WatchKeysAge(east.read)
	east.set(1500*time.Millisecond, true)
	requireAges(t, m, map[string]float64{DefaultCluster: 30 * 3600, "east": 1.5})

	// east's config is written again: a new key set, then the old one stops.
	stopEast2 := m.Cluster("east").WatchKeysAge(east2.read)
	stopEast()
	east2.set(time.Second, true)
	requireAges(t, m, map[string]float64{DefaultCluster: 30 * 3600, "east": 1})

	// A login still in flight with east's old handle starts its key set
	// after the delete: the series stays gone.
	oldEast := m.Cluster("east")
	m.ForgetCluster("east")
	requireAges(t, m, map[string]float64{DefaultCluster: 30 * 3600})
	stopLate := oldEast.WatchKeysAge(east.read)
	requireAges(t, m, map[string]float64{DefaultCluster: 30 * 3600})
	stopLate()
	stopEast2()
	stopDefault()
	requireAges(t, m, map[string]float64{})

	fams, err := m.Families()
	if err != nil {
		t.Fatal(err)
	}
	if f := fams[KeysAgeName]; f.Type != "gauge" || f.Samples == nil || len(f.Samples) != 0 {
		t.Fatalf("JSON family %+v", f)
	}
}
