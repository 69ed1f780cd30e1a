package curves

import (
	"math"
	"testing"
)

func curve(sizes []float64, f func(n float64) float64) []Point {
	out := make([]Point, len(sizes))
	for i, n := range sizes {
		out[i] = Point{N: n, Y: f(n)}
	}
	return out
}

var decades = []float64{1, 10, 100, 1000, 10000}

func TestClassifySyntheticCurves(t *testing.T) {
	// A small wobble, as the rounds of a real run have, on top of each shape.
	wobble := func(n float64) float64 { return 0.5 * math.Sin(n) }
	cases := []struct {
		name  string
		pts   []Point
		noise float64
		want  string
	}{
		{"flat with wobble", curve(decades, func(n float64) float64 { return 250 + wobble(n) }), 5, Flat},
		{"log", curve(decades, func(n float64) float64 { return 250 + 40*math.Log10(n) + wobble(n) }), 5, Log},
		{"linear", curve(decades, func(n float64) float64 { return 250 + 0.02*n + wobble(n) }), 5, Linear},
		{"linear in a short range", curve([]float64{1, 2, 5, 10, 20, 50}, func(n float64) float64 { return 100 + 3*n }), 5, Linear},
		{"falling log beyond noise", curve(decades, func(n float64) float64 { return 500 - 30*math.Log10(n) }), 5, Log},
		{"log smaller than noise", curve(decades, func(n float64) float64 { return 250 + math.Log10(n) }), 5, Flat},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, err := Classify(tc.pts, tc.noise)
			if err != nil {
				t.Fatal(err)
			}
			if g.Kind != tc.want {
				t.Fatalf("Classify = %s (change %.2f, noise %.2f, per decade %.3f, per N %.5f), want %s", g.Kind, g.Change, g.Noise, g.PerDecade, g.PerN, tc.want)
			}
		})
	}
}

func TestClassifySlopes(t *testing.T) {
	g, err := Classify(curve(decades, func(n float64) float64 { return 10 + 7*math.Log10(n) }), 1)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(g.PerDecade-7) > 1e-9 || math.Abs(g.Change-28) > 1e-9 {
		t.Fatalf("per decade %.6f, change %.6f; want 7 and 28", g.PerDecade, g.Change)
	}
	g, err = Classify(curve(decades, func(n float64) float64 { return 10 + 0.5*n }), 1)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(g.PerN-0.5) > 1e-9 || math.Abs(g.Change-0.5*9999) > 1e-6 {
		t.Fatalf("per N %.6f, change %.6f; want 0.5 and %.1f", g.PerN, g.Change, 0.5*9999)
	}
}

func TestClassifyRefusesTooFewSizes(t *testing.T) {
	for _, pts := range [][]Point{nil, {{N: 10, Y: 1}}, {{N: 10, Y: 1}, {N: 10, Y: 2}}, {{N: 0, Y: 1}, {N: 10, Y: 2}}} {
		if _, err := Classify(pts, 1); err == nil {
			t.Errorf("Classify(%v) gave no error", pts)
		}
	}
}
