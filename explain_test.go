package kubeauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	authv1 "k8s.io/api/authentication/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// explain asks for an explanation and fails the test unless it is an
// answer (not an error), which it returns decoded as JSON, as a client
// would see it, with the raw JSON.
func (e *testEnv) explain(role, jwt string) (map[string]any, string) {
	e.t.Helper()
	resp, err := e.do(logical.UpdateOperation, "explain", map[string]any{"role": role, "jwt": jwt})
	if err != nil || resp == nil || resp.IsError() {
		e.t.Fatalf("explain: err=%v resp=%#v", err, resp)
	}
	if resp.Auth != nil {
		e.t.Fatal("explain issued a token")
	}
	raw, err := json.Marshal(resp.Data)
	if err != nil {
		e.t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatal(err)
	}
	if strings.Contains(string(raw), jwt) || strings.Contains(e.logs.String(), jwt) {
		e.t.Fatal("the JWT is in the answer or the log")
	}
	return out, string(raw)
}

// explainSteps is the answer's steps by name, and their names in order.
func explainSteps(t *testing.T, out map[string]any) (map[string]map[string]any, []string) {
	t.Helper()
	byName := map[string]map[string]any{}
	var order []string
	for _, s := range out["steps"].([]any) {
		m := s.(map[string]any)
		byName[m["name"].(string)] = m
		order = append(order, m["name"].(string))
	}
	return byName, order
}

// requireStep asserts a step's outcome, reason code and that its detail
// contains want.
func requireStep(t *testing.T, out map[string]any, name, outcome, reason, want string) {
	t.Helper()
	steps, _ := explainSteps(t, out)
	s := steps[name]
	if s == nil {
		t.Fatalf("no step %q in %v", name, out["steps"])
	}
	got, _ := s["reason"].(string)
	if s["outcome"] != outcome || got != reason || !strings.Contains(s["detail"].(string), want) {
		t.Fatalf("step %s: %v, want outcome %s reason %q detail containing %q", name, s, outcome, reason, want)
	}
}

func stepNames(steps []loginStep) []string {
	var names []string
	for _, s := range steps {
		names = append(names, s.name)
	}
	return names
}

// A good token in always mode: every step in the login's order, the
// ones that do not apply skipped with why, the identity and the token the
// login would get, and nothing issued or written.
func TestExplainPasses(t *testing.T) {
	e := configured(t)
	before, err := e.storage.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	out, _ := e.explain(testRole, e.token())
	if _, order := explainSteps(t, out); !slices.Equal(order, stepNames(e.b.loginSteps())) {
		t.Fatalf("steps %v, want the login's %v", order, stepNames(e.b.loginSteps()))
	}
	requireStep(t, out, "source_address", outcomeSkipped, "", "no token_bound_cidrs")
	requireStep(t, out, "parse", outcomePassed, "", "RS256")
	requireStep(t, out, "times", outcomePassed, "", "valid until")
	requireStep(t, out, "issuer", outcomeSkipped, "", "disable_iss_validation")
	requireStep(t, out, "audience", outcomePassed, "", `audience "vault"`)
	requireStep(t, out, "identity", outcomePassed, "", "apps/web (uid "+testkit.SAUID)
	requireStep(t, out, "bindings", outcomePassed, "", `namespace "apps" is in bound_service_account_namespaces`)
	requireStep(t, out, "signature", outcomeSkipped, "", "no pem_keys")
	requireStep(t, out, "review", outcomePassed, "", "TokenReview authenticated service account apps/web")
	requireStep(t, out, "namespace_selector", outcomeSkipped, "", "no bound_service_account_namespace_selector")
	requireStep(t, out, "pod", outcomeSkipped, "", "no bound_pod_names, bound_node_names or bound_pod_label_selector")
	requireStep(t, out, "alias_metadata", outcomeSkipped, "", "use_annotations_as_alias_metadata is off")
	if out["outcome"] != outcomePassed || !strings.Contains(out["verdict"].(string), "would pass") || out["verified_by"] != verifiedByReview {
		t.Fatalf("outcome %v verdict %v verified_by %v", out["outcome"], out["verdict"], out["verified_by"])
	}
	id := out["identity"].(map[string]any)
	if id["service_account_name"] != testkit.SAName || id["service_account_uid"] != testkit.SAUID || id["vouched_for_by"] != verifiedByReview {
		t.Fatalf("identity %v", id)
	}
	// The token is the one the login gives.
	tok := out["token"].(map[string]any)
	auth := e.mustLogin(testRole, e.token())
	if pol := tok["policies"].([]any); len(pol) != 2 || pol[0] != "default" || pol[1] != "web-read" {
		t.Fatalf("policies %v", pol)
	}
	if tok["alias_name"] != auth.Alias.Name || tok["type"] != "default" ||
		tok["metadata"].(map[string]any)[metaSAUID] != auth.Metadata[metaSAUID] || tok["metadata"].(map[string]any)[metaRole] != testRole {
		t.Fatalf("token %v, login's auth %#v", tok, auth)
	}
	after, err := e.storage.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before, after) {
		t.Fatalf("storage keys %v became %v", before, after)
	}
}

