package ops

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

var nameSeq atomic.Int64

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// uniqueName makes a DNS-label name from the test's name, unique within the
// run, so parallel tests never share a Kubernetes object or a Vault mount.
func uniqueName(t *testing.T, prefix string) string {
	t.Helper()
	slug := strings.Trim(notDNS.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
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

// workload is a service account in a namespace of its own. Namespaces are
// never deleted: with no namespace controller they would stay Terminating,
// and every run starts with an empty etcd anyway.
type workload struct {
	namespace string
	sa        string
}

func newWorkload(t *testing.T, sa string) workload {
	t.Helper()
	return newWorkloadLabeled(t, sa, nil)
}

func newWorkloadLabeled(t *testing.T, sa string, labels map[string]string) workload {
	t.Helper()
	ctx := kubeCtx(t)
	ns := uniqueName(t, "ns")
	if _, err := ops.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", ns, err)
	}
	if _, err := ops.Kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: sa},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating service account %s/%s: %v", ns, sa, err)
	}
	return workload{namespace: ns, sa: sa}
}

// token mints a one-hour token for the "vault" audience, what every role
// in this suite expects.
func (w workload) token(t *testing.T) string {
	t.Helper()
	tok, err := ops.RequestToken(kubeCtx(t), w.namespace, w.sa, realstack.TokenOptions{Audiences: []string{"vault"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
