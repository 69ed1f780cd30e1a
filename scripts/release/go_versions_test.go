package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every module in the repository (the plugin, bench, e2e, tools/image and
// the stack's wrapper modules) names the root module's Go version: the
// release's bytes depend on the toolchain, and one version for the whole
// repository means one toolchain builds, tests and benchmarks it.
func TestEveryGoModNamesTheRootGoVersion(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	want := goVersion(t, filepath.Join(repo, "go.mod"))
	mods := goModFiles(t, repo)
	if len(mods) < 2 {
		t.Fatalf("found %d go.mod files under %s, want the root's and the nested modules'", len(mods), repo)
	}
	for _, path := range mods {
		if got := goVersion(t, path); got != want {
			rel, _ := filepath.Rel(repo, path)
			t.Errorf("%s says go %s, the root go.mod says go %s", rel, got, want)
		}
	}
}

// goModFiles lists every go.mod under root, leaving out the stack cache and
// VCS metadata (.cache holds downloaded modules of other projects).
func goModFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".cache" || d.Name() == ".git") {
			return filepath.SkipDir
		}
		if !d.IsDir() && d.Name() == "go.mod" {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", root, err)
	}
	return out
}

// goVersion is the version on a go.mod's `go` line. The line is read by hand:
// golang.org/x/mod would be the plugin module's only dependency for a test.
func goVersion(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(raw)) {
		line, _, _ = strings.Cut(line, "//")
		if f := strings.Fields(line); len(f) == 2 && f[0] == "go" {
			return f[1]
		}
	}
	t.Fatalf("%s has no go line", path)
	return ""
}
