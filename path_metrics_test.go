package kubeauth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"

	dto "github.com/prometheus/client_model/go"
)

// scrape reads the metrics path as a Prometheus scrape does and parses the
// body with Prometheus's own parser.
func (e *testEnv) scrape() map[string]*dto.MetricFamily {
	e.t.Helper()
	resp := e.mustDo(logical.ReadOperation, "metrics", map[string]any{"format": "prometheus"})
	if got := resp.Data[logical.HTTPStatusCode]; got != http.StatusOK {
		e.t.Fatalf("status %v", got)
	}
	if got := resp.Data[logical.HTTPContentType]; got != "text/plain; version=0.0.4; charset=utf-8" {
		e.t.Fatalf("content type %v", got)
	}
	body, ok := resp.Data[logical.HTTPRawBody].([]byte)
	if !ok {
		e.t.Fatalf("raw body is a %T, want []byte", resp.Data[logical.HTTPRawBody])
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		e.t.Fatalf("not the text format: %v\n%s", err, body)
	}
	return mfs
}

// metricValue is the value (a histogram's count) of the series of family
// name with exactly these labels, or -1 when there is none.
func metricValue(mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	for _, pm := range mfs[name].GetMetric() {
		var got []string
		for _, l := range pm.GetLabel() {
			got = append(got, l.GetName(), l.GetValue())
		}
		if !slices.Equal(got, labels) {
			continue
		}
		switch {
		case pm.Counter != nil:
			return pm.Counter.GetValue()
		case pm.Gauge != nil:
			return pm.Gauge.GetValue()
		case pm.Histogram != nil:
			return float64(pm.Histogram.GetSampleCount())
		}
	}
	return -1
}

type wantSeries struct {
	family string
	labels []string // name, value pairs in label-name order
	value  float64
}

func requireSeries(t *testing.T, mfs map[string]*dto.MetricFamily, want ...wantSeries) {
	t.Helper()
	for _, w := range want {
		if got := metricValue(mfs, w.family, w.labels...); got != w.value {
			t.Errorf("%s%q = %v, want %v", w.family, w.labels, got, w.value)
		}
	}
}

// expiredToken is a correctly signed token of the default service account
// that expired an hour ago.
func (e *testEnv) expiredToken() string {
	claims := testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault")
	past := time.Now().Add(-2 * time.Hour)
	claims["iat"], claims["nbf"], claims["exp"] = past.Unix(), past.Unix(), past.Add(time.Hour).Unix()
	return testkit.SignJWT(e.t, e.signer, jose.RS256, claims)
}

func TestMetricsCountLoginsByOutcome(t *testing.T) {
	e := configured(t)
	for _, role := range []string{testRole, testRole, "WEB"} {
		if resp, err := e.login(role, e.token()); err != nil || resp.Auth == nil {
			t.Fatalf("login as %s: %v %#v", role, err, resp)
		}
	}
	resp, err := e.login(testRole, e.expiredToken())
	e.requireDenied(resp, err, refusal.ReasonExpired)
	resp, err = e.login(testRole, testkit.SignJWT(t, e.signer, jose.RS256, testkit.Claims("elsewhere", testkit.SAName, testkit.SAUID, "vault")))
	e.requireDenied(resp, err, refusal.ReasonNamespace)
	for _, role := range []string{"nope", "Nope-2"} {
		resp, err = e.login(role, e.token())
		requireBadRequest(t, resp, err, "does not exist")
	}
	resp, err = e.login(testRole, "")
	requireBadRequest(t, resp, err, "jwt: is required")
	e.kube.answerStatus(everyPath, http.StatusForbidden, "tokenreviews is forbidden")
	_, err = e.login(testRole, e.token())
	if err == nil {
		t.Fatal("login succeeded although the reviewer is refused")
	}

	mfs := e.scrape()
	requireSeries(t, mfs,
		wantSeries{"kubeauth_logins_total", []string{"cluster", "default", "outcome", "success", "role", "web"}, 3},
		wantSeries{"kubeauth_logins_total", []string{"cluster", "default", "outcome", "refused", "role", "web"}, 2},
		wantSeries{"kubeauth_logins_total", []string{"cluster", "", "outcome", "invalid", "role", ""}, 2},
		wantSeries{"kubeauth_logins_total", []string{"cluster", "", "outcome", "invalid", "role", "web"}, 1},
		wantSeries{"kubeauth_logins_total", []string{"cluster", "default", "outcome", "fault", "role", "web"}, 1},
		wantSeries{"kubeauth_refusals_total", []string{"cluster", "default", "reason", refusal.ReasonExpired, "role", "web"}, 1},
		wantSeries{"kubeauth_refusals_total", []string{"cluster", "default", "reason", refusal.ReasonNamespace, "role", "web"}, 1},
		wantSeries{"kubeauth_faults_total", []string{"cluster", "default", "kind", refusal.FaultKubeForbidden, "role", "web"}, 1},
		wantSeries{"kubeauth_logins_in_flight", nil, 0},
	)
	if n := len(mfs["kubeauth_logins_total"].GetMetric()); n != 5 {
		t.Errorf("kubeauth_logins_total has %d series, want 5", n)
	}
}

