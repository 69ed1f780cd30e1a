package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/load"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/measure"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/progress"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/setup"
)

// fakeRun is a round of ok logins in one second whose plugin spent cpu.
func fakeRun(ok int, cpu time.Duration) *load.Result {
	lat := make([]time.Duration, ok)
	for i := range lat {
		lat[i] = time.Millisecond
	}
	return &load.Result{Elapsed: time.Second, Latencies: lat, CPU: map[string]time.Duration{measure.ProcPlugin: cpu}}
}

// A plugin cost that grows by 100 µs per decade of roles is reported as
// log, the steady rate as flat, and each dimension gets its chart.
func TestWriteResults(t *testing.T) {
	dir := t.TempDir()
	o := &options{outDir: dir, clients: 8, rounds: 2}
	c := &costs{o: o, st: &setup.Stack{}, notes: &progress.Notes{}}
	cv := &curve{dim: DimRoles}
	for i, n := range []int{1, 10, 100, 1000} {
		per := time.Duration(200+100*i) * time.Microsecond
		cv.points = append(cv.points, &point{n: n, rss: 40 << 20, runs: []*load.Result{fakeRun(1000, 1000*per), fakeRun(1010, 1010*per)}})
	}
	old := os.Stdout
	os.Stdout, _ = os.Open(os.DevNull)
	err := writeResults(o, c, []*curve{cv})
	os.Stdout = old
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"plugin CPU per login (µs): **log**", "logins/s: **flat**", "| 1000 |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("results.md lacks %q:\n%s", want, md)
		}
	}
	svg, err := os.ReadFile(filepath.Join(dir, "curve-roles.svg"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(svg), "N=1000: 500") {
		t.Errorf("the chart lacks the plugin's 500 µs at N=1000:\n%s", svg)
	}
}
