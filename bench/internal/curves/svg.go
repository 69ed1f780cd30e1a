package curves

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"strconv"
)

// Panel is one plot of a chart: one cost against the dimension's size.
type Panel struct {
	Title  string // e.g. "plugin CPU per login (µs)"
	Points []Point
}

// Chart is one dimension's figure: a row of panels sharing the x axis, N on
// a log10 scale (the sizes span up to four decades).
type Chart struct {
	Title  string // what the dimension is
	XLabel string
	Panels []Panel
}

// Layout of one panel, in SVG user units.
const (
	panelW, panelH  = 300.0, 220.0
	padL, padR      = 52.0, 14.0
	padT, padB      = 40.0, 42.0
	headerH         = 26.0
	pointRadius     = 3.0
	yTicks          = 4
	fontSize        = 11
	titleFontSize   = 13
	strokeLine      = "#1f5fa8"
	strokeAxis      = "#444"
	strokeGridLight = "#ddd"
)

// SVG draws the chart as a standalone SVG document. Every point is a
// <circle> with its N and value in a <title>, so the numbers can be read
// back from the file (and a test does).
func (c Chart) SVG() []byte {
	var b bytes.Buffer
	w := panelW * float64(max(len(c.Panels), 1))
	h := panelH + headerH
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" font-family="sans-serif" font-size="%d">`+"\n",
		num(w), num(h), num(w), num(h), fontSize)
	fmt.Fprintf(&b, `<rect width="%s" height="%s" fill="white"/>`+"\n", num(w), num(h))
	fmt.Fprintf(&b, `<text x="8" y="18" font-size="%d" font-weight="bold">%s</text>`+"\n", titleFontSize, html.EscapeString(c.Title))
	for i, p := range c.Panels {
		c.panel(&b, p, float64(i)*panelW, headerH)
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// panel draws one panel with its top-left corner at (x0, y0).
func (c Chart) panel(b *bytes.Buffer, p Panel, x0, y0 float64) {
	left, right := x0+padL, x0+panelW-padR
	top, bottom := y0+padT, y0+panelH-padB
	fmt.Fprintf(b, `<text x="%s" y="%s">%s</text>`+"\n", num(left), num(y0+padT-14), html.EscapeString(p.Title))
	lo, hi := xRange(p.Points)
	yMax := niceCeil(maxY(p.Points))
	sx := func(n float64) float64 {
		if hi == lo {
			return (left + right) / 2
		}
		return left + (math.Log10(n)-lo)/(hi-lo)*(right-left)
	}
	sy := func(v float64) float64 { return bottom - v/yMax*(bottom-top) }
	for i := 0; i <= yTicks; i++ {
		v := yMax * float64(i) / yTicks
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>`+"\n", num(left), num(sy(v)), num(right), num(sy(v)), strokeGridLight)
		fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="end">%s</text>`+"\n", num(left-4), num(sy(v)+4), num(v))
	}
	for d := math.Ceil(lo); d <= math.Floor(hi)+1e-9; d++ {
		x := left + (d-lo)/math.Max(hi-lo, 1e-9)*(right-left)
		if hi == lo {
			x = (left + right) / 2
		}
		fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", num(x), num(bottom+14), num(math.Pow(10, d)))
	}
	fmt.Fprintf(b, `<path d="M%s %sV%sH%s" fill="none" stroke="%s"/>`+"\n", num(left), num(top), num(bottom), num(right), strokeAxis)
	fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="middle">%s (log scale)</text>`+"\n", num((left+right)/2), num(bottom+32), html.EscapeString(c.XLabel))
	if len(p.Points) == 0 {
		return
	}
	var path bytes.Buffer
	for i, pt := range p.Points {
		cmd := "L"
		if i == 0 {
			cmd = "M"
		}
		fmt.Fprintf(&path, "%s%s %s", cmd, num(sx(pt.N)), num(sy(pt.Y)))
	}
	fmt.Fprintf(b, `<path d="%s" fill="none" stroke="%s" stroke-width="1.5"/>`+"\n", path.String(), strokeLine)
	for _, pt := range p.Points {
		fmt.Fprintf(b, `<circle cx="%s" cy="%s" r="%s" fill="%s"><title>N=%s: %s</title></circle>`+"\n",
			num(sx(pt.N)), num(sy(pt.Y)), num(pointRadius), strokeLine, num(pt.N), num(pt.Y))
	}
}

// xRange is the log10 of the smallest and largest size.
func xRange(pts []Point) (lo, hi float64) {
	if len(pts) == 0 {
		return 0, 1
	}
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, p := range pts {
		l := math.Log10(math.Max(p.N, 1))
		lo, hi = math.Min(lo, l), math.Max(hi, l)
	}
	return lo, hi
}

func maxY(pts []Point) float64 {
	m := 0.0
	for _, p := range pts {
		m = math.Max(m, p.Y)
	}
	return m
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten, so the y axis
// starts at zero and ends on a round number; a cost of zero gets an axis
// up to 1.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// num prints a coordinate or a value briefly: at most two decimals, no
// trailing zeros.
func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}
