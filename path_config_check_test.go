package kubeauth

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/diagnose"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// checkAnswer is a config/check answer as a client decodes it.
type checkAnswer struct {
	Verdict string       `json:"verdict"`
	Checks  []checkEntry `json:"checks"`
	raw     string
}

type checkEntry struct {
	Name   string         `json:"name"`
	Status string         `json:"status"`
	Detail string         `json:"detail"`
	Fix    string         `json:"fix"`
	Data   map[string]any `json:"data"`
}

func (a checkAnswer) get(t *testing.T, name string) checkEntry {
	t.Helper()
	for _, c := range a.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in %s", name, a.raw)
	return checkEntry{}
}

// expect asserts the statuses of the named checks.
func (a checkAnswer) expect(t *testing.T, want map[string]string) {
	t.Helper()
	for name, status := range want {
		if c := a.get(t, name); c.Status != status {
			t.Errorf("%s: status %q, want %q (detail: %s; fix: %s)", name, c.Status, status, c.Detail, c.Fix)
		}
	}
}

// configCheck reads config/check, through JSON as a client sees it.
func (e *testEnv) configCheck(t *testing.T) checkAnswer {
	t.Helper()
	return e.readCheck(t, "config/check")
}

// readCheck reads a check path (config/check, cluster/<name>/check)
// through JSON as a client sees it.
func (e *testEnv) readCheck(t *testing.T, path string) checkAnswer {
	t.Helper()
	resp := e.mustDo(logical.ReadOperation, path, nil)
	raw, err := json.Marshal(resp.Data)
	if err != nil {
		t.Fatal(err)
	}
	a := checkAnswer{raw: string(raw)}
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

// reviewerJWT is a reviewer token of the fake's reviewer service account,
// issued at iat and expiring at exp.
func (e *testEnv) reviewerJWT(iat, exp time.Time) string {
	e.t.Helper()
	return testkit.SignJWT(e.t, e.signer, jose.RS256, map[string]any{
		"iss": testkit.Issuer,
		"sub": "system:serviceaccount:" + fakeReviewerNamespace + ":" + fakeReviewerName,
		"aud": []string{fakeAPIAudience},
		"iat": iat.Unix(),
		"exp": exp.Unix(),
	})
}

// useReviewerJWT makes the fake accept jwt as the reviewer and configures it.
func (e *testEnv) useReviewerJWT(jwt string, overrides map[string]any) {
	e.t.Helper()
	e.kube.setReviewerToken(jwt)
	data := map[string]any{"token_reviewer_jwt": jwt}
	for k, v := range overrides {
		data[k] = v
	}
	e.writeConfig(data)
}

var allChecks = []string{
	diagnose.CheckAPI, diagnose.CheckCA, diagnose.CheckClock, diagnose.CheckCredential, diagnose.CheckIdentity,
	diagnose.CheckTokenReviews, diagnose.CheckNamespaces, diagnose.CheckServiceAccounts, diagnose.CheckPods, diagnose.CheckReplicaSets,
	diagnose.CheckJobs, diagnose.CheckIssuer, diagnose.CheckPEMKeys,
	diagnose.CheckClusterKeys,
}

// Every feature in use and everything right: every check applies and
// passes, in the documented order, and the reviewer JWT is nowhere in it.
// (cluster_keys is the exception: with pem_keys and issuer set, no role
// needs the cluster's keys; see TestConfigCheckHybrid.)
func TestConfigCheckAllPassed(t *testing.T) {
	e := newTestEnv(t)
	now := time.Now()
	jwt := e.reviewerJWT(now, now.Add(24*time.Hour))
	e.useReviewerJWT(jwt, map[string]any{
		"pem_keys":                          []string{testkit.Testdata(t, "signer.pub")},
		"issuer":                            testkit.Issuer,
		"disable_iss_validation":            false,
		"use_annotations_as_alias_metadata": true,
	})
	e.writeRole(testRole, nil)
	e.writeRole("selected", map[string]any{"bound_service_account_namespaces": nil,
		"bound_service_account_namespace_selector": `{"matchLabels":{"vault":"yes"}}`})
	e.writeRole("pods", map[string]any{"bound_pod_label_selector": `{"matchLabels":{"app":"web"}}`})
	e.writeRole("owners", map[string]any{"alias_metadata_owner": true})

	a := e.configCheck(t)
	var names []string
	for _, c := range a.Checks {
		names = append(names, c.Name)
		if c.Name == diagnose.CheckClusterKeys {
			continue
		}
		if c.Status != diagnose.Passed {
			t.Errorf("%s: %s (%s; fix: %s)", c.Name, c.Status, c.Detail, c.Fix)
		}
	}
	if !slices.Equal(names, allChecks) {
		t.Fatalf("checks %v, want %v", names, allChecks)
	}
	if want := "ok: 13 checks passed, 1 skipped"; a.Verdict != want {
		t.Fatalf("verdict %q, want %q", a.Verdict, want)
	}
	for _, part := range append(strings.Split(jwt, "."), jwt) {
		if strings.Contains(a.raw, part) {
			t.Fatalf("the answer holds (part of) the reviewer JWT: %s", a.raw)
		}
	}
	api := a.get(t, diagnose.CheckAPI)
	if api.Data["server_version"] != "v1.36.3-fake" || api.Data["tls"] != "verified with kubernetes_ca_cert" {
		t.Fatalf("kubernetes_api data: %v", api.Data)
	}
	if got := a.get(t, diagnose.CheckIdentity).Data["username"]; got != "system:serviceaccount:vault-auth:vault-reviewer" {
		t.Fatalf("reviewer_identity username %v", got)
	}
	if got := a.get(t, diagnose.CheckCredential).Data["source"]; got != "token_reviewer_jwt" {
		t.Fatalf("reviewer_credential source %v", got)
	}
	if got := a.get(t, diagnose.CheckNamespaces).Data["roles_with_selector"]; !slices.Equal(toStrings(got), []string{"selected"}) {
		t.Fatalf("get_namespaces roles_with_selector %v", got)
	}
	if got := a.get(t, diagnose.CheckPods).Data["roles_reading_pods"]; !slices.Equal(toStrings(got), []string{"owners", "pods"}) {
		t.Fatalf("get_pods roles_reading_pods %v", got)
	}
	for _, check := range []string{diagnose.CheckReplicaSets, diagnose.CheckJobs} {
		if got := a.get(t, check).Data["roles_with_owner"]; !slices.Equal(toStrings(got), []string{"owners"}) {
			t.Fatalf("%s roles_with_owner %v", check, got)
		}
	}
}

func toStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// A config using none of the optional features: what they would need is
// skipped, not passed, and the verdict is still ok.
func TestConfigCheckSkipsWhatDoesNotApply(t *testing.T) {
	e := configured(t)
	a := e.configCheck(t)
	a.expect(t, map[string]string{
		diagnose.CheckAPI:             diagnose.Passed,
		diagnose.CheckCA:              diagnose.Passed,
		diagnose.CheckClock:           diagnose.Passed,
		diagnose.CheckCredential:      diagnose.Skipped, // an opaque token: no expiry to read
		diagnose.CheckIdentity:        diagnose.Passed,
		diagnose.CheckTokenReviews:    diagnose.Passed,
		diagnose.CheckNamespaces:      diagnose.Skipped,
		diagnose.CheckServiceAccounts: diagnose.Skipped,
		diagnose.CheckPods:            diagnose.Skipped,
		diagnose.CheckReplicaSets:     diagnose.Skipped,
		diagnose.CheckJobs:            diagnose.Skipped,
		diagnose.CheckIssuer:          diagnose.Skipped,
		diagnose.CheckPEMKeys:         diagnose.Skipped,
		diagnose.CheckClusterKeys:     diagnose.Skipped,
	})
	if want := "ok: 5 checks passed, 9 skipped"; a.Verdict != want {
		t.Fatalf("verdict %q, want %q", a.Verdict, want)
	}
	if d := a.get(t, diagnose.CheckIssuer).Detail; !strings.Contains(d, "disable_iss_validation=true") || !strings.Contains(d, testkit.Issuer) {
		t.Fatalf("issuer detail %q", d)
	}
	if strings.Contains(a.raw, testReviewer) {
		t.Fatalf("the answer holds the reviewer token: %s", a.raw)
	}
}

// Each permission the reviewer lacks fails its own check, with the binding
// that grants it, naming the reviewer Kubernetes reported.
func TestConfigCheckPermissionDenied(t *testing.T) {
	for _, tc := range []struct {
		verb, resource, check string
		wantFix               []string
	}{
		{"create", "tokenreviews", diagnose.CheckTokenReviews, []string{
			"ClusterRole system:auth-delegator",
			"kubectl create clusterrolebinding vault-reviewer-auth-delegator --clusterrole=system:auth-delegator --serviceaccount=vault-auth:vault-reviewer",
		}},
		{"get", "namespaces", diagnose.CheckNamespaces, []string{
			"kubectl create clusterrole vault-reviewer-get-namespaces --verb=get --resource=namespaces",
			"--serviceaccount=vault-auth:vault-reviewer",
		}},
		{"get", "serviceaccounts", diagnose.CheckServiceAccounts, []string{
			"--resource=serviceaccounts", "--serviceaccount=vault-auth:vault-reviewer",
		}},
		{"get", "pods", diagnose.CheckPods, []string{
			"kubectl create clusterrole vault-reviewer-get-pods --verb=get --resource=pods", "--serviceaccount=vault-auth:vault-reviewer",
		}},
	} {
		t.Run(tc.resource, func(t *testing.T) {
			e := newTestEnv(t)
			e.writeConfig(map[string]any{"use_annotations_as_alias_metadata": true})
			e.writeRole(testRole, map[string]any{"bound_service_account_namespace_selector": `{"matchLabels":{"vault":"yes"}}`,
				"token_bound_to_workload": true})
			e.kube.deny(tc.verb, tc.resource)

			a := e.configCheck(t)
			c := a.get(t, tc.check)
			if c.Status != diagnose.Failed {
				t.Fatalf("%s: %s, want failed: %s", tc.check, c.Status, c.Detail)
			}
			for _, w := range tc.wantFix {
				if !strings.Contains(c.Fix, w) {
					t.Errorf("fix %q does not contain %q", c.Fix, w)
				}
			}
			if want := "1 problem: " + tc.check + " (failed)"; !strings.HasPrefix(a.Verdict, want) {
				t.Fatalf("verdict %q, want it to start with %q", a.Verdict, want)
			}
		})
	}
}

// An API server that refuses the SelfSubjectAccessReview itself: whether
// the reviewer may create TokenReviews is unknown, which is a warning.
func TestConfigCheckAccessReviewRefused(t *testing.T) {
	e := configured(t)
	e.kube.answerStatus("/selfsubjectaccessreviews", http.StatusForbidden, "selfsubjectaccessreviews is forbidden")
	c := e.configCheck(t).get(t, diagnose.CheckTokenReviews)
	if c.Status != diagnose.Warning || !strings.Contains(c.Detail, "HTTP 403") || !strings.Contains(c.Fix, "system:basic-user") {
		t.Fatalf("create_tokenreviews: %+v", c)
	}
}

// The cluster announces another issuer than the one the config enforces.
func TestConfigCheckDifferentIssuer(t *testing.T) {
	e := newTestEnv(t)
	e.writeConfig(map[string]any{"issuer": testkit.Issuer, "disable_iss_validation": false})
	e.kube.setIssuer("https://oidc.example.com/cluster-7")
	c := e.configCheck(t).get(t, diagnose.CheckIssuer)
	if c.Status != diagnose.Failed || !strings.Contains(c.Detail, "issuer_mismatch") ||
		c.Fix != "write the config with issuer=https://oidc.example.com/cluster-7" {
		t.Fatalf("issuer: %+v", c)
	}
	if c.Data["announced"] != "https://oidc.example.com/cluster-7" || c.Data["expected"] != testkit.Issuer {
		t.Fatalf("issuer data: %v", c.Data)
	}
}

// An expired reviewer JWT: the credential check reads its exp, the API
// server's 401 fails the identity check, and the checks that need the
// credential are skipped with that reason instead of failing again.
func TestConfigCheckExpiredReviewer(t *testing.T) {
	e := newTestEnv(t)
	now := time.Now()
	expired := e.reviewerJWT(now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	e.writeConfig(map[string]any{
		"token_reviewer_jwt":     expired,
		"pem_keys":               []string{testkit.Testdata(t, "signer.pub")},
		"disable_iss_validation": false, "issuer": testkit.Issuer,
	})
	// The fake accepts only testReviewer, so it answers the expired one
	// with 401 as an API server does.
	a := e.configCheck(t)
	a.expect(t, map[string]string{
		diagnose.CheckAPI:          diagnose.Passed,
		diagnose.CheckCredential:   diagnose.Failed,
		diagnose.CheckIdentity:     diagnose.Failed,
		diagnose.CheckTokenReviews: diagnose.Skipped,
		diagnose.CheckIssuer:       diagnose.Skipped,
		diagnose.CheckPEMKeys:      diagnose.Skipped,
	})
	if c := a.get(t, diagnose.CheckCredential); !strings.Contains(c.Detail, "expired on") || !strings.Contains(c.Fix, "token_reviewer_jwt") {
		t.Fatalf("reviewer_credential: %+v", c)
	}
	if c := a.get(t, diagnose.CheckIdentity); !strings.Contains(c.Detail, "HTTP 401") {
		t.Fatalf("reviewer_identity: %+v", c)
	}
	if c := a.get(t, diagnose.CheckTokenReviews); !strings.Contains(c.Detail, "see reviewer_identity") {
		t.Fatalf("create_tokenreviews: %+v", c)
	}
	if !strings.HasPrefix(a.Verdict, "2 problems: reviewer_credential (failed), reviewer_identity (failed)") {
		t.Fatalf("verdict %q", a.Verdict)
	}
	if strings.Contains(a.raw, strings.Split(expired, ".")[2]) {
		t.Fatalf("the answer holds the reviewer JWT: %s", a.raw)
	}
}

// pem_keys that are not the cluster's keys: tokens the cluster signs
// would be refused.
func TestConfigCheckPEMKeysMismatch(t *testing.T) {
	e := newTestEnv(t)
	other := testkit.PrivateKey(t, "other.key").Public()
	e.writeConfig(map[string]any{"pem_keys": []string{testkit.Testdata(t, "other.pub")}})
	c := e.configCheck(t).get(t, diagnose.CheckPEMKeys)
	if c.Status != diagnose.Failed || !strings.Contains(c.Detail, testKeyID(t, e.signer.Public())) || !strings.Contains(c.Detail, "signature_invalid") {
		t.Fatalf("pem_keys: %+v", c)
	}
	if got := c.Data["unmatched_pem_keys"]; !slices.Equal(got.([]any), []any{float64(0)}) {
		t.Fatalf("unmatched_pem_keys %v", got)
	}

	// The right key plus a stale one: a warning about the stale one.
	e.writeConfig(map[string]any{"pem_keys": []string{testkit.Testdata(t, "signer.pub"), testkit.Testdata(t, "other.pub")}})
	c = e.configCheck(t).get(t, diagnose.CheckPEMKeys)
	if c.Status != diagnose.Warning || !strings.Contains(c.Detail, "[1]") {
		t.Fatalf("pem_keys: %+v", c)
	}

	// The cluster has added a signing key (a rotation under way) that
	// pem_keys lacks.
	e.writeConfig(map[string]any{"pem_keys": []string{testkit.Testdata(t, "signer.pub")}})
	e.kube.publish(testKeyID(t, other), other)
	c = e.configCheck(t).get(t, diagnose.CheckPEMKeys)
	if c.Status != diagnose.Failed || !strings.Contains(c.Detail, "(kid "+testKeyID(t, other)+")") {
		t.Fatalf("pem_keys: %+v", c)
	}
}

// The API server's Date header far from Vault's clock.
func TestConfigCheckClockSkew(t *testing.T) {
	for _, tc := range []struct {
		offset time.Duration
		want   string
		words  string
	}{
		{2 * time.Minute, diagnose.Failed, "token_not_yet_valid"},
		{-2 * time.Minute, diagnose.Failed, "token_expired"},
		{20 * time.Second, diagnose.Warning, "behind"},
		{-20 * time.Second, diagnose.Warning, "ahead of"},
	} {
		t.Run(tc.offset.String(), func(t *testing.T) {
			e := configured(t)
			e.kube.setClockOffset(tc.offset)
			c := e.configCheck(t).get(t, diagnose.CheckClock)
			if c.Status != tc.want || !strings.Contains(c.Detail, tc.words) {
				t.Fatalf("clock_skew: %+v", c)
			}
		})
	}
}

// An API server that cannot be reached fails one check; what depends on
// it is skipped with the reason, and the local checks still run.
func TestConfigCheckUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	e := newTestEnv(t)
	e.writeConfig(map[string]any{"kubernetes_host": "https://" + addr})
	a := e.configCheck(t)
	a.expect(t, map[string]string{
		diagnose.CheckAPI:          diagnose.Failed,
		diagnose.CheckCA:           diagnose.Passed,
		diagnose.CheckClock:        diagnose.Skipped,
		diagnose.CheckIdentity:     diagnose.Skipped,
		diagnose.CheckTokenReviews: diagnose.Skipped,
		diagnose.CheckIssuer:       diagnose.Skipped,
	})
	api := a.get(t, diagnose.CheckAPI)
	if !strings.Contains(api.Detail, "unreachable") || !strings.Contains(api.Fix, addr) {
		t.Fatalf("kubernetes_api: %+v", api)
	}
	if d := a.get(t, diagnose.CheckTokenReviews).Detail; !strings.Contains(d, "see kubernetes_api") {
		t.Fatalf("create_tokenreviews detail %q", d)
	}
	if !strings.HasPrefix(a.Verdict, "1 problem: kubernetes_api (failed)") {
		t.Fatalf("verdict %q", a.Verdict)
	}
}

// A CA that does not verify the API server's certificate.
func TestConfigCheckWrongCA(t *testing.T) {
	e := newTestEnv(t)
	// A self-signed certificate that signed nothing the fake serves.
	e.writeConfig(map[string]any{"kubernetes_ca_cert": testkit.Testdata(t, "signer.crt")})
	a := e.configCheck(t)
	api := a.get(t, diagnose.CheckAPI)
	if api.Status != diagnose.Failed || !strings.Contains(api.Detail, "TLS verification") ||
		!strings.HasPrefix(api.Fix, "set kubernetes_ca_cert") {
		t.Fatalf("kubernetes_api: %+v", api)
	}
	a.expect(t, map[string]string{diagnose.CheckIdentity: diagnose.Skipped, diagnose.CheckClock: diagnose.Skipped})
}

// Without a reviewer JWT or pod token, each login's JWT reviews itself:
// the reviewer checks are skipped and say why.
func TestConfigCheckSelfReview(t *testing.T) {
	e := newTestEnv(t)
	e.kube.setReviewerToken("")
	e.writeConfig(map[string]any{"token_reviewer_jwt": ""})
	a := e.configCheck(t)
	a.expect(t, map[string]string{
		diagnose.CheckAPI:          diagnose.Passed,
		diagnose.CheckCredential:   diagnose.Skipped,
		diagnose.CheckIdentity:     diagnose.Skipped,
		diagnose.CheckTokenReviews: diagnose.Skipped,
		diagnose.CheckIssuer:       diagnose.Skipped,
	})
	for _, name := range []string{diagnose.CheckCredential, diagnose.CheckIdentity, diagnose.CheckTokenReviews} {
		if d := a.get(t, name).Detail; !strings.Contains(d, "each login's own JWT") {
			t.Errorf("%s detail %q", name, d)
		}
	}
	if d := a.get(t, diagnose.CheckIssuer).Detail; !strings.Contains(d, "a caller without credentials (HTTP 401)") {
		t.Fatalf("issuer detail %q", d)
	}
	if got := a.get(t, diagnose.CheckCredential).Data["source"]; got != "login_jwt" {
		t.Fatalf("source %v", got)
	}
}

// The pod's own token as the reviewer credential, close to its expiry.
func TestConfigCheckPodToken(t *testing.T) {
	e := newTestEnv(t)
	now := time.Now()
	jwt := e.reviewerJWT(now.Add(-55*time.Minute), now.Add(5*time.Minute))
	if err := os.WriteFile(filepath.Join(e.b.localFiles.dir, "token"), []byte(jwt+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.kube.setReviewerToken(jwt)
	e.writeConfig(map[string]any{"token_reviewer_jwt": ""})
	a := e.configCheck(t)
	c := a.get(t, diagnose.CheckCredential)
	if c.Status != diagnose.Warning || c.Data["source"] != "pod_token_file" || !strings.Contains(c.Detail, "the pod's service-account token") {
		t.Fatalf("reviewer_credential: %+v", c)
	}
	a.expect(t, map[string]string{diagnose.CheckIdentity: diagnose.Passed, diagnose.CheckTokenReviews: diagnose.Passed})
	if strings.Contains(a.raw, strings.Split(jwt, ".")[2]) {
		t.Fatalf("the answer holds the pod's token: %s", a.raw)
	}
}

// An API server without SelfSubjectReview (before 1.28): the identity is
// skipped, the permissions are still asked, and a fix names the reviewer
// generically.
func TestConfigCheckNoSelfSubjectReview(t *testing.T) {
	e := configured(t)
	e.kube.deny("create", "tokenreviews")
	e.kube.answerStatus("/selfsubjectreviews", http.StatusNotFound, "the server could not find the requested resource")
	a := e.configCheck(t)
	a.expect(t, map[string]string{diagnose.CheckIdentity: diagnose.Skipped, diagnose.CheckTokenReviews: diagnose.Failed})
	if fix := a.get(t, diagnose.CheckTokenReviews).Fix; !strings.Contains(fix, "--serviceaccount=<namespace>:<name>") {
		t.Fatalf("fix %q", fix)
	}
}

func TestConfigCheckNotConfigured(t *testing.T) {
	e := newTestEnv(t)
	resp, err := e.do(logical.ReadOperation, "config/check", nil)
	requireBadRequest(t, resp, err, "not configured")
}

// config/check tells about the setup, so it must need a Vault token.
func TestConfigCheckIsAuthenticated(t *testing.T) {
	e := newTestEnv(t)
	for _, p := range e.b.PathsSpecial.Unauthenticated {
		if p == "config/check" || strings.HasPrefix("config/check", strings.TrimSuffix(p, "*")) && strings.HasSuffix(p, "*") {
			t.Fatalf("unauthenticated path %q covers config/check", p)
		}
	}
}

// review_mode=hybrid roles verify young tokens with the issuer and keys the
// cluster publishes: readable, refused, impossible without a credential,
// and not needed with issuer and pem_keys set.
func TestConfigCheckHybrid(t *testing.T) {
	hybridRole := map[string]any{"review_mode": "hybrid"}

	t.Run("readable", func(t *testing.T) {
		e := newTestEnv(t)
		e.writeConfig(nil)
		e.writeRole("fast", hybridRole)
		c := e.configCheck(t).get(t, diagnose.CheckClusterKeys)
		if c.Status != diagnose.Passed || !strings.Contains(c.Detail, "(fast)") || !strings.Contains(c.Detail, testkit.Issuer) ||
			!strings.Contains(c.Detail, testKeyID(t, e.signer.Public())) {
			t.Fatalf("cluster_keys: %+v", c)
		}
	})
	t.Run("refused", func(t *testing.T) {
		e := newTestEnv(t)
		e.writeConfig(nil)
		e.writeRole("fast", hybridRole)
		e.kube.answerStatus("/openid/v1/jwks", http.StatusForbidden, "forbidden")
		a := e.configCheck(t)
		c := a.get(t, diagnose.CheckClusterKeys)
		want := "kubectl create clusterrolebinding vault-reviewer-issuer-discovery --clusterrole=system:service-account-issuer-discovery --serviceaccount=vault-auth:vault-reviewer"
		if c.Status != diagnose.Warning || !strings.Contains(c.Detail, "key set") || !strings.Contains(c.Detail, "review every token") ||
			!strings.HasSuffix(c.Fix, want) {
			t.Fatalf("cluster_keys: %+v", c)
		}
		if !strings.HasPrefix(a.Verdict, "1 problem: cluster_keys (warning)") {
			t.Fatalf("verdict %q", a.Verdict)
		}
	})
	t.Run("no credential", func(t *testing.T) {
		e := newTestEnv(t)
		e.kube.setReviewerToken("")
		e.writeConfig(map[string]any{"token_reviewer_jwt": ""})
		e.writeRole("fast", hybridRole)
		c := e.configCheck(t).get(t, diagnose.CheckClusterKeys)
		if c.Status != diagnose.Warning || !strings.Contains(c.Fix, "token_reviewer_jwt") {
			t.Fatalf("cluster_keys: %+v", c)
		}
	})
	t.Run("configured", func(t *testing.T) {
		e := newTestEnv(t)
		e.writeConfig(map[string]any{"issuer": testkit.Issuer, "pem_keys": []string{testkit.Testdata(t, "signer.pub")}})
		e.writeRole("fast", hybridRole)
		e.kube.answerStatus("/openid/v1/jwks", http.StatusForbidden, "forbidden")
		a := e.configCheck(t)
		a.expect(t, map[string]string{diagnose.CheckClusterKeys: diagnose.Skipped, diagnose.CheckPEMKeys: diagnose.Skipped})
	})
}

// token_bound_to_workload reads service accounts and pods at renewal, so
// both checks apply even without use_annotations_as_alias_metadata.
func TestConfigCheckTokenBoundToWorkload(t *testing.T) {
	e := configured(t)
	e.writeRole("bound", map[string]any{"token_bound_to_workload": true})
	a := e.configCheck(t)
	for _, name := range []string{diagnose.CheckServiceAccounts, diagnose.CheckPods} {
		if c := a.get(t, name); c.Status != diagnose.Passed {
			t.Errorf("%s: %s (%s), want passed", name, c.Status, c.Detail)
		}
	}
}
