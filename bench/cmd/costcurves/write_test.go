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

// When the machine slows down, the dimension's rounds and the reference's
// beside them slow alike: the raw cost then seems to grow with N, and the
// cost over the reference's stays flat, whatever the size the slowdown
// hits and however large it is. A cost the dimension itself adds grows
// over the reference too.
func TestReferenceCancelsDrift(t *testing.T) {
	sizes := []int{1, 2, 5, 10, 20, 50}
	for hit := 1; hit < len(sizes); hit++ {
		for _, slow := range []float64{1.3, 1.6, 2.5} {
			for _, own := range []float64{0, 2} { // µs the dimension adds per unit of N
				cv := &curve{dim: DimClusters}
				for i, n := range sizes {
					f := 1.0
					if i >= hit {
						f = slow
					}
					refPer := time.Duration(f * 500 * float64(time.Microsecond))
					per := time.Duration(f * (500 + own*float64(n)) * float64(time.Microsecond))
					okRef, ok := int(1000/f), int(1000/f*500/(500+own*float64(n)))
					cv.points = append(cv.points, &point{n: n,
						runs: []*load.Result{fakeRun(ok, time.Duration(ok)*per), fakeRun(ok, time.Duration(ok)*per)},
						ref:  []*load.Result{fakeRun(okRef, time.Duration(okRef)*refPer), fakeRun(okRef, time.Duration(okRef)*refPer)}})
				}
				ms := metrics(cv.dim, cv.hasRef())
				kinds := map[string]string{}
				for _, m := range ms {
					g, err := growth(cv, m)
					if err != nil {
						t.Fatal(err)
					}
					kinds[m.name] = g.Kind
				}
				raw, over := kinds["plugin CPU per login (µs)"], kinds["plugin CPU per login over the reference's"]
				overRate := kinds["logins/s over the reference's"]
				if own == 0 && (raw == "flat" || over != "flat" || overRate != "flat") {
					t.Errorf("slowdown ×%v from N=%d, nothing added: raw CPU %s, over reference %s, rate over reference %s; want not flat, flat, flat",
						slow, sizes[hit], raw, over, overRate)
				}
				if own > 0 && (over == "flat" || overRate == "flat") {
					t.Errorf("slowdown ×%v from N=%d, +%v µs per N: CPU over reference %s, rate over reference %s; want both growing",
						slow, sizes[hit], own, over, overRate)
				}
			}
		}
	}
}
