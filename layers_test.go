package kubeauth

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// layers ranks the internal packages: a package imports only packages of
// a lower rank, so the import direction is root → diagnose → satoken →
// refusal → kube, and the leaves below them import no other internal
// package. CONTRIBUTING.md's layout says the same; a new package needs a
// rank here.
var layers = map[string]int{
	"diagnose":    4,
	"satoken":     3,
	"refusal":     2,
	"kube":        1,
	"clusterkeys": 1,
	"metrics":     0,
	"logcut":      0,
	"reviewcache": 0,
	"loginlimit":  0,
	"fips":        0,
	"testkit":     0,
}

const modulePath = "github.com/kubeauth/vault-plugin-auth-kubernetes"

// imports are the module's packages that the non-test files of dir import,
// by their path inside the module ("" is the root).
func imports(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range parsed.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if rest, ok := strings.CutPrefix(p, modulePath); ok {
				out[strings.TrimPrefix(rest, "/")] = true
			}
		}
	}
	return out
}

// The internal packages import downwards only, never the root, and the
// shipped code never imports testkit.
func TestImportDirection(t *testing.T) {
	entries, err := os.ReadDir("internal")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		rank, ok := layers[e.Name()]
		if !ok {
			t.Errorf("internal/%s has no rank in layers", e.Name())
			continue
		}
		for imp := range imports(t, filepath.Join("internal", e.Name())) {
			dep := strings.TrimPrefix(imp, "internal/")
			if imp == "" || !strings.HasPrefix(imp, "internal/") {
				t.Errorf("internal/%s imports %q: nothing under internal/ imports the root", e.Name(), imp)
			} else if layers[dep] >= rank {
				t.Errorf("internal/%s (rank %d) imports %s (rank %d): imports go down only", e.Name(), rank, imp, layers[dep])
			}
		}
	}
	for _, dir := range []string{".", "cmd/vault-plugin-auth-kubernetes"} {
		if imports(t, dir)["internal/testkit"] {
			t.Errorf("%s imports internal/testkit, which only tests may", dir)
		}
	}
}
