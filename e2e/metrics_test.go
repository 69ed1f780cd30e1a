package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

const textFormat = "text/plain; version=0.0.4; charset=utf-8"

// A real Prometheus scrapes the mount's metrics through Vault with a Vault
// token, as it scrapes Vault's own sys/metrics, and its query API then
// answers with the plugin's counters; promtool finds nothing wrong with the
// exposition; refusals are logged with their reason and never with the JWT.
func TestMetricsScrapedByPrometheus(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "app", nil)
	stranger := stk.NewWorkload(t, "stranger", nil)
	role := realstack.UniqueName(t, "r")
	m.bindRole(t, role, w, nil)

	// A token that may read the metrics and nothing else.
	policy := realstack.UniqueName(t, "metrics")
	expectOK(t, root(t, http.MethodPut, "sys/policies/acl/"+policy, map[string]any{
		"policy": fmt.Sprintf(`path "auth/%s/metrics" { capabilities = ["read"] }`, m.path),
	}))
	r := root(t, http.MethodPost, "auth/token/create", map[string]any{"policies": []string{policy}, "ttl": "1h", "no_default_policy": true})
	expectStatus(t, r, http.StatusOK)
	scraper := r.Auth().Str("client_token")

	// The metrics are for operators only.
	expectStatus(t, call(t, http.MethodGet, "auth/"+m.path+"/metrics", "", nil), http.StatusForbidden)

	for range 3 {
		m.mustLogin(t, role, vaultToken(t, w))
	}
	refusedJWT := vaultToken(t, stranger)
	realstack.ExpectDenied(t, m.login(t, role, refusedJWT))
	expectBadRequest(t, m.login(t, "no-such-role", vaultToken(t, w)), "role")

	// The refusal is one info line with the role, the reason, the detail
	// and the client's address; the JWT is in no line of Vault's log.
	realstack.WaitForLog(t, stk.VaultLogPath(), 10*time.Second, "[INFO]", "login refused", "role="+role,
		"reason=service_account_name_not_bound", "detail=", "remote_addr=127.0.0.1")
	if log, err := os.ReadFile(stk.VaultLogPath()); err != nil {
		t.Fatal(err)
	} else if sig := refusedJWT[strings.LastIndex(refusedJWT, ".")+1:]; bytes.Contains(log, []byte(sig)) {
		t.Errorf("Vault's log holds the refused login's JWT")
	}

	// The raw scrape: Vault passes the plugin's body and content type
	// through untouched.
	body := scrape(t, m.path, scraper)
	for _, line := range []string{
		`kubeauth_logins_total{cluster="default",outcome="success",role="` + role + `"} 3`,
		`kubeauth_logins_total{cluster="default",outcome="refused",role="` + role + `"} 1`,
		`kubeauth_logins_total{cluster="",outcome="invalid",role=""} 1`,
		`kubeauth_refusals_total{cluster="default",reason="service_account_name_not_bound",role="` + role + `"} 1`,
		`kubeauth_tokenreview_duration_seconds_count{cluster="default",result="authenticated"} 3`,
		`kubeauth_logins_in_flight 0`,
	} {
		if !strings.Contains(body, line+"\n") {
			t.Errorf("the exposition lacks %q:\n%s", line, body)
		}
	}
	promtool := exec.Command(stk.PromtoolBin, "check", "metrics")
	promtool.Stdin = strings.NewReader(body)
	if out, err := promtool.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s\non:\n%s", err, out, body)
	}

	// The JSON answer through Vault's API.
	r = call(t, http.MethodGet, "auth/"+m.path+"/metrics", scraper, nil)
	expectStatus(t, r, http.StatusOK)
	logins, _ := r.Data()["kubeauth_logins_total"].(map[string]any)
	if logins["type"] != "counter" || !strings.Contains(r.String(), `"value":3`) {
		t.Errorf("JSON metrics: %s", r)
	}

	// A real Prometheus scrapes the same endpoint.
	prom := startPrometheus(t, m.path, scraper, promSetup{})
	prom.waitFor(t, `up{job="kubeauth"}`, 1)
	prom.waitFor(t, `kubeauth_logins_total{job="kubeauth",outcome="success",role="`+role+`"}`, 3)
	prom.waitFor(t, `sum(kubeauth_refusals_total{job="kubeauth",reason="service_account_name_not_bound"})`, 1)
	m.mustLogin(t, role, vaultToken(t, w))
	prom.waitFor(t, `kubeauth_logins_total{job="kubeauth",outcome="success",role="`+role+`"}`, 4)
}

