package kubeauth

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
)

// The docs are held against the code here, so that a field or a reason
// code added in the code cannot be missing from the pages operators read,
// and a page cannot keep describing one that is gone.

// refusalVocabulary is every reason code and fault kind, read from where
// the code keeps them. The one place to repoint when they move.
func refusalVocabulary() (reasons, faults []string) {
	return refusal.ReasonCodes, refusal.FaultKinds
}

// registeredPaths are the paths a mount of the plugin serves.
func registeredPaths(t *testing.T) []*framework.Path {
	t.Helper()
	conf := logical.TestBackendConfig()
	conf.StorageView = &logical.InmemStorage{}
	b, err := Factory(context.Background(), conf)
	if err != nil {
		t.Fatal(err)
	}
	return b.(*backend).Paths
}

// docPathName is how docs/api.md names a path pattern: "role/<name>" for
// the role path, "role" for its LIST path.
func docPathName(pattern string) string {
	name := strings.ReplaceAll(pattern, framework.GenericNameRegex("name"), "<name>")
	name = strings.TrimSuffix(name, "$")
	return strings.TrimSuffix(name, "/?")
}

// docFieldType is the type column docs/api.md gives a field of this type.
func docFieldType(t framework.FieldType) string {
	switch t {
	case framework.TypeString, framework.TypeLowerCaseString, framework.TypeNameString:
		return "string"
	case framework.TypeCommaStringSlice, framework.TypeStringSlice, framework.TypeSlice:
		return "list"
	case framework.TypeDurationSecond, framework.TypeSignedDurationSecond:
		return "duration"
	case framework.TypeKVPairs, framework.TypeMap:
		return "map"
	default:
		return t.String()
	}
}

// docRow is one row of a field table: the field's name and type columns.
type docRow struct {
	name, typ string
	line      int
}

var (
	fieldsMarker = regexp.MustCompile(`^<!-- fields: (\S+) -->$`)
	fieldCell    = regexp.MustCompile("^`([a-z0-9_]+)`$")
)

// parseFieldTables reads every "<!-- fields: PATH -->" marker of a page and
// the table that follows it (none: the path has no fields) into the rows
// of each path.
func parseFieldTables(text string) (map[string][]docRow, error) {
	lines := strings.Split(text, "\n")
	tables := map[string][]docRow{}
	for i, line := range lines {
		m := fieldsMarker.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		if _, dup := tables[m[1]]; dup {
			return nil, fmt.Errorf("line %d: a second fields marker for %s", i+1, m[1])
		}
		rows, err := tableAfter(lines, i+1)
		if err != nil {
			return nil, err
		}
		tables[m[1]] = rows
	}
	return tables, nil
}

// tableAfter reads the markdown table starting at the first non-blank line
// from start, if that line is a table row: its header and separator
// skipped, each row's first column a field name in backticks.
func tableAfter(lines []string, start int) ([]docRow, error) {
	for start < len(lines) && strings.TrimSpace(lines[start]) == "" {
		start++
	}
	rows := []docRow{}
	for i := start + 2; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
		cells := strings.Split(strings.Trim(lines[i], "| "), " | ")
		m := fieldCell.FindStringSubmatch(strings.TrimSpace(cells[0]))
		if m == nil || len(cells) < 2 {
			return nil, fmt.Errorf("line %d: want a row whose first column is a field name in backticks, then its type: %q", i+1, lines[i])
		}
		rows = append(rows, docRow{name: m[1], typ: strings.TrimSpace(cells[1]), line: i + 1})
	}
	return rows, nil
}

func readDoc(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// checkFieldTable compares one path's schema with its table in the docs.
func checkFieldTable(p *framework.Path, rows []docRow) []string {
	var problems []string
	name := docPathName(p.Pattern)
	seen := map[string]bool{}
	for _, r := range rows {
		f, ok := p.Fields[r.name]
		switch {
		case seen[r.name]:
			problems = append(problems, fmt.Sprintf("line %d: %s: field %s twice", r.line, name, r.name))
		case !ok:
			problems = append(problems, fmt.Sprintf("line %d: %s has no field %s", r.line, name, r.name))
		case r.typ != docFieldType(f.Type):
			problems = append(problems, fmt.Sprintf("line %d: %s: field %s is a %s, the table says %s", r.line, name, r.name, docFieldType(f.Type), r.typ))
		}
		seen[r.name] = true
	}
	for field := range p.Fields {
		if !seen[field] {
			problems = append(problems, fmt.Sprintf("%s: field %s is missing from its table", name, field))
		}
	}
	return problems
}

// TestAPIDocFieldTables holds docs/api.md's field tables against the
// schemas: every path has a table, every field of its schema a row of the
// right type, and every row and table names something that exists.
func TestAPIDocFieldTables(t *testing.T) {
	tables, err := parseFieldTables(readDoc(t, "docs/api.md"))
	if err != nil {
		t.Fatalf("docs/api.md: %v", err)
	}
	paths := registeredPaths(t)
	known := map[string]bool{}
	for _, p := range paths {
		name := docPathName(p.Pattern)
		known[name] = true
		rows, ok := tables[name]
		if !ok {
			t.Errorf("docs/api.md has no <!-- fields: %s --> section for path %q", name, p.Pattern)
			continue
		}
		for _, problem := range checkFieldTable(p, rows) {
			t.Errorf("docs/api.md: %s", problem)
		}
	}
	for name := range tables {
		if !known[name] {
			t.Errorf("docs/api.md has a fields section for %s, which is no path of the plugin", name)
		}
	}
}

// codeHeading is a troubleshooting section named by one code alone.
var codeHeading = regexp.MustCompile("^#{2,4} `([a-z0-9_]+)`$")

// TestTroubleshootingCoversEveryCode: every reason code and fault kind has
// a section of its own in docs/troubleshooting.md, and every such section
// names a code that exists.
func TestTroubleshootingCoversEveryCode(t *testing.T) {
	sections := map[string]int{}
	for i, line := range strings.Split(readDoc(t, "docs/troubleshooting.md"), "\n") {
		if m := codeHeading.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			sections[m[1]] = i + 1
		}
	}
	reasons, faults := refusalVocabulary()
	codes := map[string]bool{}
	for _, code := range append(append([]string{}, reasons...), faults...) {
		codes[code] = true
		if _, ok := sections[code]; !ok {
			t.Errorf("docs/troubleshooting.md has no section \"### `%s`\"", code)
		}
	}
	for code, line := range sections {
		if !codes[code] {
			t.Errorf("docs/troubleshooting.md:%d: section %q is no reason code or fault kind", line, code)
		}
	}
}

// metricsRow is a row of the metrics table in docs/operations.md: the
// family and its type.
var metricsRow = regexp.MustCompile("^\\| `(kubeauth_[a-z_]+)` \\| ([a-z]+) \\|")

// Every family a mount exports has its row in docs/operations.md, with its
// type, and every row is a family that is exported.
func TestOperationsDocListsEveryMetric(t *testing.T) {
	rows := map[string]string{}
	for _, line := range strings.Split(readDoc(t, "docs/operations.md"), "\n") {
		if m := metricsRow.FindStringSubmatch(line); m != nil {
			rows[m[1]] = m[2]
		}
	}
	families, err := newMetrics().Families()
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range families {
		if typ, ok := rows[name]; !ok || typ != f.Type {
			t.Errorf("docs/operations.md: the metrics table's row of %s is %q, want its type %q", name, typ, f.Type)
		}
	}
	for name := range rows {
		if _, ok := families[name]; !ok {
			t.Errorf("docs/operations.md: the metrics table lists %s, which no mount exports", name)
		}
	}
}
