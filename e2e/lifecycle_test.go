package e2e

import (
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// The apiserver keeps a successful TokenReview for 10 s (no flag changes
// it), so a token reviewed just before its service account or pod goes
// stays good that long. These tests wait it out; they run in parallel so the
// suite pays the wait once.
const (
	reviewCacheTTL = 10 * time.Second
	// refusalDeadline bounds the wait for a refusal: the cache plus ample
	// room for a loaded 2-core machine.
	refusalDeadline = reviewCacheTTL + 30*time.Second
)

// eventuallyDenied retries a login until it is refused, and fails the test
// when it is still accepted refusalDeadline after since. Any answer other
// than success or refusal fails at once.
func eventuallyDenied(t *testing.T, m *mount, role, jwt string, since time.Time) {
	t.Helper()
	for {
		r := m.login(t, role, jwt)
		switch r.Status {
		case http.StatusForbidden:
			realstack.ExpectDenied(t, r)
			t.Logf("refused %.1f s after the change", time.Since(since).Seconds())
			return
		case http.StatusOK:
		default:
			t.Fatalf("want HTTP 200 or 403 while waiting for the refusal, got %s", r)
		}
		if time.Since(since) > refusalDeadline {
			t.Fatalf("still logged in %v after the change: %s", time.Since(since).Round(time.Second), r.Req)
		}
		time.Sleep(time.Second)
	}
}

func TestLoginAfterServiceAccountDeleted(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "gone", nil)
	m.bindRole(t, "gone", w, nil)
	jwt := vaultToken(t, w)
	m.mustLogin(t, "gone", jwt) // reviewed: the apiserver caches the success

	deleteServiceAccount(t, w.Namespace, w.SA.Name)
	eventuallyDenied(t, m, "gone", jwt, time.Now())
}

func TestLoginAfterServiceAccountRecreated(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "phoenix", nil)
	m.bindRole(t, "phoenix", w, nil)
	oldJWT := vaultToken(t, w)
	oldAuth := m.mustLogin(t, "phoenix", oldJWT)

	deleteServiceAccount(t, w.Namespace, w.SA.Name)
	changed := time.Now()
	reborn := realstack.Workload{Namespace: w.Namespace, SA: stk.NewServiceAccount(t, w.Namespace, w.SA.Name, nil)}
	if reborn.SA.UID == w.SA.UID {
		t.Fatalf("the recreated service account kept UID %s", w.SA.UID)
	}

	// The new account logs in at once, as a new identity.
	newAuth := m.mustLogin(t, "phoenix", vaultToken(t, reborn))
	if got := newAuth.StringMap("metadata")["service_account_uid"]; got != string(reborn.SA.UID) {
		t.Errorf("service_account_uid = %q, want the new UID %q", got, reborn.SA.UID)
	}
	if newAuth.Str("entity_id") == oldAuth.Str("entity_id") {
		t.Errorf("the recreated service account shares the old one's entity %s", oldAuth.Str("entity_id"))
	}
	// The old account's token names the old UID: refused once the cache
	// has forgotten it.
	eventuallyDenied(t, m, "phoenix", oldJWT, changed)
}

func TestLoginWithPodBoundToken(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "runner", nil)
	m.bindRole(t, "runner", w, nil)
	pod := newPod(t, w.Namespace, w.SA.Name)
	jwt := mintToken(t, w.Namespace, w.SA.Name, realstack.TokenOptions{Audiences: []string{"vault"}, Pod: pod})

	a := m.mustLogin(t, "runner", jwt)
	if got := a.StringMap("metadata")["service_account_uid"]; got != string(w.SA.UID) {
		t.Errorf("service_account_uid = %q, want %q", got, w.SA.UID)
	}

	deletePod(t, pod)
	eventuallyDenied(t, m, "runner", jwt, time.Now())
	// The service account itself is still fine.
	m.mustLogin(t, "runner", vaultToken(t, w))
}

// podDeletionLeeway is how long after a pod's deletionTimestamp the API
// server still accepts the tokens bound to it.
const podDeletionLeeway = 60 * time.Second

