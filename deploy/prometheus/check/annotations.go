package check

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"go.yaml.in/yaml/v3"
)

// runbookCall is how every runbook begins: the Vault call an operator makes first (a template:
// the mount and cluster come from the alert's labels, which the promtool tests expand).
var runbookCall = regexp.MustCompile(`^vault (read auth/.*(config|cluster/.*)/check: |write auth/.*/explain role=.* jwt=)`)

// Coverage returns what the rule file and its promtool tests leave undone: an alert without
// summary, description, a runbook that opens with the call to make, or a `for`; an alert never
// seen firing or never seen quiet in a test; a recorded series no test reads.
func Coverage(rulesPath, testsPath string) ([]string, error) {
	groups, errs := rulefmt.ParseFile(rulesPath, false, model.LegacyValidation, promql, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %v", rulesPath, errs)
	}
	raw, err := os.ReadFile(testsPath)
	if err != nil {
		return nil, err
	}
	var tests struct {
		Tests []struct {
			PromQLExprTest []struct {
				Expr string `yaml:"expr"`
			} `yaml:"promql_expr_test"`
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(raw, &tests); err != nil {
		return nil, fmt.Errorf("%s: %w", testsPath, err)
	}
	var exprs []string
	fired, quiet := map[string]bool{}, map[string]bool{}
	for _, t := range tests.Tests {
		for _, e := range t.PromQLExprTest {
			exprs = append(exprs, e.Expr)
		}
		for _, a := range t.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fired[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	var problems []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				if !slices.Contains(exprs, r.Record) {
					problems = append(problems, fmt.Sprintf("record %s: no promql_expr_test reads it", r.Record))
				}
				continue
			}
			for _, a := range []string{"summary", "description"} {
				if r.Annotations[a] == "" {
					problems = append(problems, fmt.Sprintf("alert %s: no %s", r.Alert, a))
				}
			}
			if !runbookCall.MatchString(r.Annotations["runbook"]) {
				problems = append(problems, fmt.Sprintf("alert %s: the runbook %q does not open with the config/check, cluster/<name>/check or explain call", r.Alert, r.Annotations["runbook"]))
			}
			if r.For == 0 {
				problems = append(problems, fmt.Sprintf("alert %s: no for", r.Alert))
			}
			if !fired[r.Alert] {
				problems = append(problems, fmt.Sprintf("alert %s: no test sees it fire", r.Alert))
			}
			if !quiet[r.Alert] {
				problems = append(problems, fmt.Sprintf("alert %s: no test sees it quiet", r.Alert))
			}
		}
	}
	return problems, nil
}
