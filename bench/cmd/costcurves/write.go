package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/curves"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/load"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/measure"
)

// curve is one dimension's measured points.
type curve struct {
	dim      string
	points   []*point
	baseline *point // flood: the valid logins alone
}

// What each dimension's N is, for the charts and tables.
var dimLabel = map[string]string{
	DimRoles:      "roles on the mount (logins spread over all)",
	DimClusters:   "clusters on the mount (config + cluster/<name>)",
	DimNamespaces: "namespaces selected by the role's label selector (one login account each)",
	DimAccounts:   "distinct service accounts (one token each)",
	DimFlood:      "bad tokens per valid one (forged and expired, paced)",
}

const mib = 1 << 20

// metric is one measured cost of a point, with its per-round spread.
type metric struct {
	name   string
	value  func(*point) float64
	spread func(*point) float64
}

func metrics(dim string, withRef bool) []metric {
	pluginUS := func(r *load.Result) float64 { return perLoginUS(r, measure.ProcPlugin) }
	rss := metric{name: "plugin RSS (MiB)", value: func(p *point) float64 { return float64(p.rss) / mib }, spread: func(*point) float64 { return 0 }}
	if dim == DimFlood {
		return []metric{
			{name: "valid logins/s", value: func(p *point) float64 { return sumRate(p.runs) }, spread: func(p *point) float64 { return p.spread((*load.Result).Rate) }},
			{name: "valid p99 (ms)", value: func(p *point) float64 { return latency(p.runs, 0.99) }, spread: func(*point) float64 { return 0 }},
			rss,
		}
	}
	ms := []metric{
		{name: "logins/s", value: (*point).rate, spread: func(p *point) float64 { return p.spread((*load.Result).Rate) }},
		{name: "plugin CPU per login (µs)", value: func(p *point) float64 { return p.cpuUS(measure.ProcPlugin) }, spread: func(p *point) float64 { return p.spread(pluginUS) }},
		rss,
	}
	if !withRef {
		return ms
	}
	// The same two costs over the reference's: what the dimension costs
	// once the machine's drift is taken out.
	return append(ms,
		metric{name: "logins/s over the reference's", value: (*point).rateOverRef,
			spread: func(p *point) float64 { return spreadOf(p.roundRatios((*load.Result).Rate)) }},
		metric{name: "plugin CPU per login over the reference's", value: (*point).cpuOverRef,
			spread: func(p *point) float64 { return spreadOf(p.roundRatios(pluginUS)) }},
	)
}

// hasRef reports whether the curve's points were measured beside the
// reference mount.
func (cv *curve) hasRef() bool {
	return len(cv.points) > 0 && len(cv.points[0].ref) > 0
}

// growth classifies one metric of the curve. The noise is the mean
// per-round spread of the points, and never less than 5% of the mean
// value: with two or three rounds the spread alone can come out near zero
// by chance.
func growth(cv *curve, m metric) (curves.Growth, error) {
	var pts []curves.Point
	noise, mean := 0.0, 0.0
	for _, p := range cv.points {
		v := m.value(p)
		pts = append(pts, curves.Point{N: float64(p.n), Y: v})
		noise += m.spread(p)
		mean += v
	}
	if len(pts) == 0 {
		return curves.Growth{}, fmt.Errorf("no points")
	}
	noise, mean = noise/float64(len(pts)), mean/float64(len(pts))
	return curves.Classify(pts, max(noise, 0.05*mean))
}

// writeResults writes results.md and one chart per measured dimension to
// -out-dir, and the markdown to standard output too.
func writeResults(o *options, c *costs, cvs []*curve) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "- %s; Vault %s, kube-apiserver %s; plugin %s %s; every mount review_mode=hybrid, review_cache_ttl=%s, local_max_token_age=%s\n",
		c.started.UTC().Format("2006-01-02 15:04")+"–"+time.Now().UTC().Format("15:04 UTC"), c.st.Facts.VaultVersion, c.st.Facts.KubeVersion, o.plugins.Name, o.plugins.Version, o.role.ReviewCacheTTL, o.role.LocalMaxTokenAge)
	fmt.Fprintf(&b, "- %d closed-loop clients, warm-up %s, %d rounds of %s per size; load generator %s, %d CPUs; load average %s at the start, %s at the end\n",
		o.clients, o.warmup, o.rounds, o.duration, runtime.Version(), runtime.NumCPU(), c.loadAtStart, measure.LoadAverage())
	if o.reference {
		fmt.Fprintf(&b, "- every round of a size ran beside a round of the reference mount %s (one cluster, one role, the %d base accounts' tokens), before it in odd rounds and after it in even ones; \"over reference\" is the size's cost divided by the reference's in the same rounds (the flood has none)\n",
			c.ref.Mount, len(c.base))
	}
	for _, n := range c.notes.List() {
		fmt.Fprintf(&b, "- note: %s\n", n)
	}
	for _, cv := range cvs {
		writeCurve(&b, cv)
		chart := curves.Chart{Title: cv.dim + ": " + dimLabel[cv.dim], XLabel: cv.dim}
		for _, m := range metrics(cv.dim, cv.hasRef()) {
			panel := curves.Panel{Title: m.name}
			for _, p := range cv.points {
				panel.Points = append(panel.Points, curves.Point{N: float64(p.n), Y: m.value(p)})
			}
			chart.Panels = append(chart.Panels, panel)
		}
		if err := os.WriteFile(filepath.Join(o.outDir, "curve-"+cv.dim+".svg"), chart.SVG(), 0o644); err != nil {
			return err
		}
	}
	os.Stdout.Write(b.Bytes())
	return os.WriteFile(filepath.Join(o.outDir, "results.md"), b.Bytes(), 0o644)
}

