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

// Judgement is the run's verdict: it passes when Failures is empty.
type Judgement struct {
	Failures []string
	Leaks    []LeakRow     // per resource, on the longest-lived process
	Recovery []RecoveryRow // per fault phase
	Wrong    int
}

// LeakRow is one resource's leak judgement.
type LeakRow struct {
	Resource string
	Leaks    bool
	Detail   string
}

// RecoveryRow is one fault's recovery judgement.
type RecoveryRow struct {
	Phase     string
	Took      time.Duration
	Recovered bool
}

// Judge applies the three rules to a run: no wrong answer, no resource of
// the longest-lived plugin process growing beyond its tolerance, and
// logins that must pass passing again within RecoverWithin after each
// fault. A phase without a single passed login fails too: a soak that
// sent nothing proves nothing.
func Judge(r *Run) Judgement {
	var j Judgement
	for _, a := range r.Attempts {
		if a.Wrong() {
			j.Wrong++
		}
	}
	if j.Wrong > 0 {
		j.Failures = append(j.Failures, fmt.Sprintf("%d wrong answers", j.Wrong))
	}
	proc := longest(processes(r.Samples))
	for _, res := range []string{ResRSS, ResGoroutines, ResFDs, ResConns} {
		series := resourceSeries(proc, res)
		row := LeakRow{Resource: res}
		if series == nil {
			row.Detail = "not sampled"
		} else {
			row.Leaks, row.Detail = Leak(series, Tolerances[res])
		}
		if row.Leaks {
			j.Failures = append(j.Failures, fmt.Sprintf("%s of plugin process %d %s", res, proc[0].PID, row.Detail))
		}
		j.Leaks = append(j.Leaks, row)
	}
	answers := make([]Answer, 0, len(r.Attempts))
	for _, a := range r.Attempts {
		if a.Kind == "login" {
			answers = append(answers, Answer{At: a.At, MustPass: a.Expect == ExpectPass, Passed: a.Outcome == OutSuccess})
		}
	}
	passed := make([]int, len(r.Phases))
	for _, a := range answers {
		if a.Passed {
			passed[r.phaseOf(a.At)]++
		}
	}
	for i, p := range r.Phases {
		if passed[i] == 0 {
			j.Failures = append(j.Failures, fmt.Sprintf("phase %s: no login passed", p.Name))
		}
		if p.Fault == FaultNone {
			continue
		}
		row := RecoveryRow{Phase: p.Name}
		if p.Lifted.IsZero() {
			j.Failures = append(j.Failures, fmt.Sprintf("phase %s: the fault was never lifted", p.Name))
		} else {
			row.Took, row.Recovered = Recovery(answers, p.Lifted, p.Ended)
			if !row.Recovered || row.Took > RecoverWithin {
				j.Failures = append(j.Failures, fmt.Sprintf("phase %s: logins recovered after %v (recovered: %v), want within %v",
					p.Name, row.Took.Round(time.Millisecond), row.Recovered, RecoverWithin))
			}
		}
		j.Recovery = append(j.Recovery, row)
	}
	return j
}

// resourceSeries is one resource's values over a process's samples; nil
// when it was never read (goroutines without a profiling endpoint).
func resourceSeries(proc []Sample, res string) []float64 {
	out := make([]float64, 0, len(proc))
	for _, s := range proc {
		switch res {
		case ResRSS:
			out = append(out, float64(s.RSS))
		case ResFDs:
			out = append(out, float64(s.FDs))
		case ResConns:
			out = append(out, float64(s.TotalConns()))
		case ResGoroutines:
			if s.Goroutines < 0 {
				continue
			}
			out = append(out, float64(s.Goroutines))
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