// No label value comes from the caller: unknown role names, the case of a
// role name, service accounts, namespaces and UIDs never show.
func TestMetricsLabelsAreBounded(t *testing.T) {
	e := configured(t)
	e.kube.addServiceAccount("payments-ns", "api-sa", "0c9d6a52-8a8e-4f55-9c54-0b7a3b1e77aa", nil)
	e.writeRole("payments", map[string]any{"bound_service_account_names": "api-sa", "bound_service_account_namespaces": "payments-ns"})
	good := testkit.SignJWT(t, e.signer, jose.RS256, testkit.Claims("payments-ns", "api-sa", "0c9d6a52-8a8e-4f55-9c54-0b7a3b1e77aa", "vault"))
	for _, role := range []string{"payments", "PAYMENTS", "Payments"} {
		if _, err := e.login(role, good); err != nil {
			t.Fatalf("login as %s: %v", role, err)
		}
	}
	for i := range 20 {
		_, _ = e.login("made-up-"+strings.Repeat("x", i), good)
	}
	_, _ = e.login("payments", testkit.SignJWT(t, e.signer, jose.RS256, testkit.Claims("caller-chosen-ns", "caller-chosen-sa", "uid-1", "vault")))

	for name, mf := range e.scrape() {
		for _, pm := range mf.GetMetric() {
			for _, l := range pm.GetLabel() {
				if l.GetName() == "role" && !slices.Contains([]string{"", "payments"}, l.GetValue()) {
					t.Errorf("%s has a series for role %q", name, l.GetValue())
				}
			}
		}
	}
	body := e.mustDo(logical.ReadOperation, "metrics", map[string]any{"format": "prometheus"}).Data[logical.HTTPRawBody].([]byte)
	for _, leak := range []string{"made-up", "PAYMENTS", "Payments", "payments-ns", "api-sa", "caller-chosen", "0c9d6a52", "uid-1"} {
		if bytes.Contains(body, []byte(leak)) {
			t.Errorf("the metrics hold %q:\n%s", leak, body)
		}
	}
	requireSeries(t, e.scrape(),
		wantSeries{"kubeauth_logins_total", []string{"cluster", "default", "outcome", "success", "role", "payments"}, 3},
		wantSeries{"kubeauth_logins_total", []string{"cluster", "", "outcome", "invalid", "role", ""}, 20},
		wantSeries{"kubeauth_refusals_total", []string{"cluster", "default", "reason", refusal.ReasonName, "role", "payments"}, 1},
	)
}

// The counts belong to the mount and outlive the config state, which every
// config write replaces.
func TestMetricsSurviveConfigWritesAndArePerMount(t *testing.T) {
	e := configured(t)
	other := configured(t)
	if _, err := e.login(testRole, e.token()); err != nil {
		t.Fatal(err)
	}
	e.writeConfig(nil)
	e.writeConfig(map[string]any{"disable_iss_validation": false, "issuer": "https://kubernetes.default.svc.cluster.local"})
	if _, err := e.login(testRole, e.token()); err != nil {
		t.Fatal(err)
	}
	requireSeries(t, e.scrape(), wantSeries{"kubeauth_logins_total", []string{"cluster", "default", "outcome", "success", "role", "web"}, 2})
	if got := metricValue(other.scrape(), "kubeauth_logins_total", "cluster", "default", "outcome", "success", "role", "web"); got != -1 {
		t.Errorf("another mount's logins show in this mount's metrics: %v", got)
	}
}

// Alias lookahead runs the local checks for Vault but is no login.
func TestMetricsDoNotCountAliasLookahead(t *testing.T) {
	e := configured(t)
	for _, tok := range []string{e.token(), e.expiredToken()} {
		_, _ = e.do(logical.AliasLookaheadOperation, "login", map[string]any{"role": testRole, "jwt": tok})
	}
	if mf := e.scrape()["kubeauth_logins_total"]; len(mf.GetMetric()) != 0 {
		t.Fatalf("alias lookahead counted as logins: %v", mf)
	}
}

