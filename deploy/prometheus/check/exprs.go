package check

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

var promql = parser.NewParser(parser.Options{})

// literalAlternatives is a regexp matcher's value that is only literal values joined by |
// ("hit|shared"): its values can be checked one by one. Anything else (a Grafana variable,
// a real pattern) is left alone.
var literalAlternatives = regexp.MustCompile(`^[A-Za-z0-9_:.+-]+(\|[A-Za-z0-9_:.+-]+)*$`)

// CheckExpr returns the problems of a PromQL expression: a series name that is neither exported
// nor recorded, a label a series does not have, a fixed-set value that does not exist, a
// grouping label no series has.
func (c *Catalog) CheckExpr(expr string) []string {
	_, problems := c.selectors(expr)
	return problems
}

// Record checks a recording rule's expression and adds its output series, with the labels (and
// the closed values) of the series it reads; the rules after it may use it.
func (c *Catalog) Record(name, expr string) []string {
	sources, problems := c.selectors(expr)
	out := c.add(name, true)
	for _, l := range TargetLabels {
		out.labels[l] = true
	}
	for _, s := range sources {
		for l := range s.labels {
			if l != "le" {
				out.labels[l] = true
			}
		}
		for l, vs := range s.values {
			for v := range vs {
				out.see(l, v)
			}
		}
	}
	return problems
}

// selectors parses expr and checks every selector and grouping in it; it returns the known
// series it reads.
func (c *Catalog) selectors(expr string) ([]*series, []string) {
	node, err := promql.ParseExpr(expr)
	if err != nil {
		return nil, []string{fmt.Sprintf("does not parse: %v", err)}
	}
	var (
		read     []*series
		problems []string
	)
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			s, p := c.checkSelector(n)
			problems = append(problems, p...)
			if s != nil {
				read = append(read, s)
			}
		case *parser.AggregateExpr:
			problems = append(problems, c.checkGrouping(n.Grouping)...)
		case *parser.BinaryExpr:
			if n.VectorMatching != nil {
				problems = append(problems, c.checkGrouping(n.VectorMatching.MatchingLabels)...)
				problems = append(problems, c.checkGrouping(n.VectorMatching.Include)...)
			}
		}
		return nil
	})
	return read, problems
}

func (c *Catalog) checkGrouping(names []string) []string {
	var problems []string
	for _, l := range names {
		if !c.knownLabel(l) {
			problems = append(problems, fmt.Sprintf("groups by %q, a label no series has", l))
		}
	}
	return problems
}

func (c *Catalog) checkSelector(vs *parser.VectorSelector) (*series, []string) {
	name := vs.Name
	for _, m := range vs.LabelMatchers {
		if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
			name = m.Value
		}
	}
	s := c.series[name]
	if s == nil {
		return nil, []string{fmt.Sprintf("%s: neither exported by the plugin nor recorded by the rules", vs)}
	}
	var problems []string
	for _, m := range vs.LabelMatchers {
		if m.Name == model.MetricNameLabel {
			continue
		}
		if !s.labels[m.Name] {
			problems = append(problems, fmt.Sprintf("%s: %s has no label %q", vs, name, m.Name))
			continue
		}
		for _, v := range matcherValues(m) {
			if p := c.checkValue(s, m.Name, v); p != "" {
				problems = append(problems, fmt.Sprintf("%s: %s", vs, p))
			}
		}
	}
	return s, problems
}

// matcherValues are the label values a matcher names: its value, or a regexp's literal
// alternatives. `label=""` (the label is absent) names none.
func matcherValues(m *labels.Matcher) []string {
	switch {
	case m.Value == "":
		return nil
	case m.Type == labels.MatchEqual || m.Type == labels.MatchNotEqual:
		return []string{m.Value}
	case literalAlternatives.MatchString(m.Value):
		return strings.Split(m.Value, "|")
	}
	return nil
}

// CheckSeries returns the problems of a series a promtool test feeds in (input_series): it must
// be exported by the plugin, not recorded, and have only the plugin's labels and the target
// labels, with existing fixed-set values.
func (c *Catalog) CheckSeries(desc string) []string {
	lset, _, err := promql.ParseSeriesDesc(desc)
	if err != nil {
		return []string{fmt.Sprintf("does not parse: %v", err)}
	}
	return c.checkLabels(lset, false)
}

// CheckSample returns the problems of a sample a promtool test expects (exp_samples' labels).
func (c *Catalog) CheckSample(metric string) []string {
	lset, err := promql.ParseMetric(metric)
	if err != nil {
		return []string{fmt.Sprintf("does not parse: %v", err)}
	}
	return c.checkLabels(lset, true)
}

func (c *Catalog) checkLabels(lset labels.Labels, mayBeRecorded bool) []string {
	name := lset.Get(model.MetricNameLabel)
	s := c.series[name]
	switch {
	case s == nil:
		return []string{fmt.Sprintf("%s: not exported by the plugin", name)}
	case s.recorded && !mayBeRecorded:
		return []string{fmt.Sprintf("%s: a recorded series, not one the plugin exports", name)}
	}
	var problems []string
	lset.Range(func(l labels.Label) {
		switch {
		case l.Name == model.MetricNameLabel:
		case !s.labels[l.Name]:
			problems = append(problems, fmt.Sprintf("%s: no label %q", name, l.Name))
		default:
			if p := c.checkValue(s, l.Name, l.Value); p != "" {
				problems = append(problems, fmt.Sprintf("%s: %s", name, p))
			}
		}
	})
	return problems
}

// labelValuesQuery is a Grafana variable's query label_values(metric, label).
var labelValuesQuery = regexp.MustCompile(`^\s*label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$`)

// CheckVariableQuery returns the problems of a Grafana template variable's query; only
// label_values(metric, label) is accepted.
func (c *Catalog) CheckVariableQuery(q string) []string {
	m := labelValuesQuery.FindStringSubmatch(q)
	if m == nil {
		return []string{fmt.Sprintf("%q: not label_values(metric, label)", q)}
	}
	s := c.series[m[1]]
	switch {
	case s == nil:
		return []string{fmt.Sprintf("%s: neither exported by the plugin nor recorded by the rules", m[1])}
	case !s.labels[m[2]]:
		return []string{fmt.Sprintf("%s has no label %q", m[1], m[2])}
	}
	return nil
}
