package curves

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

// circleTitles parses doc as XML and returns the <title> of every <circle>,
// failing the test when the document is not well-formed.
func circleTitles(t *testing.T, doc []byte) []string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(doc))
	var titles []string
	inCircle, inTitle, root := false, false, ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the SVG does not parse as XML: %v\n%s", err, doc)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = el.Name.Local
			}
			inCircle = inCircle || el.Name.Local == "circle"
			inTitle = inCircle && el.Name.Local == "title"
		case xml.EndElement:
			if el.Name.Local == "circle" {
				inCircle = false
			}
			inTitle = false
		case xml.CharData:
			if inTitle {
				titles = append(titles, string(el))
			}
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q, want svg", root)
	}
	return titles
}

func TestChartSVGHasEveryPoint(t *testing.T) {
	c := Chart{
		Title:  "roles <on one mount> & more",
		XLabel: "roles",
		Panels: []Panel{
			{Title: "logins/s", Points: []Point{{1, 1800}, {10, 1790.5}, {100, 1750}, {1000, 1700}, {10000, 1650}}},
			{Title: "plugin CPU per login (µs)", Points: []Point{{1, 250}, {10, 251}, {100, 260}, {1000, 255}, {10000, 270}}},
		},
	}
	got := circleTitles(t, c.SVG())
	var want []string
	for _, p := range c.Panels {
		for _, pt := range p.Points {
			want = append(want, fmt.Sprintf("N=%s: %s", num(pt.N), num(pt.Y)))
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("points in the SVG:\n%q\nwant\n%q", got, want)
	}
	if !strings.Contains(string(c.SVG()), "&lt;on one mount&gt; &amp; more") {
		t.Fatal("the title is not escaped")
	}
}

func TestChartSVGEdgeCases(t *testing.T) {
	for _, c := range []Chart{
		{Title: "no panels"},
		{Title: "no points", Panels: []Panel{{Title: "empty"}}},
		{Title: "one size", Panels: []Panel{{Title: "one", Points: []Point{{N: 50, Y: 0}}}}},
	} {
		if n := len(circleTitles(t, c.SVG())); n > 1 {
			t.Errorf("%s: %d points drawn", c.Title, n)
		}
	}
}

func TestNiceCeil(t *testing.T) {
	for v, want := range map[float64]float64{0: 1, 0.7: 1, 1: 1, 1.2: 2, 3: 5, 7: 10, 180: 200, 2345: 5000} {
		if got := niceCeil(v); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", v, got, want)
		}
	}
}
