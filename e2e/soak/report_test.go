package soak

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// syntheticRun is a 4-minute run with a steady load, a plugin process that
// lives throughout with flat resources, and one fault phase whose logins
// fail for 3 s after the lift.
func syntheticRun(t0 time.Time) *Run {
	r := &Run{Started: t0, Ended: t0.Add(4 * time.Minute), Duration: 4 * time.Minute, Load: "synthetic", LoadAvg: []string{"0.1 0.1 0.1"}}
	r.Phases = []PhaseRun{
		{Phase: Phase{Name: "warm-up", Fault: FaultNone}, Started: t0, Ended: t0.Add(time.Minute)},
		{Phase: Phase{Name: "plugin-kill", Fault: FaultPluginKill}, Started: t0.Add(time.Minute), Lifted: t0.Add(70 * time.Second), Ended: r.Ended,
			Notes: []string{"killed pid 1"}},
	}
	for s := 0; s < 240; s++ {
		at := t0.Add(time.Duration(s) * time.Second)
		out := OutSuccess
		if s >= 60 && s < 73 {
			out = OutFault
		}
		r.Attempts = append(r.Attempts,
			Attempt{At: at, Kind: "login", Case: "always/good", Expect: ExpectPass, Outcome: out, Latency: time.Duration(s%10+1) * time.Millisecond},
			Attempt{At: at, Kind: "login", Case: "always/forged", Expect: ExpectRefuse, Outcome: OutRefused, Latency: time.Millisecond})
		if s%5 == 0 {
			r.Samples = append(r.Samples, Sample{At: at, PID: 42, RSS: 40 << 20, FDs: 20, Goroutines: 30, Conns: map[int]int{29444: 1, 29445: 1}})
			r.Counters = append(r.Counters, Counters{At: at, Reviews: float64(s), Reasons: map[string]float64{"signature_invalid": float64(s)}})
		}
	}
	return r
}

func TestJudgeAndReportOfAPassingRun(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	r := syntheticRun(t0)
	j := Judge(r)
	if len(j.Failures) != 0 {
		t.Fatalf("failures: %v", j.Failures)
	}
	if len(j.Recovery) != 1 || j.Recovery[0].Took != 2*time.Second || !j.Recovery[0].Recovered {
		t.Fatalf("recovery %+v, want 2 s (the last failure at 72 s, lifted at 70 s)", j.Recovery)
	}
	md := Markdown(r, j, "report.svg")
	for _, want := range []string{"# Soak report: PASS", "| plugin-kill |", "signature_invalid", "killed pid 1", "![throughput", "None.", "2s"} {
		if !strings.Contains(md, want) {
			t.Fatalf("the report lacks %q:\n%s", want, md)
		}
	}
	checkSVG(t, SVG(r))
}

func TestJudgeFailsOnWrongAnswersLeaksAndSlowRecovery(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		break_ func(r *Run)
		want   string
	}{
		{"a forged token let in", func(r *Run) { r.Attempts[201].Outcome = OutSuccess }, "1 wrong answers"},
		{"a good token refused", func(r *Run) { r.Attempts[200].Outcome = OutRefused }, "1 wrong answers"},
		{"RSS growing", func(r *Run) {
			for i := range r.Samples {
				r.Samples[i].RSS += int64(i) << 20
			}
		}, "rss_bytes of plugin process 42 grew"},
		{"connections piling up", func(r *Run) {
			for i := range r.Samples {
				r.Samples[i].Conns = map[int]int{29444: i}
			}
		}, "apiserver_conns of plugin process 42 grew"},
		{"no recovery within the bound", func(r *Run) {
			for i := range r.Attempts {
				if r.Attempts[i].Expect == ExpectPass && r.Attempts[i].At.Sub(t0) < 110*time.Second && r.Attempts[i].At.Sub(t0) >= 60*time.Second {
					r.Attempts[i].Outcome = OutUnavailable
				}
			}
		}, "phase plugin-kill: logins recovered after 39s"},
		{"no login passed in a phase", func(r *Run) {
			for i := range r.Attempts {
				if r.Attempts[i].At.Sub(t0) < time.Minute && r.Attempts[i].Outcome == OutSuccess {
					r.Attempts[i].Outcome = OutFault
				}
			}
		}, "phase warm-up: no login passed"},
		{"a fault never lifted", func(r *Run) { r.Phases[1].Lifted = time.Time{} }, "never lifted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := syntheticRun(t0)
			tc.break_(r)
			j := Judge(r)
			if !strings.Contains(strings.Join(j.Failures, "\n"), tc.want) {
				t.Fatalf("failures %q, want one with %q", j.Failures, tc.want)
			}
			md := Markdown(r, j, "report.svg")
			if !strings.Contains(md, "# Soak report: FAIL") || !strings.Contains(md, tc.want) {
				t.Fatalf("the report does not say it failed with %q:\n%s", tc.want, md)
			}
			checkSVG(t, SVG(r))
		})
	}
}

func TestCounterDeltasAcrossAPluginRestart(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	r := &Run{Started: t0, Phases: []PhaseRun{{Started: t0, Ended: t0.Add(time.Minute)}, {Started: t0.Add(time.Minute), Ended: t0.Add(2 * time.Minute)}}}
	r.Counters = []Counters{
		{At: t0, Reviews: 5, Reasons: map[string]float64{"a": 1}},
		{At: t0.Add(30 * time.Second), Reviews: 15, Reasons: map[string]float64{"a": 3}},
		{At: t0.Add(90 * time.Second), Reviews: 4, Reasons: map[string]float64{"a": 1, "b": 2}}, // a new process
		{At: t0.Add(100 * time.Second), Reviews: 10, Reasons: map[string]float64{"a": 1, "b": 2}},
	}
	reviews, reasons := r.counterDeltas()
	if reviews[0] != 10 || reviews[1] != 10 {
		t.Fatalf("reviews per phase %v, want [10 10]", reviews)
	}
	if reasons[0]["a"] != 2 || reasons[1]["a"] != 1 || reasons[1]["b"] != 2 {
		t.Fatalf("reasons per phase %v", reasons)
	}
}

func TestOutcomeOf(t *testing.T) {
	for _, tc := range []struct {
		status int
		issued bool
		want   Outcome
	}{
		{200, true, OutSuccess}, {200, false, OutOther}, {204, false, OutSuccess}, {403, false, OutRefused},
		{400, false, OutInvalid}, {500, false, OutFault}, {0, false, OutUnavailable}, {503, false, OutUnavailable},
		{429, false, OutOther},
	} {
		if got := OutcomeOf(tc.status, tc.issued); got != tc.want {
			t.Fatalf("OutcomeOf(%d, %v) = %s, want %s", tc.status, tc.issued, got, tc.want)
		}
	}
}

func TestNiceCeil(t *testing.T) {
	for in, want := range map[float64]float64{0: 1, 0.3: 0.5, 1: 1, 1.2: 2, 3: 5, 7: 10, 42: 50, 180: 200, 999: 1000} {
		if got := niceCeil(in); got != want {
			t.Fatalf("niceCeil(%v) = %v, want %v", in, got, want)
		}
	}
}

// checkSVG holds the chart to being well-formed XML with a line per series.
func checkSVG(t *testing.T, svg string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	lines := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			lines++
		}
	}
	if lines != 6 {
		t.Fatalf("the SVG has %d lines, want 6", lines)
	}
}