func writeCurve(b *bytes.Buffer, cv *curve) {
	fmt.Fprintf(b, "\n#### %s: %s\n\n", cv.dim, dimLabel[cv.dim])
	if cv.dim == DimFlood {
		writeFloodTable(b, cv)
	} else {
		writeTable(b, cv)
	}
	b.WriteString("\n")
	for _, m := range metrics(cv.dim, cv.hasRef()) {
		g, err := growth(cv, m)
		if err != nil {
			fmt.Fprintf(b, "- %s: %v\n", m.name, err)
			continue
		}
		fmt.Fprintf(b, "- %s: **%s** (fit per decade of N %+.3g, per unit of N %+.3g; rise over the range %+.3g against noise %.3g)\n",
			m.name, g.Kind, g.PerDecade, g.PerN, g.Change, g.Noise)
	}
}

// writeTable is a dimension's points, and with reference rounds the
// reference's logins/s and plugin CPU in the same rounds and the ratios.
func writeTable(b *bytes.Buffer, cv *curve) {
	ref := cv.hasRef()
	b.WriteString("| N | setup | logins/s | per-round | p50 ms | p99 ms | plugin µs/login | vault µs/login | plugin RSS MiB |")
	if ref {
		b.WriteString(" reference logins/s | reference plugin µs/login | logins/s over reference | plugin µs over reference |")
	}
	b.WriteString("\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	if ref {
		b.WriteString(" ---: | ---: | ---: | ---: |")
	}
	b.WriteString("\n")
	for _, p := range cv.points {
		var per []string
		for _, r := range p.runs {
			per = append(per, fmt.Sprintf("%.0f", r.Rate()))
		}
		fmt.Fprintf(b, "| %d | %s | %.0f | %s | %.2f | %.2f | %.0f | %.0f | %.1f |", p.n, p.setup.Round(100*time.Millisecond), p.rate(), strings.Join(per, ", "),
			latency(p.runs, 0.5), latency(p.runs, 0.99), p.cpuUS(measure.ProcPlugin), p.cpuUS(measure.ProcVault), float64(p.rss)/mib)
		if ref {
			fmt.Fprintf(b, " %.0f | %.0f | %.3f | %.3f |", sumRate(p.ref), cpuPerLoginUS(p.ref, measure.ProcPlugin), p.rateOverRef(), p.cpuOverRef())
		}
		b.WriteString("\n")
	}
}

func writeFloodTable(b *bytes.Buffer, cv *curve) {
	b.WriteString("| bad per valid | valid logins/s | valid failed | valid late | valid p50 ms | valid p99 ms | bad sent/s | bad let in | bad late | TokenReviews | plugin CPU ms/s | plugin RSS MiB |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	rows := cv.points
	if cv.baseline != nil {
		rows = append([]*point{cv.baseline}, rows...)
	}
	for _, p := range rows {
		failedN, lateN, badSent, badOK, badLate := 0, 0, 0, 0, 0
		var secs float64
		var cpu time.Duration
		for _, r := range p.runs {
			failedN += r.Errors
			lateN += r.Late()
			secs += r.Elapsed.Seconds()
			cpu += r.CPU[measure.ProcPlugin]
		}
		for _, r := range p.flood {
			badSent += r.Attempts()
			badOK += r.OK()
			badLate += r.Late()
		}
		fmt.Fprintf(b, "| %d | %.1f | %d | %d | %.2f | %.2f | %.0f | %d | %d | %.0f | %.0f | %.1f |\n", p.n, sumRate(p.runs), failedN, lateN,
			latency(p.runs, 0.5), latency(p.runs, 0.99), float64(badSent)/max(secs, 1e-9), badOK, badLate, p.reviews,
			float64(cpu)/float64(time.Millisecond)/max(secs, 1e-9), float64(p.rss)/mib)
	}
}