// scrape is what Prometheus sends: GET with format=prometheus and the
// Vault token as a bearer token. It checks the status and content type.
func scrape(t *testing.T, mount, token string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, stk.Vault.Addr+"/v1/auth/"+mount+"/metrics?format=prometheus", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := realstack.HTTPClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != textFormat {
		t.Fatalf("scrape: HTTP %d, Content-Type %q, want 200 and %q:\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), textFormat, raw)
	}
	return string(raw)
}

// prometheus is a Prometheus server the test started.
type prometheus struct {
	addr string // http://127.0.0.1:port
	log  string
}

// promSetup is what a test adds to the Prometheus startPrometheus runs.
type promSetup struct {
	ruleFiles []string          // rule files to load, evaluated every second
	labels    map[string]string // target labels of the mount's scrape
}

// prometheusPort is held by the test whose Prometheus listens on
// E2E_PROMETHEUS_PORT, so that tests running in parallel take turns.
var prometheusPort sync.Mutex

// startPrometheus runs Prometheus on E2E_PROMETHEUS_PORT with one scrape
// job for the mount's metrics, every second, until the test ends (another
// test's waits until then). Its log goes to the stack's logs folder.
func startPrometheus(t *testing.T, mount, token string, setup promSetup) *prometheus {
	t.Helper()
	vaultURL, err := url.Parse(stk.Vault.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if setup.ruleFiles == nil {
		setup.ruleFiles = []string{}
	}
	if setup.labels == nil {
		setup.labels = map[string]string{}
	}
	dir := t.TempDir()
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: %s
scrape_configs:
  - job_name: kubeauth
    scheme: %s
    metrics_path: /v1/auth/%s/metrics
    params:
      format: [prometheus]
    authorization:
      credentials: %q
    static_configs:
      - targets: [%q]
        labels: %s
`, jsonText(t, setup.ruleFiles), vaultURL.Scheme, mount, token, vaultURL.Host, jsonText(t, setup.labels))
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &prometheus{
		addr: "http://127.0.0.1:" + strconv.Itoa(stk.prometheusPort),
		log:  filepath.Join(stk.StackDir, "logs", "prometheus.log"),
	}
	logFile, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	prometheusPort.Lock()
	t.Cleanup(prometheusPort.Unlock)
	cmd := exec.Command(stk.PrometheusBin,
		"--config.file="+cfgFile,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(stk.prometheusPort),
		"--log.level=info")
	cmd.Env = realstack.CleanEnv()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.addr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus not ready on %s after 60 s (log: %s)", p.addr, p.log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// jsonText is v as JSON, which YAML reads as a flow list or map.
func jsonText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// get reads a JSON answer of Prometheus's HTTP API into out, whatever its
// status: an error's answer says what was wrong in its "error" field.
func (p *prometheus) get(t *testing.T, path string, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: HTTP %d: %v", path, resp.StatusCode, err)
	}
}

// query asks Prometheus's HTTP API for an instant vector and returns the
// values of its samples.
func (p *prometheus) query(t *testing.T, q string) []float64 {
	t.Helper()
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"` // [time, "value"]
			} `json:"result"`
		} `json:"data"`
	}
	p.get(t, "/api/v1/query?query="+url.QueryEscape(q), &out)
	if out.Status != "success" {
		t.Fatalf("query %s: %s %s", q, out.Status, out.Error)
	}
	var values []float64
	for _, r := range out.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("query %s: value %v: %v", q, r.Value[1], err)
		}
		values = append(values, v)
	}
	return values
}

