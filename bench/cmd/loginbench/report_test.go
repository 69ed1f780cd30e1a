package main

import (
	"testing"
	"time"
)

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
			if got := percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("percentile(%v) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}

func TestSummarizeCountsOnlySuccessesAsThroughput(t *testing.T) {
	runs := []*runResult{
		{elapsed: 2 * time.Second, latencies: []time.Duration{3, 1, 2}, errors: 4},
		{elapsed: 1 * time.Second, latencies: []time.Duration{6, 5, 4}},
	}
	s := summarize(runs)
	if s.ok != 6 || s.errors != 4 {
		t.Fatalf("ok, errors = %d, %d; want 6, 4", s.ok, s.errors)
	}
	if s.rate != 2 {
		t.Errorf("rate = %v, want 6 ok / 3 s = 2", s.rate)
	}
	if s.minRate != 1.5 || s.maxRate != 3 {
		t.Errorf("per-run rates = %v–%v, want 1.5–3", s.minRate, s.maxRate)
	}
	if s.p50 != 3 || s.p99 != 6 {
		t.Errorf("p50, p99 = %v, %v; want 3, 6 (over both runs, sorted)", s.p50, s.p99)
	}
}

func TestParseFlagsKeepsRoundOrder(t *testing.T) {
	o, err := parseFlags([]string{
		"-targets", "floor,builtin", "-clients", "4, 2",
		"-vault-addr", "http://127.0.0.1:1", "-vault-token", "t",
		"-kubeconfig", "kc", "-kube-host", "https://127.0.0.1:2", "-kube-ca-file", "ca",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := o.targets; len(got) != 2 || got[0] != targetBuiltin || got[1] != targetFloor {
		t.Errorf("targets = %v, want [builtin floor]", got)
	}
	if o.maxClients() != 4 {
		t.Errorf("maxClients = %d, want 4", o.maxClients())
	}
}

func TestParseFlagsRejects(t *testing.T) {
	for _, args := range [][]string{
		{"-clients", "0"},
		{"-targets", "plugin,other"},
		{"-rounds", "0"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("parseFlags(%q) succeeded", args)
		}
	}
}