// Token settings of the role appear as the login would set them.
func TestExplainTokenSettings(t *testing.T) {
	e := configured(t)
	e.writeRole(testRole, map[string]any{"token_ttl": "1h", "token_max_ttl": "2h", "token_type": "batch",
		"token_bound_cidrs": "10.0.0.0/8", "alias_name_source": "serviceaccount_name"})
	out, _ := e.explain(testRole, e.token())
	requireStep(t, out, "source_address", outcomePassed, "", "10.1.2.3 is in token_bound_cidrs")
	tok := out["token"].(map[string]any)
	if tok["ttl"] != 3600.0 || tok["max_ttl"] != 7200.0 || tok["type"] != "batch" || tok["alias_name"] != "apps/web" {
		t.Fatalf("token %v", tok)
	}
}

// Each refusal the fake API server can bring about is explained at the
// step that refuses, with the reason code the login's log line records,
// and the later steps are not reached.
func TestExplainRefusals(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name, step, reason string
		config, role       map[string]any
		claims             func(c map[string]any)
		key                string
		kube               func(f *fakeKube)
	}{
		{name: "client address", step: "source_address", reason: refusal.ReasonCIDR, role: map[string]any{"token_bound_cidrs": "192.168.0.0/16"}},
		{name: "algorithm", step: "parse", reason: refusal.ReasonAlgorithm},
		{name: "expired", step: "times", reason: refusal.ReasonExpired, claims: func(c map[string]any) { c["exp"] = now.Add(-2 * time.Minute).Unix() }},
		{name: "not yet valid", step: "times", reason: refusal.ReasonNotYetValid, claims: func(c map[string]any) { c["nbf"] = now.Add(10 * time.Minute).Unix() }},
		{name: "issuer", step: "issuer", reason: refusal.ReasonIssuer, config: map[string]any{"disable_iss_validation": false, "issuer": "https://issuer.example"}},
		{name: "audience", step: "audience", reason: refusal.ReasonAudienceMismatch, claims: func(c map[string]any) { c["aud"] = []string{"other"} }},
		{name: "claims", step: "identity", reason: refusal.ReasonClaims, claims: func(c map[string]any) { c["sub"] = "system:serviceaccount:kube-system:admin" }},
		{name: "name", step: "bindings", reason: refusal.ReasonName, role: map[string]any{"bound_service_account_names": "api"}},
		{name: "namespace", step: "bindings", reason: refusal.ReasonNamespace, role: map[string]any{"bound_service_account_namespaces": "prod"}},
		{name: "pem_keys", step: "signature", reason: refusal.ReasonSignature, config: map[string]any{"pem_keys": "signer.pub"}, key: "other.key"},
		{name: "deleted service account", step: "review", reason: refusal.ReasonReviewRejected, kube: func(f *fakeKube) { f.deleteServiceAccount(testkit.Namespace, testkit.SAName) }},
		{name: "review names a user", step: "review", reason: refusal.ReasonReviewMismatch, kube: reviewAnswers(authv1Status("alice", testkit.SAUID, "vault"))},
		{name: "review audiences", step: "review", reason: refusal.ReasonAudienceMismatch, kube: reviewAnswers(authv1Status("system:serviceaccount:apps:web", testkit.SAUID, "api"))},
		{name: "self-review forbidden", step: "review", reason: refusal.ReasonReviewForbidden, config: map[string]any{"token_reviewer_jwt": ""}, kube: func(f *fakeKube) {
			f.setReviewerToken("")
			f.answerStatus(everyPath, http.StatusForbidden, "tokenreviews.authentication.k8s.io is forbidden")
		}},
		{name: "selector", step: "namespace_selector", reason: refusal.ReasonNamespace, role: map[string]any{"bound_service_account_namespaces": "",
			"bound_service_account_namespace_selector": `{"matchLabels":{"vault":"no"}}`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := configured(t)
			token := refusalSetup{tc.config, tc.role, tc.claims, tc.key, tc.kube}.apply(t, e)
			if tc.reason == refusal.ReasonAlgorithm {
				token = testkit.HMACToken(t)
			}
			out, _ := e.explain(testRole, token)
			requireStep(t, out, tc.step, outcomeRefused, tc.reason, "")
			steps, order := explainSteps(t, out)
			for _, name := range order[slices.Index(order, tc.step)+1:] {
				if steps[name]["outcome"] != outcomeSkipped || steps[name]["detail"] != "not reached" {
					t.Fatalf("step %s after the refusal: %v", name, steps[name])
				}
			}
			if out["outcome"] != outcomeRefused || !strings.Contains(out["verdict"].(string), tc.reason) || out["token"] != nil {
				t.Fatalf("outcome %v verdict %v token %v", out["outcome"], out["verdict"], out["token"])
			}
			// The login refuses for the same reason.
			resp, err := e.login(testRole, token)
			e.requireDenied(resp, err, tc.reason)
		})
	}
}