// waitFor waits until the query returns exactly one sample with the value:
// Prometheus scrapes every second, so a new count shows within a few.
func (p *prometheus) waitFor(t *testing.T, q string, want float64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := p.query(t, q)
		if len(got) == 1 && got[0] == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus answers %s with %v after 30 s, want [%v] (its log: %s; targets: %s/api/v1/targets)", q, got, want, p.log, p.addr)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Faults are counted by kind against a real API server: a reviewer without
// the right to create TokenReviews, and a CA that is not the API server's.
func TestMetricsCountFaultsByKind(t *testing.T) {
	t.Parallel()
	weak := stk.NewWorkload(t, "weak-reviewer", nil)
	w := stk.NewWorkload(t, "app", nil)
	wrongCA, err := os.ReadFile(stk.AdminCert)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		kind   string
		config map[string]any
	}{
		{"kubernetes_forbidden", map[string]any{"token_reviewer_jwt": mintToken(t, weak.Namespace, weak.SA.Name, realstack.TokenOptions{})}},
		{"kubernetes_tls", map[string]any{"kubernetes_ca_cert": string(wrongCA)}},
	} {
		m := newMount(t)
		m.configure(t, c.config)
		role := realstack.UniqueName(t, "r")
		m.bindRole(t, role, w, nil)
		expectGenericFault(t, m.login(t, role, vaultToken(t, w)))
		realstack.WaitForLog(t, stk.VaultLogPath(), 10*time.Second, "[ERROR]", "login failed", "role="+role, "kind="+c.kind, "remote_addr=127.0.0.1")

		body := scrape(t, m.path, stk.Vault.Token)
		for _, line := range []string{
			`kubeauth_faults_total{cluster="default",kind="` + c.kind + `",role="` + role + `"} 1`,
			`kubeauth_logins_total{cluster="default",outcome="fault",role="` + role + `"} 1`,
		} {
			if !strings.Contains(body, line+"\n") {
				t.Errorf("the exposition lacks %q:\n%s", line, body)
			}
		}
	}
}

// On the real stack, a cached-mode role's second login with a token is a
// review-cache hit, and a hybrid-mode login fetches the cluster's keys
// from the apiserver once, a key refresh that succeeded.
func TestMetricsReviewCacheAndKeyRefreshes(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "app", nil)
	m.bindRole(t, "cached", w, map[string]any{"review_mode": "cached"})
	m.bindRole(t, "hybrid", w, map[string]any{"review_mode": "hybrid"})
	jwt := vaultToken(t, w)
	for range 2 {
		m.mustLogin(t, "cached", jwt)
	}
	m.mustLogin(t, "hybrid", jwt)

	body := scrape(t, m.path, stk.Vault.Token)
	for _, line := range []string{
		`kubeauth_review_cache_total{cluster="default",result="hit"} 1`,
		`kubeauth_review_cache_total{cluster="default",result="miss"} 1`,
		`kubeauth_review_cache_total{cluster="default",result="shared"} 0`,
		`kubeauth_key_refreshes_total{cluster="default",result="success"} 1`,
		`kubeauth_key_refreshes_total{cluster="default",result="failure"} 0`,
		`kubeauth_tokenreview_duration_seconds_count{cluster="default",result="authenticated"} 1`,
		`kubeauth_logins_total{cluster="default",outcome="success",role="cached"} 2`,
		`kubeauth_logins_total{cluster="default",outcome="success",role="hybrid"} 1`,
	} {
		if !strings.Contains(body, line+"\n") {
			t.Errorf("the exposition lacks %q:\n%s", line, body)
		}
	}
}
