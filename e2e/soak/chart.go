package soak

import (
	"fmt"
	"html"
	"strings"
	"time"
)

// The chart's geometry: three panels stacked over one time axis.
const (
	chartW, panelH, chartLeft, chartRight, chartTop, panelGap = 960, 150, 70, 20, 30, 40
	chartBuckets                                              = 180
)

// panel is one plot of the chart: named series over the time buckets.
type panel struct {
	title  string
	unit   string
	series []line
}

type line struct {
	name  string
	color string
	ys    []float64 // one per bucket; NaN-free, 0 for none
}

// SVG draws the run: logins per second (answered, passed), errors per
// second (faults, no answer, wrong answers) and the plugin's RSS, over time,
// with each fault's held window shaded and named.
func SVG(r *Run) string {
	total := r.Ended.Sub(r.Started)
	if total <= 0 {
		total = time.Second
	}
	bucket := total / chartBuckets
	secs := bucket.Seconds()
	answered, passed := make([]float64, chartBuckets), make([]float64, chartBuckets)
	faults, unavailable, wrong := make([]float64, chartBuckets), make([]float64, chartBuckets), make([]float64, chartBuckets)
	for _, a := range r.Attempts {
		if a.Kind != "login" {
			continue
		}
		i := bucketOf(a.At.Sub(r.Started), bucket)
		answered[i] += 1 / secs
		switch a.Outcome {
		case OutSuccess:
			passed[i] += 1 / secs
		case OutFault:
			faults[i] += 1 / secs
		case OutUnavailable, OutOther:
			unavailable[i] += 1 / secs
		}
		if a.Wrong() {
			wrong[i] += 1 / secs
		}
	}
	rss := make([]float64, chartBuckets)
	for _, s := range r.Samples {
		i := bucketOf(s.At.Sub(r.Started), bucket)
		rss[i] = max(rss[i], float64(s.RSS)/(1<<20))
	}
	panels := []panel{
		{"Logins per second", "/s", []line{{"answered", "#1f77b4", answered}, {"passed", "#2ca02c", passed}}},
		{"Errors per second", "/s", []line{{"fault (500)", "#ff7f0e", faults}, {"no answer", "#9467bd", unavailable}, {"wrong answers", "#d62728", wrong}}},
		{"Plugin process RSS", "MiB", []line{{"RSS", "#8c564b", rss}}},
	}
	height := chartTop + len(panels)*(panelH+panelGap) + 10
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", chartW, height, chartW, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", chartW, height)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14">Soak of %v: throughput, errors and RSS (shaded: a fault held)</text>`+"\n", chartLeft, r.Duration)
	plotW := float64(chartW - chartLeft - chartRight)
	xOf := func(d time.Duration) float64 { return chartLeft + plotW*float64(d)/float64(total) }
	for k, p := range panels {
		top := float64(chartTop + k*(panelH+panelGap) + 14)
		writePanel(&b, r, p, top, plotW, xOf, bucket)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func bucketOf(d, bucket time.Duration) int {
	return min(max(int(d/bucket), 0), chartBuckets-1)
}

func writePanel(b *strings.Builder, r *Run, p panel, top, plotW float64, xOf func(time.Duration) float64, bucket time.Duration) {
	ymax := 0.0
	for _, l := range p.series {
		for _, y := range l.ys {
			ymax = max(ymax, y)
		}
	}
	ymax = niceCeil(ymax)
	bottom := top + panelH
	for _, ph := range r.Phases {
		if ph.Fault == FaultNone || ph.Lifted.IsZero() {
			continue
		}
		x0, x1 := xOf(ph.Started.Sub(r.Started)), xOf(ph.Lifted.Sub(r.Started))
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="#eeeeee"/>`+"\n", x0, top, max(x1-x0, 1), panelH)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="9" fill="#666">%s</text>`+"\n", x0+2, top+10, html.EscapeString(ph.Name))
	}
	fmt.Fprintf(b, `<text x="%d" y="%.1f" font-size="12">%s</text>`+"\n", chartLeft, top-4, html.EscapeString(p.title))
	fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="black"/>`+"\n", chartLeft, top, chartLeft, bottom)
	fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", chartLeft, bottom, chartLeft+plotW, bottom)
	for _, frac := range []float64{0, 0.5, 1} {
		y := bottom - frac*panelH
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s %s</text>`+"\n", chartLeft-4, y+4, trimFloat(ymax*frac), p.unit)
	}
	for m := time.Duration(0); m <= r.Ended.Sub(r.Started); m += tickStep(r.Ended.Sub(r.Started)) {
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="9">%s</text>`+"\n", xOf(m), bottom+11, m.Round(time.Second))
	}
	for k, l := range p.series {
		var pts []string
		for i, y := range l.ys {
			x := xOf(time.Duration(i)*bucket + bucket/2)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, bottom-panelH*safeDiv(y, ymax)))
		}
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.2" points="%s"/>`+"\n", l.color, strings.Join(pts, " "))
		lx := chartLeft + plotW - 120
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" fill="%s">%s</text>`+"\n", lx, top+12+float64(k)*12, l.color, html.EscapeString(l.name))
	}
}

// niceCeil rounds a positive maximum up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := 1.0
	for p*10 <= v {
		p *= 10
	}
	for p > v {
		p /= 10
	}
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func trimFloat(v float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", v), "0"), ".")
}

// tickStep is a time-axis step giving about six labels.
func tickStep(total time.Duration) time.Duration {
	for _, s := range []time.Duration{10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour} {
		if total/s <= 8 {
			return s
		}
	}
	return 2 * time.Hour
}
