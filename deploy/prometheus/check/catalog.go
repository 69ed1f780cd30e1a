// Package check holds the rules, their promtool tests and the Grafana dashboard in
// deploy/prometheus to the series the plugin exports: every metric name, label name and
// fixed-set label value they use must be in a real scrape of the plugin (testdata/scrape.prom),
// be a label the scrape itself adds, or be a series the rules record.
//
// It is a module of its own so that the plugin's go.mod does not carry the Prometheus server's
// packages (the PromQL parser, the rule file format).
package check

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TargetLabels are the labels Prometheus adds to every scraped sample (job, instance) and the one
// the documented scrape config sets to tell mounts apart (mount); the plugin exports none of them.
var TargetLabels = []string{"job", "instance", "mount"}

// closedLabels are the labels whose every value a scrape shows: the plugin starts each result
// series at zero, and the committed scrape has a login of each outcome. A value of them that the
// scrape lacks is a typo.
var closedLabels = []string{"outcome", "result"}

// series is what a rule may say of one series name.
type series struct {
	labels   map[string]bool
	values   map[string]map[string]bool // by label: the values seen, for closedLabels
	recorded bool
}

// Catalog is every series name the rules may use, with its labels.
type Catalog struct {
	series map[string]*series
	// vocabulary holds the allowed values of labels with a documented fixed set (reason,
	// kind), whether or not a scrape happened to show them.
	vocabulary map[string]map[string]bool
}

// ReadScrape builds a catalog from a scrape in the Prometheus text format. A histogram family
// gives its _bucket (with le), _sum and _count series, as Prometheus stores them.
func ReadScrape(r io.Reader) (*Catalog, error) {
	p := expfmt.NewTextParser(model.LegacyValidation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("the scrape does not parse: %w", err)
	}
	c := &Catalog{series: map[string]*series{}, vocabulary: map[string]map[string]bool{}}
	for name, f := range families {
		names := []string{name}
		if f.GetType().String() == "HISTOGRAM" {
			names = []string{name + "_bucket", name + "_sum", name + "_count"}
		}
		for _, n := range names {
			s := c.add(n, false)
			for _, l := range TargetLabels {
				s.labels[l] = true
			}
			if strings.HasSuffix(n, "_bucket") {
				s.labels["le"] = true
			}
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					s.see(l.GetName(), l.GetValue())
				}
			}
		}
	}
	return c, nil
}

func (c *Catalog) add(name string, recorded bool) *series {
	s := c.series[name]
	if s == nil {
		s = &series{labels: map[string]bool{}, values: map[string]map[string]bool{}, recorded: recorded}
		c.series[name] = s
	}
	return s
}

func (s *series) see(label, value string) {
	s.labels[label] = true
	if !slices.Contains(closedLabels, label) {
		return
	}
	if s.values[label] == nil {
		s.values[label] = map[string]bool{}
	}
	s.values[label][value] = true
}

// ReadVocabulary adds the reason codes and fault kinds of docs/troubleshooting.md (one
// "### `code`" section each, under "## Reason codes" and "## Fault kinds"; the plugin's own tests
// hold that page to its code) as the values the reason and kind labels may take, with "other",
// which the plugin counts a value outside its set as.
func (c *Catalog) ReadVocabulary(troubleshooting io.Reader) error {
	label := ""
	sc := bufio.NewScanner(troubleshooting)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "## Reason codes":
			label = "reason"
		case line == "## Fault kinds":
			label = "kind"
		case strings.HasPrefix(line, "## "):
			label = ""
		case label != "" && strings.HasPrefix(line, "### `") && strings.HasSuffix(line, "`"):
			if c.vocabulary[label] == nil {
				c.vocabulary[label] = map[string]bool{"other": true}
			}
			c.vocabulary[label][strings.Trim(strings.TrimPrefix(line, "### "), "`")] = true
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	for _, l := range []string{"reason", "kind"} {
		if len(c.vocabulary[l]) < 2 {
			return fmt.Errorf("no %s values found (want \"## Reason codes\" and \"## Fault kinds\" with \"### `code`\" sections)", l)
		}
	}
	return nil
}

// knownLabel reports whether any series of the catalog has the label.
func (c *Catalog) knownLabel(label string) bool {
	for _, s := range c.series {
		if s.labels[label] {
			return true
		}
	}
	return false
}

// checkValue is the problem with label=value on the series, "" when there is none.
func (c *Catalog) checkValue(s *series, label, value string) string {
	if allowed, ok := c.vocabulary[label]; ok {
		if !allowed[value] {
			return fmt.Sprintf("%s=%q is no documented %s", label, value, label)
		}
		return ""
	}
	if seen, ok := s.values[label]; ok && !seen[value] {
		return fmt.Sprintf("%s=%q is not a value the plugin exports (it has %s)", label, value, strings.Join(slices.Sorted(maps.Keys(seen)), ", "))
	}
	return ""
}
