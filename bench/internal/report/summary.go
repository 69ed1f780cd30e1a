package report

import (
	"math"
	"slices"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/load"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/measure"
)

// summary aggregates the runs of one target, workload and client count.
type summary struct {
	runs             int
	ok, errors       int
	attempts         int
	wall             time.Duration
	rate             float64 // all successful requests / all runs' wall time
	minRate, maxRate float64 // the slowest and fastest single run
	p50, p99         time.Duration

	// reviews over every run; reviewsKnown only when every run's count
	// could be read.
	reviews      measure.ReviewCount
	reviewsKnown bool
	// cpu per process over every run, for the processes read in every run.
	cpu map[string]time.Duration
	// reuse is the shortest interval between two logins with one token,
	// over the runs that drew from the pool.
	drawsPool bool
	reuse     load.ReuseTracker
}

func summarize(runs []*load.Result) summary {
	s := summary{runs: len(runs), minRate: math.Inf(1), reviewsKnown: len(runs) > 0, cpu: map[string]time.Duration{}}
	var all []time.Duration
	cpuSum, cpuRuns := map[string]time.Duration{}, map[string]int{}
	for _, r := range runs {
		s.ok += r.OK()
		s.errors += r.Errors
		s.attempts += r.Attempts()
		s.wall += r.Elapsed
		all = append(all, r.Latencies...)
		s.minRate = min(s.minRate, r.Rate())
		s.maxRate = max(s.maxRate, r.Rate())
		if r.ReviewsKnown {
			s.reviews.Total += r.Reviews.Total
			s.reviews.Failed += r.Reviews.Failed
		} else {
			s.reviewsKnown = false
		}
		for p, v := range r.CPU {
			cpuSum[p] += v
			cpuRuns[p]++
		}
		if r.DrawsPool {
			s.drawsPool = true
			s.reuse.Merge(r.Reuse)
		}
	}
	for p, n := range cpuRuns {
		if n == len(runs) { // a process missing from one run is unknown overall
			s.cpu[p] = cpuSum[p]
		}
	}
	if len(runs) == 0 {
		s.minRate = 0
	}
	if s.wall > 0 {
		s.rate = float64(s.ok) / s.wall.Seconds()
	}
	slices.Sort(all)
	s.p50 = load.Percentile(all, 0.50)
	s.p99 = load.Percentile(all, 0.99)
	return s
}

// reviewsPerLogin is TokenReviews per request sent.
func (s summary) reviewsPerLogin() (float64, bool) {
	if !s.reviewsKnown || s.attempts == 0 {
		return 0, false
	}
	return s.reviews.Total / float64(s.attempts), true
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// TotalErrors is how many requests of all runs failed.
func TotalErrors(results []*load.Result) int {
	n := 0
	for _, r := range results {
		n += r.Errors
	}
	return n
}

// runKey names the runs summarized together.
type runKey struct {
	target, workload string
	clients          int
}

func summarizeAll(results []*load.Result) map[runKey]summary {
	groups := map[runKey][]*load.Result{}
	for _, r := range results {
		k := runKey{r.Target, r.Workload, r.Clients}
		groups[k] = append(groups[k], r)
	}
	out := map[runKey]summary{}
	for k, runs := range groups {
		out[k] = summarize(runs)
	}
	return out
}
