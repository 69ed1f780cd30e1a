package soak

import (
	"fmt"
	"slices"
	"time"
)

// Growth is the tolerance of the leak rule for one resource: the median of
// the last third of a process's samples may exceed the median of its middle
// third by Rel (a fraction) plus Abs, and no more. The first third is
// start-up (caches filling, connections opening) and is not judged.
type Growth struct {
	Rel float64
	Abs float64
}

// Tolerances per resource, stated in the report. RSS moves with the Go
// heap's collection cycle by a few MiB; goroutines and descriptors with the
// requests in flight at the sampling instant (the load has 6 workers).
var Tolerances = map[string]Growth{
	ResRSS:        {Rel: 0.10, Abs: 8 << 20},
	ResGoroutines: {Rel: 0.10, Abs: 15},
	ResFDs:        {Rel: 0.10, Abs: 10},
	ResConns:      {Rel: 0, Abs: 6},
}

// MinLeakSamples is the fewest samples a process needs to be judged.
const MinLeakSamples = 12

// Leak judges one resource's samples of one process: whether the last
// third's median exceeds the middle third's beyond g, with the two medians
// for the report. A series too short to judge is no leak and says so.
func Leak(samples []float64, g Growth) (leaks bool, detail string) {
	if len(samples) < MinLeakSamples {
		return false, fmt.Sprintf("%d samples: too few to judge (want %d)", len(samples), MinLeakSamples)
	}
	n := len(samples) / 3
	middle := median(samples[n : 2*n])
	last := median(samples[len(samples)-n:])
	limit := middle*(1+g.Rel) + g.Abs
	if last > limit {
		return true, fmt.Sprintf("grew: median %.0f in the middle third, %.0f in the last (limit %.0f)", middle, last, limit)
	}
	return false, fmt.Sprintf("flat: median %.0f in the middle third, %.0f in the last (limit %.0f)", middle, last, limit)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Answer is one answered login as the recovery rule sees it: when it was
// answered, whether it had to pass, and whether it did.
type Answer struct {
	At         time.Time
	MustPass   bool
	Passed     bool
	WrongValue bool // a wrong answer (kept for the chart)
}

// Recovery is how long after a fault was lifted (lifted) logins that had to
// pass kept failing, judged on the answers up to until: the time from
// lifted to the last such failure. recovered is false when failures went on
// to the end, or no login that had to pass passed after the last failure.
func Recovery(answers []Answer, lifted, until time.Time) (d time.Duration, recovered bool) {
	var lastFail time.Time
	passedAfter := false
	for _, a := range answers {
		if !a.MustPass || a.At.Before(lifted) || !a.At.Before(until) {
			continue
		}
		if !a.Passed {
			lastFail, passedAfter = a.At, false
		} else {
			passedAfter = true
		}
	}
	if lastFail.IsZero() {
		return 0, passedAfter
	}
	return lastFail.Sub(lifted), passedAfter
}
