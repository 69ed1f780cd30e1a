package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// checkAnswer is a config/check answer: the verdict and each check by name.
type checkAnswer struct {
	verdict string
	checks  map[string]realstack.Object
	names   []string
	reply   *realstack.Reply
}

// configCheck reads auth/<mount>/config/check with the root token.
func (m *mount) configCheck(t *testing.T) checkAnswer {
	t.Helper()
	r := root(t, http.MethodGet, "auth/"+m.path+"/config/check", nil)
	expectStatus(t, r, http.StatusOK)
	a := checkAnswer{verdict: r.Data().Str("verdict"), checks: map[string]realstack.Object{}, reply: r}
	list, _ := r.Data()["checks"].([]any)
	for _, c := range list {
		obj, _ := c.(map[string]any)
		name, _ := obj["name"].(string)
		a.checks[name] = obj
		a.names = append(a.names, name)
	}
	if len(a.names) == 0 {
		t.Fatalf("config/check answered no checks: %s", r)
	}
	return a
}

// checkEventually reads config/check until the named check has the status
// (RBAC changes reach the apiserver's authorizer a moment after they are
// written) and returns that answer.
func (m *mount) checkEventually(t *testing.T, name, status string) checkAnswer {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		a := m.configCheck(t)
		if a.checks[name].Str("status") == status {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is still not %s after 30 s: %s", name, status, a.reply)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// expectCheckFails reads config/check and requires the named check to
// fail with a detail and a fix that hold each of the words (in any case).
func expectCheckFails(t *testing.T, m *mount, check string, detailWords, fixWords []string) checkAnswer {
	t.Helper()
	a := m.configCheck(t)
	c := a.checks[check]
	if c.Str("status") != "failed" || strings.HasPrefix(a.verdict, "ok") {
		t.Fatalf("config/check: want %s failed, got %s", check, a.reply)
	}
	for _, w := range detailWords {
		if !strings.Contains(strings.ToLower(c.Str("detail")), strings.ToLower(w)) {
			t.Errorf("config/check %s: the detail %q does not name %q", check, c.Str("detail"), w)
		}
	}
	for _, w := range fixWords {
		if !strings.Contains(strings.ToLower(c.Str("fix")), strings.ToLower(w)) {
			t.Errorf("config/check %s: the fix %q does not name %q", check, c.Str("fix"), w)
		}
	}
	return a
}

// On the suite's setup, with every feature that needs a check in use (a
// namespace selector, annotations as alias metadata, a pod selector, an
// enforced issuer, pem_keys), every check applies and passes against the real apiserver;
// cluster_keys, which applies only to hybrid roles that fetch the cluster's
// keys, is skipped here and passes on a second mount that has one.
func TestConfigCheckPasses(t *testing.T) {
	t.Parallel()
	m := newMount(t)
	m.configure(t, map[string]any{
		"pem_keys":                          []string{stk.SAPubPEM},
		"issuer":                            stk.SAIssuer,
		"disable_iss_validation":            false,
		"use_annotations_as_alias_metadata": true,
	})
	w := stk.NewWorkload(t, "app", map[string]string{"e2e-check": "yes"})
	m.writeRole(t, "selected", map[string]any{
		"bound_service_account_names":              "app",
		"bound_service_account_namespace_selector": `{"matchLabels":{"e2e-check":"yes"}}`,
		"audience": "vault",
	})
	m.bindRole(t, "pod-bound", w, map[string]any{"bound_pod_label_selector": `{"matchLabels":{"app":"web"}}`})
	m.bindRole(t, "owner", w, map[string]any{"alias_metadata_owner": true})

	a := m.configCheck(t)
	for _, name := range a.names {
		want := "passed"
		if name == "cluster_keys" {
			want = "skipped"
		}
		if c := a.checks[name]; c.Str("status") != want {
			t.Errorf("%s: %s, want %s: %s (fix: %s)", name, c.Str("status"), want, c.Str("detail"), c.Str("fix"))
		}
	}
	if want := "ok: 13 checks passed, 1 skipped"; a.verdict != want {
		t.Fatalf("verdict %q, want %q: %s", a.verdict, want, a.reply)
	}
	if strings.Contains(string(a.reply.Raw), strings.Split(stk.ReviewerJWT, ".")[2]) {
		t.Fatal("config/check returned the reviewer JWT")
	}
	identity := a.checks["reviewer_identity"].Str("detail")
	if want := "system:serviceaccount:" + realstack.ReviewerNamespace + ":" + realstack.ReviewerName; !strings.Contains(identity, want) {
		t.Fatalf("reviewer_identity %q does not name %s", identity, want)
	}
	// The setup it vouches for works.
	m.mustLogin(t, "selected", vaultToken(t, w))

	// A hybrid role that takes the issuer and keys from the cluster: the
	// reviewer may read them (system:service-account-issuer-discovery is
	// bound to every service account by default).
	h := newMount(t)
	h.configure(t, nil)
	h.bindRole(t, "fast", w, map[string]any{"review_mode": "hybrid"})
	a = h.configCheck(t)
	keys := a.checks["cluster_keys"]
	if keys.Str("status") != "passed" || !strings.Contains(keys.Str("detail"), "the issuer the cluster announces ("+stk.SAIssuer+")") {
		t.Fatalf("cluster_keys: %s", a.reply)
	}
	if want := "ok: 7 checks passed, 7 skipped"; a.verdict != want {
		t.Fatalf("verdict %q, want %q: %s", a.verdict, want, a.reply)
	}
	h.mustLogin(t, "fast", vaultToken(t, w))
}

// A reviewer whose ClusterRoleBinding to system:auth-delegator is deleted:
// config/check names the missing permission and the binding to create.
// The reviewer is the test's own, so the suite's reviewer stays intact.
func TestConfigCheckNamesMissingBinding(t *testing.T) {
	t.Parallel()
	ns := stk.NewNamespace(t, nil)
	const name = "reviewer"
	if err := stk.CreateBoundServiceAccount(realstack.KubeCtx(t), ns, name); err != nil {
		t.Fatal(err)
	}
	// The binding CreateBoundServiceAccount made, by its naming rule.
	binding := ns + "-" + name + "-system-auth-delegator"
	m := newMount(t)
	m.configure(t, map[string]any{"token_reviewer_jwt": mintToken(t, ns, name, realstack.TokenOptions{TTL: time.Hour})})
	a := m.checkEventually(t, "create_tokenreviews", "passed")
	if !strings.HasPrefix(a.verdict, "ok: ") {
		t.Fatalf("verdict %q with the binding in place: %s", a.verdict, a.reply)
	}

	if err := stk.Kube.RbacV1().ClusterRoleBindings().Delete(realstack.KubeCtx(t), binding, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("deleting %s: %v", binding, err)
	}
	a = m.checkEventually(t, "create_tokenreviews", "failed")
	c := a.checks["create_tokenreviews"]
	for _, want := range []string{
		"system:serviceaccount:" + ns + ":" + name + " may not create tokenreviews.authentication.k8s.io",
	} {
		if !strings.Contains(c.Str("detail"), want) {
			t.Errorf("detail %q does not say %q", c.Str("detail"), want)
		}
	}
	if want := "kubectl create clusterrolebinding " + name + "-auth-delegator --clusterrole=system:auth-delegator --serviceaccount=" + ns + ":" + name; !strings.HasSuffix(c.Str("fix"), want) {
		t.Errorf("fix %q does not end with %q", c.Str("fix"), want)
	}
	if want := "1 problem: create_tokenreviews (failed)"; !strings.HasPrefix(a.verdict, want) {
		t.Fatalf("verdict %q, want it to start with %q", a.verdict, want)
	}
}
