package soak

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// maxWrongListed bounds the wrong answers the report lists one by one.
const maxWrongListed = 30

// Markdown is the report of a run: the verdict, the setup, per phase the
// answers by outcome and reason code, wrong answers, latency, TokenReviews
// per login and recovery, the plugin process's resources, and the windows
// the oracle allowed. chart is the SVG's file name, linked from it.
func Markdown(r *Run, j Judgement, chart string) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	verdict := "PASS"
	if len(j.Failures) > 0 {
		verdict = "FAIL"
	}
	w("# Soak report: %s\n\n", verdict)
	w("A soak of %v, from %s to %s (UTC). ", r.Duration, r.Started.UTC().Format(time.DateTime), r.Ended.UTC().Format(time.DateTime))
	w("Load average (1, 5, 15 min) at the start, middle and end: %s.\n\n", strings.Join(r.LoadAvg, "; "))
	if len(j.Failures) == 0 {
		w("Verdict: **pass**. No wrong answer, no resource of the plugin process grew beyond its tolerance, and logins recovered within %v of every fault.\n\n", RecoverWithin)
	} else {
		w("Verdict: **fail**.\n\n")
		for _, f := range j.Failures {
			w("- %s\n", f)
		}
		w("\n")
	}
	w("![throughput, errors and RSS over time](%s)\n\n", chart)

	w("## Setup\n\n")
	for _, s := range r.Setup {
		w("- %s\n", s)
	}
	w("- Load: %s\n\n", r.Load)

	writePhases(w, r, j)
	writeReasons(w, r)
	writeResources(w, r, j)
	writeWrong(w, r)
	writeWindows(w)
	return b.String()
}

type writer func(format string, args ...any)

func writePhases(w writer, r *Run, j Judgement) {
	reviews, _ := r.counterDeltas()
	type tally struct {
		by        map[Outcome]int
		wrong     int
		latencies []time.Duration
		logins    int
		renewals  map[Outcome]int
	}
	tallies := make([]tally, len(r.Phases))
	for i := range tallies {
		tallies[i] = tally{by: map[Outcome]int{}, renewals: map[Outcome]int{}}
	}
	for _, a := range r.Attempts {
		t := &tallies[r.phaseOf(a.At)]
		if a.Wrong() {
			t.wrong++
		}
		if a.Kind != "login" {
			t.renewals[a.Outcome]++
			continue
		}
		t.logins++
		t.by[a.Outcome]++
		if a.Outcome != OutUnavailable {
			t.latencies = append(t.latencies, a.Latency)
		}
	}
	recovery := map[string]RecoveryRow{}
	for _, row := range j.Recovery {
		recovery[row.Phase] = row
	}
	w("## Phases\n\n")
	w("Times are from the start of the run; a fault is held from its start to its lift, then the system runs undisturbed to the phase's end. ")
	w("Logins answered by outcome (success 200, refused 403, invalid 400, fault 500, unavailable: Vault not answering or sealed). ")
	w("Wrong: a Vault token for a token that had to be refused, or a 403/400 for one that had to pass. ")
	w("Recovery: from the lift to the last login that had to pass and did not (stated bound %v).\n\n", RecoverWithin)
	w("| phase | start | lifted | end | logins | success | refused | invalid | fault | unavailable | wrong | p50 | p99 | TokenReviews/login | renewals ok/all | recovery |\n")
	w("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for i, p := range r.Phases {
		t := tallies[i]
		lifted, rec := "-", "-"
		if !p.Lifted.IsZero() {
			lifted = offset(r, p.Lifted)
		}
		if row, ok := recovery[p.Name]; ok {
			rec = row.Took.Round(100 * time.Millisecond).String()
			if !row.Recovered {
				rec += " (not recovered)"
			}
		}
		perLogin := "-"
		if t.logins > 0 {
			perLogin = fmt.Sprintf("%.2f", reviews[i]/float64(t.logins))
		}
		renewTotal := 0
		for _, n := range t.renewals {
			renewTotal += n
		}
		w("| %s | %s | %s | %s | %d | %d | %d | %d | %d | %d | %d | %v | %v | %s | %d/%d | %s |\n",
			p.Name, offset(r, p.Started), lifted, offset(r, p.Ended), t.logins,
			t.by[OutSuccess], t.by[OutRefused], t.by[OutInvalid], t.by[OutFault], t.by[OutUnavailable]+t.by[OutOther], t.wrong,
			ms(percentile(t.latencies, 0.5)), ms(percentile(t.latencies, 0.99)), perLogin,
			t.renewals[OutSuccess], renewTotal, rec)
	}
	w("\nWhat each fault did:\n\n")
	for _, p := range r.Phases {
		if len(p.Notes) > 0 {
			w("- **%s**: %s\n", p.Name, strings.Join(p.Notes, "; "))
		}
	}
	w("\n")
	ops := map[string]map[Outcome]int{}
	for _, o := range r.Ops {
		if ops[o.Kind] == nil {
			ops[o.Kind] = map[Outcome]int{}
		}
		ops[o.Kind][o.Outcome]++
	}
	w("Other requests of the mix, over the whole run (outcome: count):\n\n")
	for _, kind := range slices.Sorted(maps.Keys(ops)) {
		var parts []string
		for _, o := range Outcomes {
			if n := ops[kind][o]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", o, n))
			}
		}
		w("- `%s`: %s\n", kind, strings.Join(parts, ", "))
	}
	w("\n")
}

