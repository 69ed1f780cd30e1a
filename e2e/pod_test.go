package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// newNode creates a Node object (no kubelet runs: it is only a name pods
// can be bound to), deleted when the test ends.
func newNode(t *testing.T) string {
	t.Helper()
	name := realstack.UniqueName(t, "node")
	if _, err := stk.Kube.CoreV1().Nodes().Create(realstack.KubeCtx(t), &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating node %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = stk.Kube.CoreV1().Nodes().Delete(realstack.KubeCtx(t), name, metav1.DeleteOptions{})
	})
	return name
}

// newBoundPod creates a pod of the service account, already bound to node
// (as the scheduler would have), with the given labels.
func newBoundPod(t *testing.T, namespace, saName, name, node string, labels map[string]string) *corev1.Pod {
	t.Helper()
	pod, err := stk.Kube.CoreV1().Pods(namespace).Create(realstack.KubeCtx(t), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			ServiceAccountName: saName,
			NodeName:           node,
			Containers:         []corev1.Container{{Name: "app", Image: "registry.invalid/app:1"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s/%s: %v", namespace, name, err)
	}
	return pod
}

// podToken mints a token for the "vault" audience bound to the pod.
func podToken(t *testing.T, pod *corev1.Pod) string {
	t.Helper()
	return mintToken(t, pod.Namespace, pod.Spec.ServiceAccountName, realstack.TokenOptions{Audiences: []string{"vault"}, Pod: pod})
}

func relabel(t *testing.T, pod *corev1.Pod, value string) {
	t.Helper()
	patch := []byte(`{"metadata":{"labels":{"app":"` + value + `"}}}`)
	if _, err := stk.Kube.CoreV1().Pods(pod.Namespace).Patch(realstack.KubeCtx(t), pod.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("relabeling pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}
}

// Pods of one service account: the role picks the right one by name, by
// live labels and by node; the token metadata names the pod and node.
func TestPodBindings(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "pods", nil)
	node := newNode(t)
	web := newBoundPod(t, w.Namespace, w.SA.Name, "web-0", node, map[string]string{"app": "web"})
	other := newBoundPod(t, w.Namespace, w.SA.Name, "batch-0", node, map[string]string{"app": "batch"})
	webJWT, otherJWT := podToken(t, web), podToken(t, other)

	m.bindRole(t, "by-name", w, map[string]any{"bound_pod_names": "web-*"})
	a := m.mustLogin(t, "by-name", webJWT)
	md := a.StringMap("metadata")
	if md["service_account_pod_name"] != web.Name || md["service_account_pod_uid"] != string(web.UID) {
		t.Errorf("metadata %v does not name pod %s (%s)", md, web.Name, web.UID)
	}
	if got := md["service_account_node_name"]; got != node {
		t.Errorf("service_account_node_name %q, want %q", got, node)
	}
	realstack.ExpectDenied(t, m.login(t, "by-name", otherJWT))
	realstack.ExpectDenied(t, m.login(t, "by-name", vaultToken(t, w))) // bound to no pod

	// The pod's live labels decide: a label change flips the outcome.
	m.bindRole(t, "by-label", w, map[string]any{"bound_pod_label_selector": `{"matchLabels":{"app":"web"}}`})
	m.mustLogin(t, "by-label", webJWT)
	realstack.ExpectDenied(t, m.login(t, "by-label", otherJWT))
	relabel(t, other, "web")
	relabel(t, web, "retired")
	m.mustLogin(t, "by-label", otherJWT)
	realstack.ExpectDenied(t, m.login(t, "by-label", webJWT))

	m.bindRole(t, "by-node", w, map[string]any{"bound_node_names": node})
	m.mustLogin(t, "by-node", webJWT)
	m.bindRole(t, "elsewhere", w, map[string]any{"bound_node_names": "gpu-*"})
	realstack.ExpectDenied(t, m.login(t, "elsewhere", webJWT))

	// A role without the pod fields issues the metadata Vault's method does.
	m.bindRole(t, "plain", w, nil)
	if md := m.mustLogin(t, "plain", webJWT).StringMap("metadata"); md["service_account_pod_name"] != "" || md["service_account_node_name"] != "" {
		t.Errorf("a role without pod fields puts the pod in the metadata: %v", md)
	}
}

// renewUntilRefused renews the token until the renewal is refused for
// reason, failing the test if it still renews refusalDeadline after since.
// The holder is told the reason code and nothing else.
func renewUntilRefused(t *testing.T, tok, reason string, since time.Time) {
	t.Helper()
	for {
		r := call(t, http.MethodPost, "auth/token/renew-self", tok, map[string]any{})
		if r.Status != http.StatusOK {
			expectRenewalAnswer(t, r, "renewal refused ("+reason+") by role ")
			return
		}
		if time.Since(since) > refusalDeadline {
			t.Fatalf("still renewed %v after the change", time.Since(since).Round(time.Second))
		}
		time.Sleep(time.Second)
	}
}

// token_bound_to_workload: the Vault token renews while its pod and
// service account exist, and not after either is gone or recreated; the
// holder learns the reason code, Vault's log what happened.
func TestTokenBoundToWorkload(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "bound", nil)
	node := newNode(t)
	pod := newBoundPod(t, w.Namespace, w.SA.Name, "app", node, nil)
	m.bindRole(t, "bound", w, map[string]any{"token_bound_to_workload": true, "token_period": "1h"})

	podTok := m.mustLogin(t, "bound", podToken(t, pod)).Str("client_token")
	saTok := m.mustLogin(t, "bound", vaultToken(t, w)).Str("client_token")
	for _, tok := range []string{podTok, saTok} {
		expectStatus(t, call(t, http.MethodPost, "auth/token/renew-self", tok, map[string]any{}), http.StatusOK)
	}

	deletePod(t, pod)
	renewUntilRefused(t, podTok, "pod_not_bound", time.Now())
	realstack.WaitForLog(t, stk.VaultLogPath(), 10*time.Second, "renewal refused", "reason=pod_not_bound",
		"pod "+w.Namespace+"/app no longer exists", "service_account="+w.Namespace+"/"+w.SA.Name)
	// The service account's own token does not depend on the pod.
	expectStatus(t, call(t, http.MethodPost, "auth/token/renew-self", saTok, map[string]any{}), http.StatusOK)

	deleteServiceAccount(t, w.Namespace, w.SA.Name)
	renewUntilRefused(t, saTok, "service_account_gone", time.Now())
	realstack.WaitForLog(t, stk.VaultLogPath(), 10*time.Second, "renewal refused", "reason=service_account_gone",
		"service account "+w.Namespace+"/"+w.SA.Name+" no longer exists")

	// Recreated under the same name: another identity, still refused.
	w2 := stk.NewWorkload(t, "again", nil)
	m.bindRole(t, "again", w2, map[string]any{"token_bound_to_workload": true, "token_period": "1h"})
	tok := m.mustLogin(t, "again", vaultToken(t, w2)).Str("client_token")
	deleteServiceAccount(t, w2.Namespace, w2.SA.Name)
	stk.NewServiceAccount(t, w2.Namespace, w2.SA.Name, nil)
	renewUntilRefused(t, tok, "service_account_gone", time.Now())
	realstack.WaitForLog(t, stk.VaultLogPath(), 10*time.Second, "renewal refused", "reason=service_account_gone",
		w2.Namespace+"/"+w2.SA.Name+" was deleted and recreated")
}

// PATCH changes the fields sent and keeps the rest, on a role and on the
// config (whose reviewer JWT is kept without being read back).
func TestPatch(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "patched", nil)
	m.bindRole(t, "patched", w, map[string]any{"token_policies": "a,b", "token_ttl": "5m"})

	expectOK(t, root(t, http.MethodPatch, "auth/"+m.path+"/role/patched", map[string]any{"token_ttl": "7m"}))
	role := root(t, http.MethodGet, "auth/"+m.path+"/role/patched", nil).Data()
	if role.Num("token_ttl") != 420 || strings.Join(role.Strs("token_policies"), ",") != "a,b" || role.Str("audience") != "vault" {
		t.Errorf("role after PATCH token_ttl=7m: %v", role)
	}
	r := root(t, http.MethodPatch, "auth/"+m.path+"/role/patched", map[string]any{"bound_pod_label_selector": "{}"})
	expectStatus(t, r, http.StatusBadRequest)
	if got := root(t, http.MethodGet, "auth/"+m.path+"/role/patched", nil).Data(); got["bound_pod_label_selector"] != nil {
		t.Errorf("an invalid PATCH was stored: %v", got)
	}
	expectStatus(t, root(t, http.MethodPatch, "auth/"+m.path+"/role/missing", map[string]any{"token_ttl": "7m"}), http.StatusNotFound)

	expectOK(t, root(t, http.MethodPatch, "auth/"+m.path+"/config", map[string]any{"use_annotations_as_alias_metadata": true}))
	cfg := root(t, http.MethodGet, "auth/"+m.path+"/config", nil).Data()
	if cfg["use_annotations_as_alias_metadata"] != true || cfg["token_reviewer_jwt_set"] != true || cfg.Str("kubernetes_host") != stk.KubeHost {
		t.Errorf("config after PATCH: %v", cfg)
	}
	m.mustLogin(t, "patched", vaultToken(t, w)) // the kept reviewer JWT still reviews

	expectOK(t, root(t, http.MethodPatch, "auth/"+m.path+"/config", map[string]any{"token_reviewer_jwt": nil}))
	if cfg := root(t, http.MethodGet, "auth/"+m.path+"/config", nil).Data(); cfg["token_reviewer_jwt_set"] != false {
		t.Errorf("token_reviewer_jwt not cleared by a null: %v", cfg)
	}
}
