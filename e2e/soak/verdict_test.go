package soak

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestLeak(t *testing.T) {
	const mib = 1 << 20
	flat := make([]float64, 120)
	sawtooth := make([]float64, 120)
	grows := make([]float64, 120)
	slow := make([]float64, 120)
	stepUp := make([]float64, 120)
	warmup := make([]float64, 120)
	for i := range flat {
		flat[i] = 40 * mib
		// The Go heap's cycle: up 6 MiB, collected, again.
		sawtooth[i] = 40*mib + float64(i%10)*0.6*mib
		grows[i] = 40*mib + float64(i)*0.5*mib
		slow[i] = 40*mib + float64(i)*0.05*mib // 6 MiB over the run: within the tolerance
		stepUp[i] = 40 * mib
		if i >= 90 {
			stepUp[i] = 80 * mib
		}
		warmup[i] = 60 * mib
		if i < 30 {
			warmup[i] = 20*mib + float64(i)*mib // start-up growth only
		}
	}
	cases := []struct {
		name   string
		s      []float64
		g      Growth
		leaks  bool
		reason string
	}{
		{"flat", flat, Tolerances[ResRSS], false, "flat"},
		{"a garbage collector's sawtooth", sawtooth, Tolerances[ResRSS], false, "flat"},
		{"linear growth", grows, Tolerances[ResRSS], true, "grew"},
		{"slow growth within tolerance", slow, Tolerances[ResRSS], false, "flat"},
		{"a step up in the last third", stepUp, Tolerances[ResRSS], true, "grew"},
		{"growth during start-up only", warmup, Tolerances[ResRSS], false, "flat"},
		{"goroutines one more every sample", ramp(120, 20, 1), Tolerances[ResGoroutines], true, "grew"},
		{"goroutines jittering", jitter(120, 30, 5), Tolerances[ResGoroutines], false, "flat"},
		{"too short", grows[:MinLeakSamples-1], Tolerances[ResRSS], false, "too few"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leaks, detail := Leak(tc.s, tc.g)
			if leaks != tc.leaks || !strings.Contains(detail, tc.reason) {
				t.Fatalf("Leak = %v (%s), want %v (%s)", leaks, detail, tc.leaks, tc.reason)
			}
		})
	}
}

func ramp(n int, start, step float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = start + float64(i)*step
	}
	return s
}

func jitter(n int, base, amp float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = base + amp*math.Sin(float64(i))
	}
	return s
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.in); got != tc.want {
			t.Fatalf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestRecovery(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	at := func(s int, mustPass, passed bool) Answer {
		return Answer{At: t0.Add(time.Duration(s) * time.Second), MustPass: mustPass, Passed: passed}
	}
	end := t0.Add(time.Minute)
	cases := []struct {
		name      string
		answers   []Answer
		want      time.Duration
		recovered bool
	}{
		{"no failure after the fault", []Answer{at(-5, true, false), at(1, true, true), at(2, true, true)}, 0, true},
		{"failures for 7 s", []Answer{at(1, true, false), at(7, true, false), at(8, true, true)}, 7 * time.Second, true},
		{"refusals that had to be refusals do not count", []Answer{at(1, true, true), at(20, false, false), at(21, true, true)}, 0, true},
		{"failing to the end", []Answer{at(1, true, true), at(30, true, false), at(59, true, false)}, 59 * time.Second, false},
		{"answers after the window are not judged", []Answer{at(1, true, true), at(61, true, false)}, 0, true},
		{"no answer at all", nil, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := Recovery(tc.answers, t0, end)
			if d != tc.want || ok != tc.recovered {
				t.Fatalf("Recovery = %v, %v; want %v, %v", d, ok, tc.want, tc.recovered)
			}
		})
	}
}