// newTerminatingPod creates a pod on node with labels and a grace period
// of one second, and deletes it gracefully. No kubelet runs here to confirm
// the end, so the pod stays Terminating, readable, with a deletionTimestamp
// a second after the deletion, as a pod on a lost node does. It returns the
// pod as created and its deletionTimestamp.
func newTerminatingPod(t *testing.T, w realstack.Workload, node string, labels map[string]string) (*corev1.Pod, func() time.Time) {
	t.Helper()
	grace := int64(1)
	pods := stk.Kube.CoreV1().Pods(w.Namespace)
	pod, err := pods.Create(realstack.KubeCtx(t), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "stuck", Labels: labels},
		Spec: corev1.PodSpec{
			ServiceAccountName:            w.SA.Name,
			NodeName:                      node,
			TerminationGracePeriodSeconds: &grace,
			Containers:                    []corev1.Container{{Name: "app", Image: "registry.invalid/app:1"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s/stuck: %v", w.Namespace, err)
	}
	t.Cleanup(func() {
		zero := int64(0)
		_ = pods.Delete(realstack.KubeCtx(t), pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	})
	deleted := func() time.Time {
		t.Helper()
		if err := pods.Delete(realstack.KubeCtx(t), pod.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatalf("deleting pod %s/%s: %v", pod.Namespace, pod.Name, err)
		}
		got, err := pods.Get(realstack.KubeCtx(t), pod.Name, metav1.GetOptions{})
		if err != nil || got.DeletionTimestamp == nil {
			t.Fatalf("pod %s/%s after a graceful delete: want it Terminating, got %v (err %v)", pod.Namespace, pod.Name, got, err)
		}
		return got.DeletionTimestamp.Time
	}
	return pod, deleted
}

// A pod stuck Terminating counts as gone once its deletionTimestamp is a
// minute past, as the API server counts it for its tokens: before, a
// token_bound_to_workload token and a label-bound token renew and a
// label-bound login (hybrid: no TokenReview to ask) passes; after, all are
// refused with pod_not_bound. The test waits out the minute once.
func TestPodStuckTerminating(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "stuck", nil)
	node := newNode(t)
	pod, deletePod := newTerminatingPod(t, w, node, map[string]string{"app": "web"})
	jwt := podToken(t, pod)
	labels := `{"matchLabels":{"app":"web"}}`
	m.bindRole(t, "workload", w, map[string]any{"token_bound_to_workload": true, "token_period": "1h"})
	m.bindRole(t, "labels", w, map[string]any{"bound_pod_label_selector": labels, "token_period": "1h"})
	m.bindRole(t, "hybrid", w, map[string]any{"bound_pod_label_selector": labels, "review_mode": "hybrid"})
	tokens := map[string]string{
		"workload": m.mustLogin(t, "workload", jwt).Str("client_token"),
		"labels":   m.mustLogin(t, "labels", jwt).Str("client_token"),
	}
	m.mustLogin(t, "hybrid", jwt)
	renew := func(role string) *realstack.Reply {
		return call(t, http.MethodPost, "auth/token/renew-self", tokens[role], map[string]any{})
	}

	deletionTimestamp := deletePod()
	t.Logf("pod %s/%s Terminating, deletionTimestamp %s", pod.Namespace, pod.Name, deletionTimestamp.Format(time.RFC3339))
	for role := range tokens {
		expectStatus(t, renew(role), http.StatusOK)
	}
	m.mustLogin(t, "hybrid", jwt)

	// Within the minute, still the token's pod.
	time.Sleep(time.Until(deletionTimestamp.Add(podDeletionLeeway - 15*time.Second)))
	for role := range tokens {
		expectStatus(t, renew(role), http.StatusOK)
	}
	m.mustLogin(t, "hybrid", jwt)

	// Past it (the timestamp has whole seconds, so wait a little more).
	time.Sleep(time.Until(deletionTimestamp.Add(podDeletionLeeway + 3*time.Second)))
	for role := range tokens {
		expectRenewalAnswer(t, renew(role), `renewal refused (pod_not_bound) by role "`+role+`"`)
	}
	realstack.ExpectDenied(t, m.login(t, "hybrid", jwt))
	for _, line := range []string{"renewal refused", "login refused"} {
		realstack.WaitForLog(t, stk.VaultLogPath(), 10*time.Second, line, "reason=pod_not_bound",
			"pod "+pod.Namespace+"/"+pod.Name+" was deleted", "deletionTimestamp")
	}
}