// Malformed input a login answers with 400 is explained as such.
func TestExplainInvalidInput(t *testing.T) {
	e := configured(t)
	out, _ := e.explain(testRole, "not-a-jwt")
	requireStep(t, out, "parse", outcomeRefused, explainInvalidInput, "jwt: is not a signed JWT")
	if !strings.Contains(out["verdict"].(string), "400") {
		t.Fatalf("verdict %v", out["verdict"])
	}

	e.writeConfig(map[string]any{"use_annotations_as_alias_metadata": true})
	e.kube.addServiceAccount(testkit.Namespace, testkit.SAName, testkit.SAUID, map[string]string{
		"vault.hashicorp.com/alias-metadata-service_account_name": "admin",
	})
	out, _ = e.explain(testRole, e.token())
	requireStep(t, out, "alias_metadata", outcomeRefused, explainInvalidInput, "service_account_name")

	resp, err := e.do(logical.UpdateOperation, "explain", map[string]any{"jwt": e.token()})
	requireBadRequest(t, resp, err, "role: is required")
	resp, err = e.do(logical.UpdateOperation, "explain", map[string]any{"role": testRole})
	requireBadRequest(t, resp, err, "jwt: is required")
	resp, err = e.do(logical.UpdateOperation, "explain", map[string]any{"role": "nope", "jwt": e.token()})
	requireBadRequest(t, resp, err, `role: "nope" does not exist`)
}

