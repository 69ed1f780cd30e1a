package check

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"go.yaml.in/yaml/v3"
)

// Rules checks a rule file as Prometheus loads it, in order: a recording rule's output may be
// used by the rules after it. Each problem names the rule.
func (c *Catalog) Rules(path string) ([]string, error) {
	groups, errs := rulefmt.ParseFile(path, false, model.LegacyValidation, promql, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %v", path, errs)
	}
	var problems []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				problems = append(problems, prefix("record "+r.Record, c.Record(r.Record, r.Expr))...)
			} else {
				problems = append(problems, prefix("alert "+r.Alert, c.CheckExpr(r.Expr))...)
			}
		}
	}
	return problems, nil
}

// ruleTests is the part of a promtool test file that names series.
type ruleTests struct {
	Tests []struct {
		InputSeries []struct {
			Series string `yaml:"series"`
		} `yaml:"input_series"`
		PromQLExprTest []struct {
			Expr       string `yaml:"expr"`
			ExpSamples []struct {
				Labels string `yaml:"labels"`
			} `yaml:"exp_samples"`
		} `yaml:"promql_expr_test"`
	} `yaml:"tests"`
}

// RuleTests checks a promtool test file: its input series are exported ones, and its queries and
// expected samples name exported or recorded series. Run it after Rules.
func (c *Catalog) RuleTests(path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f ruleTests
	if err := yaml.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var problems []string
	for i, t := range f.Tests {
		where := fmt.Sprintf("test %d: ", i+1)
		for _, s := range t.InputSeries {
			problems = append(problems, prefix(where+"input series", c.CheckSeries(s.Series))...)
		}
		for _, e := range t.PromQLExprTest {
			problems = append(problems, prefix(where+"expr "+e.Expr, c.CheckExpr(e.Expr))...)
			for _, s := range e.ExpSamples {
				problems = append(problems, prefix(where+"expected sample", c.CheckSample(s.Labels))...)
			}
		}
	}
	return problems, nil
}

// Dashboard checks a Grafana dashboard's JSON: every "expr" anywhere in it (panel targets, rows'
// panels) and every query variable's label_values query. Run it after Rules.
func (c *Catalog) Dashboard(path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d struct {
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	exprs := collectExprs(doc, nil)
	if len(exprs) == 0 {
		return nil, fmt.Errorf("%s: no expr in the dashboard", path)
	}
	var problems []string
	for _, e := range exprs {
		problems = append(problems, prefix("expr "+e, c.CheckExpr(e))...)
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q := v.Query
		if m, ok := q.(map[string]any); ok {
			q = m["query"]
		}
		s, _ := q.(string)
		problems = append(problems, prefix("variable "+v.Name, c.CheckVariableQuery(s))...)
	}
	return problems, nil
}

// collectExprs appends every string value of an "expr" key in the JSON document, in a stable
// order.
func collectExprs(v any, out []string) []string {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if s, ok := v[k].(string); ok && k == "expr" {
				out = append(out, s)
				continue
			}
			out = collectExprs(v[k], out)
		}
	case []any:
		for _, e := range v {
			out = collectExprs(e, out)
		}
	}
	return out
}

func prefix(where string, problems []string) []string {
	out := make([]string, len(problems))
	for i, p := range problems {
		out[i] = where + ": " + p
	}
	return out
}
