package metrics

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	dto "github.com/prometheus/client_model/go"
)

var testVocabulary = Vocabulary{
	Reasons:    []string{"token_expired", "namespace_not_bound"},
	FaultKinds: []string{"kubernetes_timeout"},
}

// parseText reads the text exposition back with Prometheus's own parser,
// so the test holds the output to the format, not to a string.
func parseText(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	body, contentType, err := m.Text()
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("content type %q", contentType)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("the output does not parse as the text format: %v\n%s", err, body)
	}
	return mfs
}

// value is the sample of family name whose labels are exactly labels.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	mf := mfs[name]
	if mf == nil {
		t.Fatalf("no family %s", name)
	}
	for _, pm := range mf.GetMetric() {
		got := map[string]string{}
		for _, l := range pm.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if !sameLabels(got, labels) {
			continue
		}
		switch {
		case pm.Counter != nil:
			return pm.Counter.GetValue()
		case pm.Gauge != nil:
			return pm.Gauge.GetValue()
		case pm.Histogram != nil:
			return float64(pm.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no sample of %s with labels %v", name, labels)
	return 0
}

func sameLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestCountsInTextFormat(t *testing.T) {
	m := New(testVocabulary)
	m.LoginSucceeded("web", m.Cluster(DefaultCluster))
	m.LoginSucceeded("web", m.Cluster(DefaultCluster))
	m.LoginRefused("web", m.Cluster(DefaultCluster), "token_expired")
	m.LoginRefused("db", m.Cluster(DefaultCluster), "namespace_not_bound")
	m.LoginInvalid("", nil)
	m.LoginFaulted("web", m.Cluster(DefaultCluster), "kubernetes_timeout")
	m.Cluster(DefaultCluster).TokenReviewed(ReviewAuthenticated, 3*time.Millisecond)
	m.Cluster(DefaultCluster).TokenReviewed(ReviewRejected, 20*time.Millisecond)
	m.Cluster(DefaultCluster).ReviewCacheLookup(CacheHit)
	m.Cluster(DefaultCluster).KeysRefreshed(RefreshFailed)
	done := m.LoginStarted()
	m.LoginStarted()

	mfs := parseText(t, m)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{LoginsName, map[string]string{"cluster": "default", "role": "web", "outcome": "success"}, 2},
		{LoginsName, map[string]string{"cluster": "default", "role": "web", "outcome": "refused"}, 1},
		{LoginsName, map[string]string{"cluster": "default", "role": "db", "outcome": "refused"}, 1},
		{LoginsName, map[string]string{"cluster": "", "role": "", "outcome": "invalid"}, 1},
		{LoginsName, map[string]string{"cluster": "default", "role": "web", "outcome": "fault"}, 1},
		{RefusalsName, map[string]string{"cluster": "default", "role": "web", "reason": "token_expired"}, 1},
		{RefusalsName, map[string]string{"cluster": "default", "role": "db", "reason": "namespace_not_bound"}, 1},
		{FaultsName, map[string]string{"cluster": "default", "role": "web", "kind": "kubernetes_timeout"}, 1},
		{TokenReviewName, map[string]string{"cluster": "default", "result": "authenticated"}, 1},
		{TokenReviewName, map[string]string{"cluster": "default", "result": "rejected"}, 1},
		{TokenReviewName, map[string]string{"cluster": "default", "result": "failed"}, 0},
		{ReviewCacheName, map[string]string{"cluster": "default", "result": "hit"}, 1},
		{ReviewCacheName, map[string]string{"cluster": "default", "result": "miss"}, 0},
		{ReviewCacheName, map[string]string{"cluster": "default", "result": "shared"}, 0},
		{KeyRefreshesName, map[string]string{"cluster": "default", "result": "failure"}, 1},
		{KeyRefreshesName, map[string]string{"cluster": "default", "result": "success"}, 0},
		{LoginsInFlightName, map[string]string{}, 2},
	} {
		if got := value(t, mfs, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := mfs[TokenReviewName].GetType(); got != dto.MetricType_HISTOGRAM {
		t.Errorf("%s is a %v", TokenReviewName, got)
	}
	// 3 ms falls in the 0.005 bucket and above, not in 0.0025.
	for _, pm := range mfs[TokenReviewName].GetMetric() {
		if pm.GetLabel()[1].GetValue() != ReviewAuthenticated {
			continue
		}
		for _, b := range pm.GetHistogram().GetBucket() {
			want := uint64(0)
			if b.GetUpperBound() >= 0.005 {
				want = 1
			}
			if b.GetCumulativeCount() != want {
				t.Errorf("bucket le=%v holds %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
			}
		}
	}

	done()
	if got := value(t, parseText(t, m), LoginsInFlightName, map[string]string{}); got != 1 {
		t.Errorf("in flight after one login ended = %v, want 1", got)
	}
}

// A reason, kind or result outside its fixed set never becomes a series of
// its own.
func TestLabelValuesAreBounded(t *testing.T) {
	m := New(testVocabulary)
	for _, v := range []string{"made_up", "system:serviceaccount:apps:web", strings.Repeat("x", 200)} {
		m.LoginRefused("web", m.Cluster(DefaultCluster), v)
		m.LoginFaulted("web", m.Cluster(DefaultCluster), v)
		m.Cluster(DefaultCluster).TokenReviewed(v, time.Millisecond)
		m.Cluster(DefaultCluster).ReviewCacheLookup(v)
		m.Cluster(DefaultCluster).KeysRefreshed(v)
	}
	mfs := parseText(t, m)
	if got := value(t, mfs, RefusalsName, map[string]string{"cluster": "default", "role": "web", "reason": Other}); got != 3 {
		t.Errorf("refusals with an unknown reason = %v, want 3 counted as %q", got, Other)
	}
	if got := value(t, mfs, FaultsName, map[string]string{"cluster": "default", "role": "web", "kind": Other}); got != 3 {
		t.Errorf("faults with an unknown kind = %v, want 3 as %q", got, Other)
	}
	for name, want := range map[string]int{
		RefusalsName:     1,
		FaultsName:       1,
		TokenReviewName:  len(reviewResults) + 1,
		ReviewCacheName:  len(cacheResults) + 1,
		KeyRefreshesName: len(refreshResults) + 1,
	} {
		if got := len(mfs[name].GetMetric()); got != want {
			t.Errorf("%s has %d series, want %d", name, got, want)
		}
	}
}

// Two mounts in one process count apart.
func TestEachMetricsIsItsOwn(t *testing.T) {
	a, b := New(testVocabulary), New(testVocabulary)
	a.LoginSucceeded("web", a.Cluster(DefaultCluster))
	if _, ok := parseText(t, b)[LoginsName]; ok {
		t.Fatalf("a login counted in one Metrics shows in another")
	}
	if got := value(t, parseText(t, a), LoginsName, map[string]string{"cluster": "default", "role": "web", "outcome": "success"}); got != 1 {
		t.Fatalf("got %v", got)
	}
}

func TestNilRecordsNothing(t *testing.T) {
	var m *Metrics
	m.LoginStarted()()
	m.LoginSucceeded("web", m.Cluster(DefaultCluster))
	m.LoginRefused("web", m.Cluster(DefaultCluster), "token_expired")
	m.LoginInvalid("", nil)
	m.LoginFaulted("", m.Cluster(DefaultCluster), "internal")
	m.Cluster(DefaultCluster).TokenReviewed(ReviewFailed, time.Second)
	m.Cluster(DefaultCluster).ReviewCacheLookup(CacheMiss)
	m.Cluster(DefaultCluster).KeysRefreshed(RefreshSucceeded)
	m.Cluster(DefaultCluster).WatchKeysAge(func() (time.Duration, bool) { return time.Second, true })()
}

// The JSON rendering has every family, with or without samples, in the
// documented shape.
func TestFamiliesJSONShape(t *testing.T) {
	m := New(testVocabulary)
	m.LoginRefused("web", m.Cluster(DefaultCluster), "token_expired")
	m.Cluster(DefaultCluster).TokenReviewed(ReviewAuthenticated, 30*time.Millisecond)
	fams, err := m.Families()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(fams)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	for name, typ := range map[string]string{
		LoginsName: "counter", RefusalsName: "counter", FaultsName: "counter", TokenReviewName: "histogram",
		ReviewCacheName: "counter", KeyRefreshesName: "counter", LoginsInFlightName: "gauge", KeysAgeName: "gauge",
		CacheEntriesName: "gauge",
	} {
		f, ok := got[name]
		if !ok {
			t.Errorf("family %s missing from %s", name, raw)
			continue
		}
		if f["type"] != typ || f["help"] == "" {
			t.Errorf("%s: type %v help %q", name, f["type"], f["help"])
		}
		if _, isList := f["samples"].([]any); !isList {
			t.Errorf("%s: samples %#v is not a list", name, f["samples"])
		}
	}
	if len(got) != 9 {
		t.Errorf("%d families, want 9: %s", len(got), raw)
	}
	if s := got[FaultsName]["samples"].([]any); len(s) != 0 {
		t.Errorf("faults before any fault: %v", s)
	}

	wantJSON := func(name string, i int, want string) {
		t.Helper()
		sample := got[name]["samples"].([]any)[i]
		var w any
		if err := json.Unmarshal([]byte(want), &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(sample, w) {
			b, _ := json.Marshal(sample)
			t.Errorf("%s sample %d:\n got %s\nwant %s", name, i, b, want)
		}
	}
	wantJSON(LoginsName, 0, `{"labels":{"cluster":"default","outcome":"refused","role":"web"},"value":1}`)
	wantJSON(RefusalsName, 0, `{"labels":{"cluster":"default","reason":"token_expired","role":"web"},"value":1}`)
	wantJSON(LoginsInFlightName, 0, `{"labels":{},"value":0}`)
	// Samples sorted by label value: authenticated, failed, rejected.
	wantJSON(TokenReviewName, 0, `{"labels":{"cluster":"default","result":"authenticated"},"count":1,"sum":0.03,"buckets":[`+
		`{"le":"0.001","count":0},{"le":"0.0025","count":0},{"le":"0.005","count":0},{"le":"0.01","count":0},`+
		`{"le":"0.025","count":0},{"le":"0.05","count":1},{"le":"0.1","count":1},{"le":"0.25","count":1},`+
		`{"le":"0.5","count":1},{"le":"1","count":1},{"le":"2.5","count":1},{"le":"5","count":1},`+
		`{"le":"10","count":1},{"le":"+Inf","count":1}]}`)
	if s := got[TokenReviewName]["samples"].([]any)[1].(map[string]any); s["count"] != float64(0) || s["sum"] != float64(0) {
		t.Errorf("an empty histogram must show count and sum 0: %v", s)
	}
}

// Each cluster's series are its own, start at zero when the cluster is
// first used, and go when the cluster is forgotten.
func TestClusterSeries(t *testing.T) {
	m := New(testVocabulary)
	east := m.Cluster("east")
	east.TokenReviewed(ReviewAuthenticated, time.Millisecond)
	east.ReviewCacheLookup(CacheHit)
	m.LoginSucceeded("web", east)
	m.Cluster(DefaultCluster).ReviewCacheLookup(CacheMiss)

	mfs := parseText(t, m)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{TokenReviewName, map[string]string{"cluster": "east", "result": "authenticated"}, 1},
		{TokenReviewName, map[string]string{"cluster": "default", "result": "authenticated"}, 0},
		{ReviewCacheName, map[string]string{"cluster": "east", "result": "hit"}, 1},
		{ReviewCacheName, map[string]string{"cluster": "east", "result": "miss"}, 0},
		{ReviewCacheName, map[string]string{"cluster": "default", "result": "miss"}, 1},
		{KeyRefreshesName, map[string]string{"cluster": "east", "result": "failure"}, 0},
		{LoginsName, map[string]string{"cluster": "east", "role": "web", "outcome": "success"}, 1},
	} {
		if got := value(t, mfs, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	m.ForgetCluster("east")
	for name, fam := range parseText(t, m) {
		for _, pm := range fam.GetMetric() {
			for _, l := range pm.GetLabel() {
				if l.GetName() == "cluster" && l.GetValue() == "east" {
					t.Errorf("%s still has a series of the forgotten cluster: %v", name, pm.GetLabel())
				}
			}
		}
	}
	if got := value(t, parseText(t, m), ReviewCacheName, map[string]string{"cluster": "default", "result": "miss"}); got != 1 {
		t.Errorf("forgetting east dropped the default cluster's series: %v", got)
	}
}

// A forgotten cluster's series stay gone: what was under way when it was
// forgotten (a login that chose it, a review or key refresh holding its
// handle) writes nothing, whatever it records. A cluster made again under
// the same name starts from zero with a handle of its own; the old handle
// stays mute.
func TestForgottenClusterStaysGone(t *testing.T) {
	writes := []struct {
		name  string
		write func(m *Metrics, c *Cluster)
	}{
		{"login succeeded", func(m *Metrics, c *Cluster) { m.LoginSucceeded("web", c) }},
		{"login refused", func(m *Metrics, c *Cluster) { m.LoginRefused("web", c, "token_expired") }},
		{"login invalid", func(m *Metrics, c *Cluster) { m.LoginInvalid("web", c) }},
		{"login faulted", func(m *Metrics, c *Cluster) { m.LoginFaulted("web", c, "internal") }},
		{"token reviewed", func(_ *Metrics, c *Cluster) { c.TokenReviewed(ReviewAuthenticated, time.Millisecond) }},
		{"review cache lookup", func(_ *Metrics, c *Cluster) { c.ReviewCacheLookup(CacheMiss) }},
		{"keys refreshed", func(_ *Metrics, c *Cluster) { c.KeysRefreshed(RefreshSucceeded) }},
	}
	// eastSeries are the families with a series of east, and the sum of
	// their values (a histogram's count).
	eastSeries := func(m *Metrics) (names []string, total float64) {
		for name, fam := range parseText(t, m) {
			for _, pm := range fam.GetMetric() {
				for _, l := range pm.GetLabel() {
					if l.GetName() == "cluster" && l.GetValue() == "east" {
						names = append(names, name)
						total += pm.GetCounter().GetValue() + float64(pm.GetHistogram().GetSampleCount())
					}
				}
			}
		}
		return names, total
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			m := New(testVocabulary)
			old := m.Cluster("east")
			w.write(m, old)
			m.ForgetCluster("east")
			w.write(m, old)
			if got, _ := eastSeries(m); len(got) > 0 {
				t.Fatalf("a write after the cluster was forgotten brought back %v", got)
			}

			fresh := m.Cluster("east")
			if fresh == old {
				t.Fatal("the cluster made again got the forgotten handle")
			}
			w.write(m, old)
			w.write(m, fresh)
			want := 1.0
			if strings.HasPrefix(w.name, "login refused") || strings.HasPrefix(w.name, "login faulted") {
				want = 2 // the login, and the refusal or the fault
			}
			if _, total := eastSeries(m); total != want {
				t.Fatalf("after the cluster was made again, one write counts %v, want %v (the old handle's none)", total, want)
			}
		})
	}
}