func TestMetricsInFlight(t *testing.T) {
	e := configured(t)
	hole := holdRequests(t, e.kube)
	done := make(chan error, 1)
	go func() {
		_, err := e.login(testRole, e.token())
		done <- err
	}()
	<-hole.arrived
	requireSeries(t, e.scrape(), wantSeries{"kubeauth_logins_in_flight", nil, 1})
	hole.free()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	requireSeries(t, e.scrape(), wantSeries{"kubeauth_logins_in_flight", nil, 0})
}

// The JSON answer, as it reaches a client through Vault (JSON-encoded),
// has every family keyed by name with its type, help and samples.
func TestMetricsJSON(t *testing.T) {
	e := configured(t)
	if _, err := e.login(testRole, e.token()); err != nil {
		t.Fatal(err)
	}
	for _, data := range []map[string]any{nil, {"format": "json"}} {
		resp := e.mustDo(logical.ReadOperation, "metrics", data)
		raw, err := json.Marshal(resp.Data)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]struct {
			Type    string `json:"type"`
			Help    string `json:"help"`
			Samples []struct {
				Labels map[string]string `json:"labels"`
				Value  *float64          `json:"value"`
			} `json:"samples"`
		}
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		logins := got["kubeauth_logins_total"]
		if logins.Type != "counter" || len(logins.Samples) != 1 || logins.Samples[0].Value == nil || *logins.Samples[0].Value != 1 ||
			logins.Samples[0].Labels["role"] != "web" || logins.Samples[0].Labels["outcome"] != "success" {
			t.Errorf("kubeauth_logins_total: %s", raw)
		}
		for _, name := range []string{"kubeauth_refusals_total", "kubeauth_faults_total", "kubeauth_tokenreview_duration_seconds",
			"kubeauth_review_cache_total", "kubeauth_key_refreshes_total", "kubeauth_logins_in_flight"} {
			if f, ok := got[name]; !ok || f.Type == "" || f.Samples == nil {
				t.Errorf("family %s missing or without samples list: %s", name, raw)
			}
		}
	}
}

func TestMetricsPathRefusesUnknownFormat(t *testing.T) {
	e := configured(t)
	resp, err := e.do(logical.ReadOperation, "metrics", map[string]any{"format": "openmetrics"})
	requireBadRequest(t, resp, err, `format: "openmetrics" is not a metrics format`)
}

// The metrics are for operators: reading them needs a Vault token.
func TestMetricsPathIsAuthenticated(t *testing.T) {
	e := newTestEnv(t)
	for _, p := range e.b.SpecialPaths().Unauthenticated {
		prefix, glob := strings.CutSuffix(p, "*")
		if p == "metrics" || glob && strings.HasPrefix("metrics", prefix) {
			t.Fatalf("metrics is reachable without a token (unauthenticated path %q)", p)
		}
	}
}

// Every TokenReview call is timed, by result; refusals decided locally make
// none.
func TestMetricsTokenReviewLatency(t *testing.T) {
	e := configured(t)
	if _, err := e.login(testRole, e.token()); err != nil {
		t.Fatal(err)
	}
	resp, err := e.login(testRole, e.expiredToken())
	e.requireDenied(resp, err, refusal.ReasonExpired)
	e.kube.deleteServiceAccount(testkit.Namespace, testkit.SAName)
	resp, err = e.login(testRole, e.token())
	e.requireDenied(resp, err, refusal.ReasonReviewRejected)
	e.kube.answerStatus(everyPath, http.StatusInternalServerError, "etcd is down")
	if _, err := e.login(testRole, e.token()); err == nil {
		t.Fatal("login succeeded against a failing API server")
	}
	mfs := e.scrape()
	requireSeries(t, mfs,
		wantSeries{"kubeauth_tokenreview_duration_seconds", []string{"cluster", "default", "result", "authenticated"}, 1},
		wantSeries{"kubeauth_tokenreview_duration_seconds", []string{"cluster", "default", "result", "rejected"}, 1},
		wantSeries{"kubeauth_tokenreview_duration_seconds", []string{"cluster", "default", "result", "failed"}, 1},
	)
	if got := mfs["kubeauth_tokenreview_duration_seconds"].GetType(); got != dto.MetricType_HISTOGRAM {
		t.Errorf("the TokenReview latency is a %v, want a histogram", got)
	}
}

