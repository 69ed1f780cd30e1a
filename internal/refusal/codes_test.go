package refusal

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Every reason code and fault kind the package declares is in ReasonCodes
// or FaultKinds, the label values the metrics accept: one left out would
// be counted as "other". The constants are found by name (Reason*,
// Fault*) in the package's source, so a new one cannot be forgotten.
func TestReasonCodesAndFaultKindsAreListed(t *testing.T) {
	files, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var reasons, kinds int
	for _, f := range files {
		name := f.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			spec, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, id := range spec.Names {
				if i >= len(spec.Values) {
					break
				}
				lit, ok := spec.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				value, _ := strconv.Unquote(lit.Value)
				switch {
				case strings.HasPrefix(id.Name, "Reason"):
					reasons++
					if !slices.Contains(ReasonCodes, value) {
						t.Errorf("%s: %s = %q is not in ReasonCodes", fset.Position(id.Pos()), id.Name, value)
					}
				case strings.HasPrefix(id.Name, "Fault"):
					kinds++
					if !slices.Contains(FaultKinds, value) {
						t.Errorf("%s: %s = %q is not in FaultKinds", fset.Position(id.Pos()), id.Name, value)
					}
				}
			}
			return true
		})
	}
	if reasons != len(ReasonCodes) || kinds != len(FaultKinds) {
		t.Errorf("found %d reason and %d fault constants; ReasonCodes has %d, FaultKinds %d (duplicates?)",
			reasons, kinds, len(ReasonCodes), len(FaultKinds))
	}
}