// Faults are explained with their kind and what Kubernetes said, which
// the authenticated caller may see.
func TestExplainFaults(t *testing.T) {
	t.Run("unreachable", func(t *testing.T) {
		e := configured(t)
		e.kube.srv.Close()
		out, _ := e.explain(testRole, e.token())
		requireStep(t, out, "review", outcomeFault, refusal.FaultKubeUnreachable, "unreachable")
		if out["outcome"] != outcomeFault {
			t.Fatalf("outcome %v", out["outcome"])
		}
	})
	t.Run("reviewer lacks permission", func(t *testing.T) {
		e := configured(t)
		e.kube.answerStatus(everyPath, http.StatusForbidden, "forbidden")
		out, _ := e.explain(testRole, e.token())
		steps, _ := explainSteps(t, out)
		if s := steps["review"]; s["outcome"] != outcomeFault || !strings.HasPrefix(s["reason"].(string), "kubernetes_") ||
			!strings.Contains(s["detail"].(string), "create on tokenreviews") {
			t.Fatalf("review step %v", s)
		}
	})
	t.Run("TLS", func(t *testing.T) {
		e := configured(t)
		e.writeConfig(map[string]any{"kubernetes_ca_cert": testkit.Testdata(t, "signer.crt")})
		out, _ := e.explain(testRole, e.token())
		requireStep(t, out, "review", outcomeFault, refusal.FaultKubeTLS, "kubernetes_ca_cert")
	})
}

// Cached mode: explain reads the review cache and says so, but never
// fills it, so a dry run does not warm what logins rely on.
func TestExplainCachedMode(t *testing.T) {
	e := configured(t)
	useTestClock(e)
	e.writeRole(testRole, map[string]any{"review_mode": "cached", "review_cache_ttl": "30s"})
	token := e.token()
	out, _ := e.explain(testRole, token)
	requireStep(t, out, "review", outcomePassed, "", "not kept")
	out, _ = e.explain(testRole, token)
	requireStep(t, out, "review", outcomePassed, "", "not kept")
	e.requireReviews(2, "two explains, nothing kept")
	e.mustLogin(testRole, token)
	e.requireReviews(3, "the login after the explains found nothing cached")
	out, _ = e.explain(testRole, token)
	requireStep(t, out, "review", outcomeSkipped, "", "review_cache_ttl (30s)")
	e.requireReviews(3, "explain answered by the cache")
	if out["outcome"] != outcomePassed || out["verified_by"] != verifiedByCache {
		t.Fatalf("outcome %v verified_by %v", out["outcome"], out["verified_by"])
	}
}

// A selector role in cached mode: the namespace's labels are read for
// each explain and not kept.
func TestExplainSelectorLabelsNotKept(t *testing.T) {
	e := configured(t)
	e.writeRole(testRole, map[string]any{"review_mode": "cached", "bound_service_account_namespaces": "",
		"bound_service_account_namespace_selector": `{"matchLabels":{"vault":"yes"}}`})
	e.kube.setNamespaceLabels(testkit.Namespace, map[string]string{"vault": "yes"})
	for range 2 {
		out, _ := e.explain(testRole, e.token())
		requireStep(t, out, "bindings", outcomePassed, "", "the namespace selector decides")
		requireStep(t, out, "namespace_selector", outcomePassed, "", `labels of namespace "apps" match`)
	}
	if got := e.kube.namespaceGets.Load(); got != 2 {
		t.Fatalf("%d namespace reads for two explains, want 2 (nothing kept)", got)
	}
}