// Logins of a cached-mode role count review-cache lookups: a kept answer is
// a hit, a login's own TokenReview a miss, and a TokenReview it shared with
// a concurrent login of the same token shared. Always mode has no cache
// and counts none.
func TestMetricsReviewCache(t *testing.T) {
	e := configured(t)
	e.mustLogin(testRole, e.token())
	requireSeries(t, e.scrape(),
		wantSeries{"kubeauth_review_cache_total", []string{"cluster", "default", "result", "miss"}, 0},
		wantSeries{"kubeauth_review_cache_total", []string{"cluster", "default", "result", "hit"}, 0},
	)

	e.writeRole(testRole, map[string]any{"review_mode": "cached", "review_cache_ttl": "5m"})
	first := e.tokenNo(1)
	for range 3 {
		e.mustLogin(testRole, first)
	}
	e.mustLogin(testRole, e.tokenNo(2))

	// Three logins of a new token at once: one asks, two share its answer.
	e.loginsSharingReview(3, e.tokenNo(3))

	requireSeries(t, e.scrape(),
		wantSeries{"kubeauth_review_cache_total", []string{"cluster", "default", "result", "hit"}, 2},
		wantSeries{"kubeauth_review_cache_total", []string{"cluster", "default", "result", "miss"}, 3},
		wantSeries{"kubeauth_review_cache_total", []string{"cluster", "default", "result", "shared"}, 2},
		wantSeries{"kubeauth_tokenreview_duration_seconds", []string{"cluster", "default", "result", "authenticated"}, 4},
		wantSeries{"kubeauth_logins_total", []string{"cluster", "default", "outcome", "success", "role", "web"}, 8},
	)
}

// Each fetch of the cluster's signing keys (hybrid mode) is counted by
// result.
func TestMetricsKeyRefreshes(t *testing.T) {
	e, clk := hybridEnv(t, nil)
	e.mustLogin(testRole, e.boundToken(clk.Now(), nil))
	requireSeries(t, e.scrape(),
		wantSeries{"kubeauth_key_refreshes_total", []string{"cluster", "default", "result", "success"}, 1},
		wantSeries{"kubeauth_key_refreshes_total", []string{"cluster", "default", "result", "failure"}, 0},
	)

	// A token with a key the set does not hold makes it fetch again, once
	// the refresh interval allows; the API server refuses.
	e.kube.answerStatus("/openid/v1/jwks", http.StatusForbidden, "forbidden")
	clk.Advance(5 * time.Second)
	other := testkit.PrivateKey(t, "other.key")
	_, _ = e.login(testRole, testkit.SignJWTWithKid(t, other, testKeyID(t, other.Public()), testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault")))
	requireSeries(t, e.scrape(),
		wantSeries{"kubeauth_key_refreshes_total", []string{"cluster", "default", "result", "success"}, 1},
		wantSeries{"kubeauth_key_refreshes_total", []string{"cluster", "default", "result", "failure"}, 1},
	)
}

// kubeauth_cache_entries is what the caches hold at each scrape: a kept
// answer per token a cached-mode role let in, none for a flood of forged
// or expired tokens (only answers that let a login in are kept), a
// login-limit bucket per limited workload that logged in, and a config
// write starts the cluster's caches anew.
func TestMetricsCacheEntries(t *testing.T) {
	e := configured(t)
	requireCaches := func(reviews, limits float64) {
		t.Helper()
		mfs := e.scrape()
		requireSeries(t, mfs,
			wantSeries{"kubeauth_cache_entries", []string{"cache", "reviews", "cluster", "default"}, reviews},
			wantSeries{"kubeauth_cache_entries", []string{"cache", "namespaces", "cluster", "default"}, 0},
			wantSeries{"kubeauth_cache_entries", []string{"cache", "login_limits", "cluster", ""}, limits},
		)
		if n := len(mfs["kubeauth_cache_entries"].GetMetric()); n != 3 {
			t.Errorf("kubeauth_cache_entries has %d series, want 3", n)
		}
	}
	requireCaches(0, 0)

	e.writeRole(testRole, map[string]any{"review_mode": "cached", "review_cache_ttl": "5m", "login_rate_limit": "100/1m"})
	for range 2 {
		for n := range 4 {
			e.mustLogin(testRole, e.tokenNo(n))
		}
	}
	requireCaches(4, 1)

	other := testkit.PrivateKey(t, "other.key")
	for n := range 40 {
		claims := testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault")
		claims["jti"] = fmt.Sprint("forged-", n)
		for _, jwt := range []string{testkit.SignJWT(t, other, jose.RS256, claims), e.expiredToken()} {
			if resp, err := e.login(testRole, jwt); err == nil && resp != nil && resp.Auth != nil {
				t.Fatal("a forged or expired token logged in")
			}
		}
	}
	requireCaches(4, 1)

	e.writeConfig(nil)
	requireCaches(0, 1)
}
