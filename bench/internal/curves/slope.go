// Package curves is the arithmetic and drawing of costcurves: how a cost
// grows with the size of one dimension (a least-squares fit against
// log10(N) and against N, and which of flat, log or linear it is), and the
// SVG chart of the measured points. Both are pure: numbers in, a verdict or
// a document out.
package curves

import (
	"errors"
	"math"
)

// Point is one measured size of a dimension and what it cost there.
type Point struct {
	N float64 // the dimension's size, at least 1
	Y float64 // the cost at that size
}

// Line is a least-squares fit y = Intercept + Slope·x; RSS is the sum of
// the squared residuals.
type Line struct {
	Slope, Intercept, RSS float64
}

// Fit is the least-squares line through (xs[i], ys[i]).
func Fit(xs, ys []float64) (Line, error) {
	if len(xs) != len(ys) || len(xs) < 2 {
		return Line{}, errors.New("a fit needs at least two points, as many x as y")
	}
	n := float64(len(xs))
	var sx, sy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
	}
	mx, my := sx/n, sy/n
	var sxx, sxy float64
	for i := range xs {
		sxx += (xs[i] - mx) * (xs[i] - mx)
		sxy += (xs[i] - mx) * (ys[i] - my)
	}
	if sxx == 0 {
		return Line{}, errors.New("a fit needs at least two distinct x")
	}
	l := Line{Slope: sxy / sxx}
	l.Intercept = my - l.Slope*mx
	for i := range xs {
		r := ys[i] - (l.Intercept + l.Slope*xs[i])
		l.RSS += r * r
	}
	return l, nil
}

// Growth kinds.
const (
	Flat   = "flat"
	Log    = "log"
	Linear = "linear"
)

// Growth is how a cost grows over a dimension's measured range.
type Growth struct {
	Kind string
	// PerDecade is the slope against log10(N): the cost added each time N
	// is multiplied by ten. PerN is the slope against N itself.
	PerDecade, PerN float64
	// Change is the rise over the measured range that the better-fitting
	// line predicts, and Noise what that rise was held against.
	Change, Noise float64
}

// Classify says how ys grow with N. The rise over the range, as the
// better of the two fits predicts it, is compared with noise (how much the
// same point moves between rounds; the caller measures it): a rise within
// noise is flat, whatever its sign. Otherwise the fit with the smaller sum
// of squared residuals names the growth. Points need at least two distinct
// sizes.
func Classify(points []Point, noise float64) (Growth, error) {
	xs, lx, ys := make([]float64, len(points)), make([]float64, len(points)), make([]float64, len(points))
	for i, p := range points {
		if p.N < 1 {
			return Growth{}, errors.New("sizes must be at least 1")
		}
		xs[i], lx[i], ys[i] = p.N, math.Log10(p.N), p.Y
	}
	lin, err := Fit(xs, ys)
	if err != nil {
		return Growth{}, err
	}
	lg, err := Fit(lx, ys)
	if err != nil {
		return Growth{}, err
	}
	lo, hi := span(xs)
	g := Growth{PerDecade: lg.Slope, PerN: lin.Slope, Noise: math.Abs(noise)}
	kind, change := Log, lg.Slope*(math.Log10(hi)-math.Log10(lo))
	if lin.RSS < lg.RSS {
		kind, change = Linear, lin.Slope*(hi-lo)
	}
	g.Change = change
	if math.Abs(change) <= g.Noise {
		kind = Flat
	}
	g.Kind = kind
	return g, nil
}

func span(xs []float64) (lo, hi float64) {
	lo, hi = xs[0], xs[0]
	for _, x := range xs[1:] {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return lo, hi
}
