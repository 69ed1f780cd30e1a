package kubeauth

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// CONTRIBUTING.md's package map is where a new maintainer finds their way
// in; this holds it against the tree so that it cannot quietly go stale.

// layoutEntry is one line of the map: "- `path` — what it is", a directory
// ending in "/".
var layoutEntry = regexp.MustCompile("^- `([^`]+)` — ")

// layoutEntries reads the entries of the "## Layout" section, with the line
// each is on.
func layoutEntries(text string) (map[string]int, error) {
	entries := map[string]int{}
	in := false
	for i, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "## ") {
			in = line == "## Layout"
			continue
		}
		if !in || !strings.HasPrefix(line, "- ") {
			continue
		}
		m := layoutEntry.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("line %d: want \"- `path` — what it is\": %q", i+1, line)
		}
		if _, dup := entries[m[1]]; dup {
			return nil, fmt.Errorf("line %d: %s has a second entry", i+1, m[1])
		}
		entries[m[1]] = i + 1
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("no \"## Layout\" section with entries")
	}
	return entries, nil
}

// sourceTree is what the map must cover: the Go packages of the main
// module ("internal/kube/"), the plugin package's files ("login.go"), and
// the roots of the modules nested in the repository ("e2e/").
type sourceTree struct {
	packages, rootFiles, modules []string
}

// skipDir is a directory that holds no source of its own: fixtures, caches,
// build output, version control.
func skipDir(path string) bool {
	base := filepath.Base(path)
	return base == "testdata" || (path != "." && strings.HasPrefix(base, ".")) || path == "bin" || path == "dist"
}

func readSourceTree(root string) (sourceTree, error) {
	var tree sourceTree
	packages := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if skipDir(rel) {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && rel != "." {
				tree.modules = append(tree.modules, rel+"/")
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") {
			return nil
		}
		dir := filepath.ToSlash(filepath.Dir(rel))
		switch {
		case dir != ".":
			if !packages[dir] {
				packages[dir] = true
				tree.packages = append(tree.packages, dir+"/")
			}
		case !strings.HasSuffix(rel, "_test.go"):
			tree.rootFiles = append(tree.rootFiles, rel)
		}
		return nil
	})
	return tree, err
}

// coveredBy reports whether an entry is path or a directory above it.
func coveredBy(entries map[string]int, path string) bool {
	for entry := range entries {
		if entry == path || (strings.HasSuffix(entry, "/") && strings.HasPrefix(path, entry)) {
			return true
		}
	}
	return false
}

// layoutProblems compares the map with the tree, both ways.
func layoutProblems(entries map[string]int, tree sourceTree, root string) []string {
	var problems []string
	for _, p := range append(append([]string{}, tree.packages...), tree.rootFiles...) {
		if _, ok := entries[p]; !ok {
			problems = append(problems, fmt.Sprintf("%s is missing from the map", p))
		}
	}
	for _, m := range tree.modules {
		if !coveredBy(entries, m) {
			problems = append(problems, fmt.Sprintf("module %s is missing from the map", m))
		}
	}
	for entry, line := range entries {
		info, err := os.Stat(filepath.Join(root, filepath.FromSlash(entry)))
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("line %d: %s does not exist", line, entry))
		case info.IsDir() != strings.HasSuffix(entry, "/"):
			problems = append(problems, fmt.Sprintf("line %d: %s: a directory's entry ends in /, a file's does not", line, entry))
		}
	}
	return problems
}

// TestContributingLayoutMatchesTree: every package, root file and nested
// module has an entry in CONTRIBUTING.md's map, and every entry exists.
func TestContributingLayoutMatchesTree(t *testing.T) {
	raw, err := os.ReadFile("CONTRIBUTING.md")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := layoutEntries(string(raw))
	if err != nil {
		t.Fatalf("CONTRIBUTING.md: %v", err)
	}
	tree, err := readSourceTree(".")
	if err != nil {
		t.Fatal(err)
	}
	if len(tree.rootFiles) == 0 || len(tree.packages) == 0 {
		t.Fatalf("read no source from the tree: %+v", tree)
	}
	for _, problem := range layoutProblems(entries, tree, ".") {
		t.Errorf("CONTRIBUTING.md, Layout: %s", problem)
	}
}