// Hybrid mode: a young bound token is vouched for by the cluster's keys
// (the review step is skipped with why); one they cannot vouch for (an
// unknown kid, no kid) is reviewed, and the review step says why.
func TestExplainHybridMode(t *testing.T) {
	e, clk := hybridEnv(t, nil)
	out, _ := e.explain(testRole, e.boundToken(clk.Now(), nil))
	requireStep(t, out, "review", outcomeSkipped, "", "local_max_token_age")
	if out["outcome"] != outcomePassed || out["verified_by"] != verifiedByLocal {
		t.Fatalf("outcome %v verified_by %v", out["outcome"], out["verified_by"])
	}
	other := testkit.PrivateKey(t, "other.key")
	out, _ = e.explain(testRole, testkit.SignJWTWithKid(t, other, "made-up", testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault")))
	requireStep(t, out, "review", outcomeRefused, refusal.ReasonReviewRejected, `review_mode hybrid reviewed this young token, as the cluster's signing keys could not vouch for it: no signing key the plugin holds for the cluster has kid "made-up"`)
	out, _ = e.explain(testRole, e.kidlessToken())
	requireStep(t, out, "review", outcomePassed, "", "TokenReview authenticated")
	requireStep(t, out, "review", outcomePassed, "", "could not vouch for it: the token names no kid")
	if out["verified_by"] != verifiedByReview {
		t.Fatalf("verified_by %v", out["verified_by"])
	}
	// An older token is reviewed, for its age alone.
	out, _ = e.explain(testRole, e.boundToken(clk.Now().Add(-time.Hour+time.Minute), nil))
	requireStep(t, out, "review", outcomePassed, "", "TokenReview authenticated")
	if steps, _ := explainSteps(t, out); strings.Contains(steps["review"]["detail"].(string), "could not vouch") {
		t.Fatalf("an old token's review step says %q", steps["review"]["detail"])
	}
	e.requireReviews(3, "a forged, a kid-less and an old token")
}

// Annotations as alias metadata: the step passes and the token's alias
// metadata carries them.
func TestExplainAliasMetadata(t *testing.T) {
	e := configured(t)
	e.writeConfig(map[string]any{"use_annotations_as_alias_metadata": true})
	e.kube.addServiceAccount(testkit.Namespace, testkit.SAName, testkit.SAUID, map[string]string{"vault.hashicorp.com/alias-metadata-team": "payments"})
	out, _ := e.explain(testRole, e.token())
	requireStep(t, out, "alias_metadata", outcomePassed, "", "1 annotations")
	if md := out["token"].(map[string]any)["alias_metadata"].(map[string]any); md["team"] != "payments" {
		t.Fatalf("alias metadata %v", md)
	}
}

// explain needs a Vault token: no entry of the unauthenticated paths
// matches it, exactly or as a glob.
func TestExplainIsAuthenticated(t *testing.T) {
	e := newTestEnv(t)
	for _, p := range e.b.SpecialPaths().Unauthenticated {
		if p == "explain" || (strings.HasSuffix(p, "*") && strings.HasPrefix("explain", strings.TrimSuffix(p, "*"))) {
			t.Fatalf("unauthenticated path %q lets explain through", p)
		}
	}
	if !slices.Contains(e.b.SpecialPaths().Unauthenticated, "login") {
		t.Fatal("login is no longer unauthenticated: the check above proves nothing")
	}
}

// authv1Status is an authenticated TokenReview answer.
func authv1Status(username, uid string, audiences ...string) authv1.TokenReviewStatus {
	return authv1.TokenReviewStatus{Authenticated: true, User: authv1.UserInfo{Username: username, UID: uid}, Audiences: audiences}
}

// Observing the steps costs a login nothing: with no observer, running
// steps allocates nothing of its own.
func TestRunStepsWithoutObserverAllocatesNothing(t *testing.T) {
	pass := func(context.Context, *attempt) error { return nil }
	steps := []loginStep{{name: "a", run: pass}, {name: "b", run: pass}}
	a := &attempt{}
	ctx := t.Context()
	if n := testing.AllocsPerRun(100, func() { _ = runSteps(ctx, steps, a) }); n != 0 {
		t.Fatalf("%v allocations per run", n)
	}
	var seen []string
	_ = observeSteps(ctx, steps, a, func(s loginStep, err error) { seen = append(seen, s.name) })
	if !slices.Equal(seen, []string{"a", "b"}) {
		t.Fatalf("observer saw %v", seen)
	}
}

// Every step of a login runs and explains itself: explain never meets a
// step without an explanation.
func TestEveryStepExplainsItself(t *testing.T) {
	e := newTestEnv(t)
	local, all := stepNames(e.b.localSteps()), stepNames(e.b.loginSteps())
	if len(local) == 0 || len(all) <= len(local) || !slices.Equal(all[:len(local)], local) {
		t.Fatalf("local steps %v are not the start of the login's %v", local, all)
	}
	if err := runSteps(t.Context(), nil, &attempt{}); !errors.Is(err, errNoSteps) {
		t.Fatalf("a pipeline without steps: %v", err)
	}
	for _, s := range e.b.loginSteps() {
		if s.name == "" || s.run == nil || s.explain == nil {
			t.Errorf("step %q: run set %v, explain set %v", s.name, s.run != nil, s.explain != nil)
		}
	}
}
