package measure

import (
	"math"
	"strings"
	"testing"
)

var posInf = math.Inf(1)

// An excerpt of a kube-apiserver's /metrics, with series that must not be
// counted around the TokenReview ones.
const metricsExcerpt = `# HELP apiserver_request_total [STABLE] Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.
# TYPE apiserver_request_total counter
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="serviceaccounts",scope="resource",subresource="token",verb="POST",version="v1"} 12301
apiserver_request_total{code="201",component="apiserver",dry_run="",group="authentication.k8s.io",resource="tokenreviews",scope="resource",subresource="",verb="POST",version="v1"} 4242
apiserver_request_total{code="429",component="apiserver",dry_run="",group="authentication.k8s.io",resource="tokenreviews",scope="resource",subresource="",verb="POST",version="v1"} 8
apiserver_request_total{code="201",component="apiserver",dry_run="",group="authentication.k8s.io",resource="tokenreviews",scope="resource",subresource="",verb="POST",version="v1beta1"} 2
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="tokenreviews-not",scope="resource",subresource="",verb="GET",version="v1"} 999
# HELP apiserver_request_duration_seconds [STABLE] Response latency distribution.
# TYPE apiserver_request_duration_seconds histogram
apiserver_request_duration_seconds_bucket{component="apiserver",dry_run="",group="authentication.k8s.io",resource="tokenreviews",scope="resource",subresource="",verb="POST",version="v1",le="0.005"} 4000
apiserver_request_total_other{resource="tokenreviews"} 7
`

func TestCountTokenReviews(t *testing.T) {
	got, err := countTokenReviews([]byte(metricsExcerpt))
	if err != nil {
		t.Fatal(err)
	}
	// 4242 + 8 + 2: every code and version of the tokenreviews resource;
	// the 429s also as failed.
	if got.Total != 4252 || got.Failed != 8 {
		t.Errorf("countTokenReviews = %+v, want total 4252, failed 8", got)
	}
	if d := got.Sub(ReviewCount{Total: 4000, Failed: 3}); d.Total != 252 || d.Failed != 5 {
		t.Errorf("sub = %+v, want 252, 5", d)
	}
}

// Before any TokenReview the series does not exist: that is an error, not
// zero, since setup has made reviews by the time counts are taken.
func TestCountTokenReviewsWithoutTheSeries(t *testing.T) {
	_, err := countTokenReviews([]byte("# TYPE apiserver_request_total counter\napiserver_request_total{resource=\"pods\",code=\"200\"} 3\n"))
	if err == nil || !strings.Contains(err.Error(), "tokenreviews") {
		t.Fatalf("err = %v, want one naming the missing series", err)
	}
}

func TestParseSample(t *testing.T) {
	tests := []struct {
		line   string
		name   string
		labels map[string]string
		value  float64
	}{
		{`up 1`, "up", map[string]string{}, 1},
		{`x{} 2.5 1700000000000`, "x", map[string]string{}, 2.5},
		{`x{a="1",b=""} 3e2`, "x", map[string]string{"a": "1", "b": ""}, 300},
		{`x{a="q\"uote",b="back\\slash",c="new\nline"} 4`, "x", map[string]string{"a": `q"uote`, "b": `back\slash`, "c": "new\nline"}, 4},
		{`x{a="comma, and } brace",} 5`, "x", map[string]string{"a": "comma, and } brace"}, 5},
		{`x{a="1"} +Inf`, "x", map[string]string{"a": "1"}, posInf},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			name, labels, value, err := parseSample(tc.line)
			if err != nil {
				t.Fatal(err)
			}
			if name != tc.name || value != tc.value || len(labels) != len(tc.labels) {
				t.Fatalf("parseSample = %q %v %v, want %q %v %v", name, labels, value, tc.name, tc.labels, tc.value)
			}
			for k, v := range tc.labels {
				if labels[k] != v {
					t.Errorf("label %s = %q, want %q", k, labels[k], v)
				}
			}
		})
	}
	for _, bad := range []string{
		``, `{a="1"} 1`, `x{a="1" 1`, `x{a=1} 1`, `x{a="1"}`, `x{a="1"} one`, `x{a="1"} NaN`, `x{a="1"} 1 2 3`, `x{a="unterminated} 1`,
	} {
		if _, _, _, err := parseSample(bad); err == nil {
			t.Errorf("parseSample(%q) succeeded", bad)
		}
	}
}
