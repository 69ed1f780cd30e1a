package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var nameSeq atomic.Int64

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// uniqueName makes a DNS-label name from the test's name, unique within the
// run, so parallel tests never share a Kubernetes object or a Vault mount.
func uniqueName(t *testing.T, prefix string) string {
	t.Helper()
	slug := notDNS.ReplaceAllString(strings.ToLower(t.Name()), "-")
	slug = strings.Trim(slug, "-")
	if len(slug) > 40 {
		slug = strings.Trim(slug[len(slug)-40:], "-")
	}
	return fmt.Sprintf("%s%d-%s", prefix, nameSeq.Add(1), slug)
}

func kubeCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newNamespace creates a namespace with the given labels. Deleted namespaces
// stay Terminating here (no namespace controller), so none is deleted: each
// test run starts with an empty etcd anyway.
func newNamespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	name := uniqueName(t, "ns")
	_, err := stk.Kube.CoreV1().Namespaces().Create(kubeCtx(t), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	return name
}

func newServiceAccount(t *testing.T, namespace, name string, annotations map[string]string) *corev1.ServiceAccount {
	t.Helper()
	sa, err := stk.Kube.CoreV1().ServiceAccounts(namespace).Create(kubeCtx(t), &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating service account %s/%s: %v", namespace, name, err)
	}
	return sa
}

func deleteServiceAccount(t *testing.T, namespace, name string) {
	t.Helper()
	err := stk.Kube.CoreV1().ServiceAccounts(namespace).Delete(kubeCtx(t), name, metav1.DeleteOptions{})
	if err != nil {
		t.Fatalf("deleting service account %s/%s: %v", namespace, name, err)
	}
}

// workload is a service account in a namespace of its own.
type workload struct {
	namespace string
	sa        *corev1.ServiceAccount
}

func newWorkload(t *testing.T, saName string) workload {
	t.Helper()
	ns := newNamespace(t, nil)
	return workload{namespace: ns, sa: newServiceAccount(t, ns, saName, nil)}
}

// tokenOptions shape a TokenRequest; the zero value asks for the default
// audience (the apiserver's own) and ten minutes, the shortest it allows.
type tokenOptions struct {
	audiences []string
	pod       *corev1.Pod
}

// mintToken asks the apiserver for a projected service-account token, the
// kind a pod's projected volume carries.
func mintToken(t *testing.T, namespace, saName string, opts tokenOptions) string {
	t.Helper()
	ttl := int64(600)
	spec := authnv1.TokenRequestSpec{Audiences: opts.audiences, ExpirationSeconds: &ttl}
	if p := opts.pod; p != nil {
		spec.BoundObjectRef = &authnv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.Name, UID: p.UID}
	}
	tr, err := stk.Kube.CoreV1().ServiceAccounts(namespace).CreateToken(kubeCtx(t), saName,
		&authnv1.TokenRequest{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for %s/%s: %v", namespace, saName, err)
	}
	return tr.Status.Token
}

// vaultToken mints a token for the "vault" audience, what every role in
// these tests expects unless a test says otherwise.
func vaultToken(t *testing.T, w workload) string {
	t.Helper()
	return mintToken(t, w.namespace, w.sa.Name, tokenOptions{audiences: []string{"vault"}})
}

// newPod creates a pod that runs as the service account. With no scheduler
// it stays Pending, which is all a pod-bound token needs.
func newPod(t *testing.T, namespace, saName string) *corev1.Pod {
	t.Helper()
	pod, err := stk.Kube.CoreV1().Pods(namespace).Create(kubeCtx(t), &corev1.Pod{
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
	ctx := kubeCtx(t)
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
