package e2e

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

func deleteServiceAccount(t *testing.T, namespace, name string) {
	t.Helper()
	err := stk.Kube.CoreV1().ServiceAccounts(namespace).Delete(realstack.KubeCtx(t), name, metav1.DeleteOptions{})
	if err != nil {
		t.Fatalf("deleting service account %s/%s: %v", namespace, name, err)
	}
}

// mintToken asks the apiserver for a projected service-account token, the
// kind a pod's projected volume carries; the zero options ask for the
// apiserver's own audience and ten minutes, the shortest it allows.
func mintToken(t *testing.T, namespace, saName string, opts realstack.TokenOptions) string {
	t.Helper()
	tok, err := stk.RequestToken(realstack.KubeCtx(t), namespace, saName, opts)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// vaultToken mints a token for the "vault" audience, what every role in
// these tests expects unless a test says otherwise.
func vaultToken(t *testing.T, w realstack.Workload) string {
	t.Helper()
	return mintToken(t, w.Namespace, w.SA.Name, realstack.TokenOptions{Audiences: []string{"vault"}})
}

// newPod creates a pod that runs as the service account. With no scheduler
// it stays Pending, which is all a pod-bound token needs.
func newPod(t *testing.T, namespace, saName string) *corev1.Pod {
	t.Helper()
	pod, err := stk.Kube.CoreV1().Pods(namespace).Create(realstack.KubeCtx(t), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app"},
		Spec: corev1.PodSpec{
			ServiceAccountName: saName,
			Containers:         []corev1.Container{{Name: "app", Image: "registry.invalid/app:1"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating a pod for %s/%s: %v", namespace, saName, err)
	}
	return pod
}

// deletePod deletes a pod and waits until the apiserver no longer has it
// (an unscheduled pod has no kubelet to wait for, so it goes at once).
func deletePod(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	ctx := realstack.KubeCtx(t)
	pods := stk.Kube.CoreV1().Pods(pod.Namespace)
	zero := int64(0)
	if err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatalf("deleting pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}
	for {
		_, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod %s/%s still exists after deletion (last error: %v)", pod.Namespace, pod.Name, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
