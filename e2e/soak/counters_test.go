package soak

import (
	"maps"
	"testing"
)

func TestParseCounters(t *testing.T) {
	text := `# HELP kubeauth_refusals_total Refused logins by role, cluster and reason code.
# TYPE kubeauth_refusals_total counter
kubeauth_refusals_total{cluster="default",reason="audience_mismatch",role="always"} 3
kubeauth_refusals_total{cluster="default",reason="audience_mismatch",role="hybrid"} 2
kubeauth_refusals_total{cluster="b",reason="cluster_not_bound",role="b"} 1
kubeauth_tokenreview_duration_seconds_bucket{cluster="default",result="authenticated",le="0.001"} 4
kubeauth_tokenreview_duration_seconds_count{cluster="default",result="authenticated"} 10
kubeauth_tokenreview_duration_seconds_count{cluster="b",result="rejected"} 5
kubeauth_tokenreview_duration_seconds_count{cluster="b",result="failed"} x
kubeauth_logins_total{cluster="default",outcome="success",role="always"} 99
garbage
`
	c := parseCounters(text)
	if c.Reviews != 15 {
		t.Fatalf("reviews %v, want 15", c.Reviews)
	}
	if want := map[string]float64{"audience_mismatch": 5, "cluster_not_bound": 1}; !maps.Equal(c.Reasons, want) {
		t.Fatalf("reasons %v, want %v", c.Reasons, want)
	}
}
