package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// scrapeFile is the real scrape deploy/prometheus's rules, tests and dashboard are checked
// against (by deploy/prometheus/check, without a stack).
const scrapeFile = "deploy/prometheus/testdata/scrape.prom"

// scrapeHeader opens the committed scrape; the text format reads it as a comment.
const scrapeHeader = "# A real scrape of auth/<mount>/metrics?format=prometheus after a mix of logins, written by\n" +
	"# e2e/prometheus_rules_test.go with KUBEAUTH_UPDATE_SCRAPE=1. deploy/prometheus/check holds the\n" +
	"# rules, their tests and the dashboard to the names and labels in it.\n"

// The committed scrape has the families, help, types and series (names and labels; the values
// may differ) of a real one taken after the same logins: a fault, successes of an always, a
// cached (a miss, then a hit) and a hybrid role, refusals of two reasons and a malformed login.
// KUBEAUTH_UPDATE_SCRAPE=1 writes the real one instead. Then the rules load into a real
// Prometheus scraping the mount, every rule evaluates without error, and every recording rule
// gives this mount's series.
func TestPrometheusRulesOnTheRealScrape(t *testing.T) {
	t.Parallel()
	m := newMount(t)
	w := stk.NewWorkload(t, "app", nil)
	stranger := stk.NewWorkload(t, "stranger", nil)
	m.bindRole(t, "web", w, nil)
	m.bindRole(t, "cached", w, map[string]any{"review_mode": "cached"})
	m.bindRole(t, "hybrid", w, map[string]any{"review_mode": "hybrid"})
	jwt := vaultToken(t, w)

	// A fault first, while the config's CA is not the API server's (kubernetes_tls); the
	// counts outlive the config write that mends it.
	wrongCA, err := os.ReadFile(stk.AdminCert)
	if err != nil {
		t.Fatal(err)
	}
	m.configure(t, map[string]any{"kubernetes_ca_cert": string(wrongCA)})
	expectGenericFault(t, m.login(t, "web", jwt))
	m.configure(t, nil)
	for _, role := range []string{"web", "web", "cached", "cached", "hybrid"} {
		m.mustLogin(t, role, jwt)
	}
	realstack.ExpectDenied(t, m.login(t, "web", vaultToken(t, stranger)))
	realstack.ExpectDenied(t, m.login(t, "web", mintToken(t, w.Namespace, w.SA.Name, realstack.TokenOptions{Audiences: []string{"not-vault"}})))
	expectBadRequest(t, m.login(t, "no-such-role", jwt), "role")

	body := scrape(t, m.path, stk.Vault.Token)
	compareScrape(t, filepath.Join(stk.RepoRoot, scrapeFile), body)

	prom := startPrometheus(t, m.path, stk.Vault.Token, promSetup{
		ruleFiles: []string{filepath.Join(stk.RepoRoot, "deploy", "prometheus", "kubeauth.rules.yml")},
		labels:    map[string]string{"mount": m.path},
	})
	records := prom.waitForHealthyRules(t)
	if len(records) == 0 {
		t.Fatal("Prometheus loaded no recording rule")
	}
	for _, name := range records {
		prom.waitFor(t, fmt.Sprintf(`count(%s{job="kubeauth",mount=%q}) > bool 0`, name, m.path), 1)
	}
	// A login now shows in the recorded rate.
	m.mustLogin(t, "web", jwt)
	prom.waitFor(t, fmt.Sprintf(`count(cluster_outcome:kubeauth_logins:rate5m{mount=%q,cluster="default",outcome="success"} > 0)`, m.path), 1)
}

// compareScrape holds the committed scrape to the real one by shape (see scrapeShape), or
// writes the real one with KUBEAUTH_UPDATE_SCRAPE=1.
func compareScrape(t *testing.T, file, real string) {
	t.Helper()
	if os.Getenv("KUBEAUTH_UPDATE_SCRAPE") == "1" {
		if err := os.WriteFile(file, []byte(scrapeHeader+real), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", file)
		return
	}
	committed, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want, got := scrapeShape(string(committed)), scrapeShape(real)
	var diff []string
	for _, l := range want {
		if !slices.Contains(got, l) {
			diff = append(diff, "- "+l)
		}
	}
	for _, l := range got {
		if !slices.Contains(want, l) {
			diff = append(diff, "+ "+l)
		}
	}
	if len(diff) > 0 {
		t.Errorf("%s (-) differs from the plugin's real scrape (+); if the change is meant, rerun this test with KUBEAUTH_UPDATE_SCRAPE=1, then make rules-test:\n%s",
			scrapeFile, strings.Join(diff, "\n"))
	}
}

// scrapeShape is a scrape's HELP and TYPE lines and its series without their values: what
// rules can name. Other comments are left out.
func scrapeShape(text string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "# HELP "), strings.HasPrefix(line, "# TYPE "):
			out = append(out, line)
		case line == "", strings.HasPrefix(line, "#"):
		default:
			out = append(out, line[:strings.LastIndexByte(line, ' ')])
		}
	}
	return out
}

// waitForHealthyRules waits until Prometheus has evaluated every rule it loaded, fails on a
// rule whose evaluation failed, and returns the recording rules' names.
func (p *prometheus) waitForHealthyRules(t *testing.T) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var out struct {
			Status string `json:"status"`
			Error  string `json:"error"`
			Data   struct {
				Groups []struct {
					Rules []struct {
						Name      string `json:"name"`
						Type      string `json:"type"`
						Health    string `json:"health"`
						LastError string `json:"lastError"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		p.get(t, "/api/v1/rules", &out)
		if out.Status != "success" {
			t.Fatalf("GET /api/v1/rules: %s %s", out.Status, out.Error)
		}
		var records, waiting []string
		for _, g := range out.Data.Groups {
			for _, r := range g.Rules {
				switch r.Health {
				case "ok":
				case "err":
					t.Fatalf("rule %s: %s", r.Name, r.LastError)
				default:
					waiting = append(waiting, r.Name)
				}
				if r.Type == "recording" {
					records = append(records, r.Name)
				}
			}
		}
		if len(out.Data.Groups) > 0 && len(waiting) == 0 {
			return records
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s Prometheus has %d rule groups and has not evaluated %v (log: %s)", len(out.Data.Groups), waiting, p.log)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
