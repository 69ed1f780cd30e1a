package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/load"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/measure"
)

// reuseCell describes how soon a token came back in runs that drew from
// the pool: the shortest interval seen between two logins with one token,
// and the pool's cycle at the target's rate (the interval if it alone drew
// from the pool). Either under the API server's review cache TTL is marked.
func reuseCell(s summary, poolSize int) string {
	mark := func(d time.Duration) string {
		v := fmt.Sprintf("%.1f s", d.Seconds())
		if d < load.APIServerReviewCacheTTL {
			v += " (< 10 s!)"
		}
		return v
	}
	seen := "none"
	if s.reuse.OK {
		seen = mark(s.reuse.Min)
	}
	return seen + " / " + mark(load.PoolCycle(poolSize, s.rate))
}

func printTables(w io.Writer, o *Settings, sums map[runKey]summary, key runKey, poolSize int) {
	var rows []row
	for _, t := range o.Targets {
		k := key
		k.target = t
		if s, ok := sums[k]; ok && s.runs > 0 {
			rows = append(rows, row{t, s})
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\n### %s workload, %d concurrent client(s)\n\n", key.workload, key.clients)
	printRunTable(w, rows, poolSize)
	printCPUTable(w, rows)
	printFailures(w, rows)
}

// row is one target's line of a table.
type row struct {
	target string
	s      summary
}

func printRunTable(w io.Writer, rows []row, poolSize int) {
	fmt.Fprintln(w, "| target | runs | ok | errors | logins/s | per-run (min–max) | p50 ms | p99 ms | TokenReviews | reviews/login | token reuse: shortest seen / pool cycle |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range rows {
		s := r.s
		reviews, perLogin := reviewCells(s)
		reuse := "–"
		if s.drawsPool {
			reuse = reuseCell(s, poolSize)
		}
		fmt.Fprintf(w, "| %s | %d | %d | %d | %.1f | %.1f–%.1f | %.2f | %.2f | %s | %s | %s |\n",
			r.target, s.runs, s.ok, s.errors, s.rate, s.minRate, s.maxRate, ms(s.p50), ms(s.p99), reviews, perLogin, reuse)
	}
}

// reviewCells are the TokenReviews and reviews/login cells of a row.
func reviewCells(s summary) (reviews, perLogin string) {
	reviews, perLogin = "–", "–"
	if s.reviewsKnown {
		reviews = strconv.FormatFloat(s.reviews.Total, 'f', 0, 64)
		if s.reviews.Failed > 0 {
			reviews += fmt.Sprintf(" (%.0f not 2xx)", s.reviews.Failed)
		}
	}
	if v, ok := s.reviewsPerLogin(); ok {
		perLogin = strconv.FormatFloat(v, 'f', 3, 64)
	}
	return reviews, perLogin
}

// printCPUTable says where the CPU went, per successful login, for the
// rows whose processes were read.
func printCPUTable(w io.Writer, rows []row) {
	header := false
	for _, r := range rows {
		if len(r.s.cpu) == 0 {
			continue
		}
		if !header {
			fmt.Fprintf(w, "\n| CPU ms per login | %s | all |\n", strings.Join(measure.ProcOrder, " | "))
			fmt.Fprintf(w, "| --- |%s ---: |\n", strings.Repeat(" ---: |", len(measure.ProcOrder)))
			header = true
		}
		cells, all := cpuCells(r.s)
		fmt.Fprintf(w, "| %s | %s | %.3f |\n", r.target, strings.Join(cells, " | "), all)
	}
}

// cpuCells are a row's CPU ms per login, process by process, and over all
// the processes read.
func cpuCells(s summary) ([]string, float64) {
	cells := []string{}
	var total time.Duration
	for _, p := range measure.ProcOrder {
		v, ok := s.cpu[p]
		per, okPer := measure.CPUPerLogin(v, s.ok)
		if !ok || !okPer {
			cells = append(cells, "–")
			continue
		}
		total += v
		cells = append(cells, strconv.FormatFloat(per, 'f', 3, 64))
	}
	all, _ := measure.CPUPerLogin(total, s.ok)
	return cells, all
}

// printFailures warns under the tables of every target with failed
// requests.
func printFailures(w io.Writer, rows []row) {
	var notes []string
	for _, r := range rows {
		if r.s.errors > 0 {
			notes = append(notes, fmt.Sprintf("**%s: %d of %d requests failed; its numbers cover the successful ones only.**", r.target, r.s.errors, r.s.attempts))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\n%s\n", strings.Join(notes, "\n"))
	}
}
