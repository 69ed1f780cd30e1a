package soak

import (
	"slices"
	"time"
)

// Outcome is how Vault answered a request, as the client saw it.
type Outcome string

const (
	OutSuccess     Outcome = "success"     // 200 with a Vault token (a login) or a good answer
	OutRefused     Outcome = "refused"     // 403
	OutInvalid     Outcome = "invalid"     // 400
	OutFault       Outcome = "fault"       // 500: Kubernetes or the setup failed
	OutUnavailable Outcome = "unavailable" // no answer from Vault, or 502/503 (sealed, restarting)
	OutOther       Outcome = "other"       // any other status
)

// Outcomes in the report's column order.
var Outcomes = []Outcome{OutSuccess, OutRefused, OutInvalid, OutFault, OutUnavailable, OutOther}

// OutcomeOf classifies an HTTP status (0: no answer).
func OutcomeOf(status int, issued bool) Outcome {
	switch {
	case status == 200 && issued, status == 204:
		return OutSuccess
	case status == 200:
		return OutOther // a 200 without a token is no login
	case status == 403:
		return OutRefused
	case status == 400:
		return OutInvalid
	case status == 500:
		return OutFault
	case status == 0, status == 502, status == 503:
		return OutUnavailable
	}
	return OutOther
}

// Attempt is one login or renewal and the answer the oracle wanted.
type Attempt struct {
	At      time.Time // when it was answered
	Kind    string    // "login" or "renew"
	Case    string    // what was sent, e.g. "always/good"
	Expect  Expect
	Why     string // the oracle's reason
	Outcome Outcome
	Latency time.Duration
}

// Wrong is whether the answer contradicts the oracle: a Vault token for a
// token that had to be refused, or a refusal of one that had to pass. A
// fault or no answer is never wrong; it counts against recovery.
func (a Attempt) Wrong() bool {
	switch a.Expect {
	case ExpectPass:
		return a.Outcome == OutRefused || a.Outcome == OutInvalid
	case ExpectRefuse:
		return a.Outcome == OutSuccess
	}
	return false
}

// Op is one of the other requests of the mix (explain, metrics, config
// check, writes): only counted.
type Op struct {
	At      time.Time
	Kind    string
	Outcome Outcome
}

// PhaseRun is what happened in one phase: when its fault was applied and
// lifted (zero for the warm-up), and what the fault did, in words.
type PhaseRun struct {
	Phase
	Started, Lifted, Ended time.Time
	Notes                  []string
}

// Counters are the plugin's own counters read at one moment.
type Counters struct {
	At      time.Time
	Reviews float64            // TokenReviews made (all results)
	Reasons map[string]float64 // refusals by reason code
}

// Run is everything a soak recorded; the report is a pure function of it.
type Run struct {
	Started, Ended time.Time
	Duration       time.Duration
	Load           string   // the load's shape, in words
	Setup          []string // the stack and the mount, in words
	Phases         []PhaseRun
	Attempts       []Attempt
	Ops            []Op
	Samples        []Sample
	Counters       []Counters
	LoadAvg        []string // /proc/loadavg at the start, the middle and the end
}

// phaseOf is the index of the phase that was running at t.
func (r *Run) phaseOf(t time.Time) int {
	for i, p := range r.Phases {
		if t.Before(p.Ended) || p.Ended.IsZero() {
			return i
		}
	}
	return len(r.Phases) - 1
}

// counterDeltas is the growth of the plugin's counters within each phase.
// A counter that went down belongs to a new plugin process: its value is
// all growth since that process started.
func (r *Run) counterDeltas() (reviews []float64, reasons []map[string]float64) {
	reviews = make([]float64, len(r.Phases))
	reasons = make([]map[string]float64, len(r.Phases))
	for i := range reasons {
		reasons[i] = map[string]float64{}
	}
	for i := 1; i < len(r.Counters); i++ {
		prev, cur := r.Counters[i-1], r.Counters[i]
		p := r.phaseOf(cur.At)
		reviews[p] += growth(prev.Reviews, cur.Reviews)
		for reason, v := range cur.Reasons {
			if d := growth(prev.Reasons[reason], v); d > 0 {
				reasons[p][reason] += d
			}
		}
	}
	return reviews, reasons
}

func growth(prev, cur float64) float64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

// processes splits the samples by plugin process, in the order they ran.
func processes(samples []Sample) [][]Sample {
	var out [][]Sample
	for _, s := range samples {
		if n := len(out); n > 0 && out[n-1][0].PID == s.PID {
			out[n-1] = append(out[n-1], s)
			continue
		}
		out = append(out, []Sample{s})
	}
	return out
}

// longest is the process with the most samples: the one the leak verdict
// judges (the schedule replaces the process early in the run on purpose).
func longest(procs [][]Sample) []Sample {
	var best []Sample
	for _, p := range procs {
		if len(p) > len(best) {
			best = p
		}
	}
	return best
}

// percentile of latencies (p in [0,1]); 0 for none.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p*float64(len(s)-1) + 0.5)
	return s[i]
}