func writeReasons(w writer, r *Run) {
	_, reasons := r.counterDeltas()
	w("## Refusals by reason code\n\n")
	w("From the plugin's `kubeauth_refusals_total`, read every few seconds through the mount's `metrics` path (a counter that went down belongs to a new plugin process).\n\n")
	all := map[string]bool{}
	for _, m := range reasons {
		for k := range m {
			all[k] = true
		}
	}
	codes := slices.Sorted(maps.Keys(all))
	if len(codes) == 0 {
		w("None counted.\n\n")
		return
	}
	w("| phase | %s |\n|%s\n", strings.Join(codes, " | "), strings.Repeat(" --- |", len(codes)+1))
	for i, p := range r.Phases {
		row := make([]string, len(codes))
		for k, c := range codes {
			row[k] = fmt.Sprintf("%.0f", reasons[i][c])
		}
		w("| %s | %s |\n", p.Name, strings.Join(row, " | "))
	}
	w("\n")
}

func writeResources(w writer, r *Run, j Judgement) {
	w("## The plugin process\n\n")
	procs := processes(r.Samples)
	w("Sampled every few seconds from `/proc/<pid>` (VmRSS, open descriptors, TCP connections to each API server port by socket inode) and the process's goroutine profile. ")
	w("Leak rule: on the longest-lived process, the median of the last third of its samples may exceed the median of the middle third by the tolerance and no more.\n\n")
	w("| process | from | to | samples | RSS MiB first/last/max | goroutines first/last/max | fds first/last/max | connections first/last/max |\n")
	w("| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, p := range procs {
		w("| %d | %s | %s | %d | %s | %s | %s | %s |\n", p[0].PID, offset(r, p[0].At), offset(r, p[len(p)-1].At), len(p),
			span(resourceSeries(p, ResRSS), 1<<20), span(resourceSeries(p, ResGoroutines), 1),
			span(resourceSeries(p, ResFDs), 1), span(resourceSeries(p, ResConns), 1))
	}
	w("\n| resource | tolerance | verdict |\n| --- | --- | --- |\n")
	for _, row := range j.Leaks {
		g := Tolerances[row.Resource]
		w("| %s | +%.0f%% + %.0f | %s |\n", row.Resource, g.Rel*100, g.Abs, row.Detail)
	}
	w("\nConnections per API server port (last sample of each process):\n\n")
	for _, p := range procs {
		last := p[len(p)-1]
		ports := slices.Sorted(maps.Keys(last.Conns))
		var parts []string
		for _, port := range ports {
			parts = append(parts, fmt.Sprintf(":%d %d", port, last.Conns[port]))
		}
		w("- process %d: %s\n", last.PID, strings.Join(parts, ", "))
	}
	w("\n")
}

func writeWrong(w writer, r *Run) {
	w("## Wrong answers\n\n")
	n := 0
	for _, a := range r.Attempts {
		if !a.Wrong() {
			continue
		}
		if n < maxWrongListed {
			w("- %s %s `%s`: wanted %s (%s), got %s\n", offset(r, a.At), a.Kind, a.Case, a.Expect, a.Why, a.Outcome)
		}
		n++
	}
	if n == 0 {
		w("None.\n")
	} else if n > maxWrongListed {
		w("- ... and %d more\n", n-maxWrongListed)
	}
	w("\n")
}

func writeWindows(w writer) {
	w("## What the oracle allowed\n\n")
	w("Each login's expected answer is a pure function of the token, the role and the moment (`oracle.go`). Where an answer is legitimately either way it is not judged; a fault (500) or no answer is never a wrong answer but counts against recovery. The windows:\n\n")
	w("- **Clock skew**: `exp`, `nbf` and `iat` are held with %v of allowance (the API server's and the plugin's); within %v either side of that edge either answer is right.\n", ClockSkew, TimeMargin)
	w("- **Key rotation**: a token signed by a key not yet accepted by every API server is either way; from the moment the soak starts removing a key until it is gone from every API server, its tokens are either way; after that, for the API server's own cache (%v) plus the role's `review_cache_ttl` plus %v, and in `hybrid` mode also while the token is young enough to be verified against the plugin's copy of the keys (until `local_max_token_age`, at most the copy's %v refresh + %v).\n", APIServerAuthCache, ReviewMargin, KeyRefresh, KeyRefreshMargin)
	w("- **API server stopped or frozen, binding removed, CA rotated, plugin killed, Vault restarted**: no answer is either way; a 500 or no answer is allowed while the fault is held and for recovery (%v) after it.\n\n", RecoverWithin)
}

func offset(r *Run, t time.Time) string {
	return t.Sub(r.Started).Round(time.Second).String()
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func span(series []float64, unit float64) string {
	if len(series) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f/%.0f/%.0f", series[0]/unit, series[len(series)-1]/unit, slices.Max(series)/unit)
}
