package check

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The files beside this module, and the page the reason codes and fault kinds are documented on.
var (
	rulesFile       = filepath.Join("..", "kubeauth.rules.yml")
	ruleTestsFile   = filepath.Join("..", "kubeauth.rules_test.yml")
	dashboardFile   = filepath.Join("..", "grafana-dashboard.json")
	scrapeFile      = filepath.Join("..", "testdata", "scrape.prom")
	troubleshooting = filepath.Join("..", "..", "..", "docs", "troubleshooting.md")
)

// catalog is the committed real scrape with the documented vocabulary.
func catalog(t *testing.T) *Catalog {
	t.Helper()
	f, err := os.Open(scrapeFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := ReadScrape(f)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.Open(troubleshooting)
	if err != nil {
		t.Fatal(err)
	}
	defer doc.Close()
	if err := c.ReadVocabulary(doc); err != nil {
		t.Fatal(err)
	}
	return c
}

// rulesCatalog is catalog with the rules' recorded series.
func rulesCatalog(t *testing.T) *Catalog {
	t.Helper()
	c := catalog(t)
	problems, err := c.Rules(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", rulesFile, p)
	}
	return c
}

// The rules, their tests and the dashboard name only what the plugin exports (as a real scrape
// shows it) or the rules record.
func TestFilesNameOnlyExportedOrRecordedSeries(t *testing.T) {
	c := rulesCatalog(t)
	for file, read := range map[string]func(string) ([]string, error){
		ruleTestsFile: c.RuleTests,
		dashboardFile: c.Dashboard,
	} {
		problems, err := read(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("%s: %s", file, p)
		}
	}
}

// The scrape the checks rest on has every family the plugin defines, and a login of each outcome
// (outcome is a closed label: a value the scrape lacks is refused).
func TestScrapeCoversThePlugin(t *testing.T) {
	c := catalog(t)
	for _, name := range []string{
		"kubeauth_logins_total", "kubeauth_refusals_total", "kubeauth_faults_total",
		"kubeauth_tokenreview_duration_seconds_bucket", "kubeauth_tokenreview_duration_seconds_count",
		"kubeauth_review_cache_total", "kubeauth_key_refreshes_total", "kubeauth_logins_in_flight",
		"kubeauth_cluster_keys_age_seconds",
	} {
		if c.series[name] == nil {
			t.Errorf("%s has no %s", scrapeFile, name)
		}
	}
	for _, o := range []string{"success", "refused", "invalid", "fault"} {
		if !c.series["kubeauth_logins_total"].values["outcome"][o] {
			t.Errorf("%s has no login with outcome %q", scrapeFile, o)
		}
	}
}

// Each kind of mistake is found, and names what is wrong.
func TestMistakesAreFound(t *testing.T) {
	c := rulesCatalog(t)
	for _, tc := range []struct {
		name, expr, want string
	}{
		{"unknown metric", `rate(kubeauth_login_total[5m])`, "kubeauth_login_total: neither exported"},
		{"unknown label", `kubeauth_logins_total{namespace="a"}`, `has no label "namespace"`},
		{"label of another family", `kubeauth_logins_in_flight{cluster="default"}`, `has no label "cluster"`},
		{"le outside _bucket", `kubeauth_tokenreview_duration_seconds_count{le="1"}`, `has no label "le"`},
		{"fault kind not documented", `kubeauth_faults_total{kind="kubernetes_down"}`, `kind="kubernetes_down" is no documented kind`},
		{"reason in a regexp", `kubeauth_refusals_total{reason=~"token_expired|token_expird"}`, `reason="token_expird" is no documented reason`},
		{"negated outcome", `kubeauth_logins_total{outcome!="succes"}`, `outcome="succes" is not a value the plugin exports`},
		{"result of another family", `kubeauth_review_cache_total{result="authenticated"}`, `result="authenticated" is not a value`},
		{"grouping", `sum by (namespace) (kubeauth_logins_total)`, `groups by "namespace"`},
		{"matching", `kubeauth_logins_total / on (pod) kubeauth_refusals_total`, `groups by "pod"`},
		{"unknown recorded series", `cluster:kubeauth_logins:rate1m`, "neither exported by the plugin nor recorded"},
		{"label a recording summed away", `cluster:kubeauth_review_cache_hits:ratio_rate5m{role="web"}`, `has no label "role"`},
		{"not PromQL", `rate(kubeauth_logins_total[5m]`, "does not parse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireProblem(t, c.CheckExpr(tc.expr), tc.want)
		})
	}
	for _, tc := range []struct {
		name, series, want string
	}{
		{"recorded as input", `cluster_outcome:kubeauth_logins:rate5m{cluster="default",outcome="success"}`, "a recorded series"},
		{"unknown family", `kubeauth_logins{cluster="default"}`, "not exported by the plugin"},
		{"label not exported", `kubeauth_logins_total{pod="p"}`, `no label "pod"`},
		{"fault kind", `kubeauth_faults_total{kind="unreachable"}`, `kind="unreachable" is no documented kind`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireProblem(t, c.CheckSeries(tc.series), tc.want)
		})
	}
	requireProblem(t, c.CheckVariableQuery(`label_values(kubeauth_logins_total, pod)`), `no label "pod"`)
	requireProblem(t, c.CheckVariableQuery(`query_result(up)`), "not label_values")

	// What is right passes.
	for _, expr := range []string{
		`sum without (instance, role) (rate(kubeauth_logins_total{job=~"$job",mount="kubernetes",outcome="fault"}[5m]))`,
		`kubeauth_faults_total{kind!="canceled"}`,
		`cluster_outcome:kubeauth_logins:rate5m{outcome="success"}`,
		`histogram_quantile(0.9, sum by (le) (rate(kubeauth_tokenreview_duration_seconds_bucket{result=~"authenticated|rejected"}[5m])))`,
	} {
		if p := c.CheckExpr(expr); len(p) != 0 {
			t.Errorf("%s: %v", expr, p)
		}
	}
	if p := c.CheckSeries(`kubeauth_tokenreview_duration_seconds_bucket{instance="a",cluster="default",result="failed",le="+Inf"}`); len(p) != 0 {
		t.Errorf("bucket series: %v", p)
	}
}

func requireProblem(t *testing.T, problems []string, want string) {
	t.Helper()
	for _, p := range problems {
		if strings.Contains(p, want) {
			return
		}
	}
	t.Errorf("problems %q, want one containing %q", problems, want)
}

// A vocabulary page without the two sections is refused rather than read as allowing nothing.
func TestVocabularyNeedsBothSections(t *testing.T) {
	c := &Catalog{series: map[string]*series{}, vocabulary: map[string]map[string]bool{}}
	if err := c.ReadVocabulary(strings.NewReader("## Reason codes\n\n### `token_expired`\n")); err == nil {
		t.Fatal("a page without fault kinds was accepted")
	}
}

// Every alert has its annotations, a runbook that opens with the call to make, a `for`, and
// tests that see it fire and stay quiet; every recorded series is read by a test.
func TestRulesAreAnnotatedAndTested(t *testing.T) {
	problems, err := Coverage(rulesFile, ruleTestsFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}
