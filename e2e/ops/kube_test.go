package ops

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
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The stack has no controller-manager: no ServiceAccount exists until the
// suite creates it, and no token is minted unless asked for (TokenRequest).

// reviewerLookups lets a reviewer read namespace labels and service-account
// annotations, which system:auth-delegator does not cover; roles with a
// namespace selector need it.
const reviewerLookups = "kubeauth-ops-reviewer-lookups"

// createReviewer creates a token reviewer service account bound to
// system:auth-delegator and the lookups role, and returns a day-long token.
func createReviewer(ctx context.Context, k *kubernetes.Clientset, namespace, name string) (string, error) {
	if _, err := k.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: namespace},
	}, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("creating namespace %s: %w", namespace, err)
	}
	if _, err := k.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: reviewerLookups},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"namespaces", "serviceaccounts"}, Verbs: []string{"get"}},
		},
	}, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("creating cluster role %s: %w", reviewerLookups, err)
	}
	if err := createBoundServiceAccount(ctx, k, namespace, name); err != nil {
		return "", err
	}
	return requestToken(ctx, k, namespace, name, nil, 24*time.Hour)
}

// createBoundServiceAccount creates a service account and binds it (by
// name, so a recreated account with the same name stays bound) to
// system:auth-delegator and the lookups role.
func createBoundServiceAccount(ctx context.Context, k *kubernetes.Clientset, namespace, name string) error {
	if _, err := k.CoreV1().ServiceAccounts(namespace).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: name},
	}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating service account %s/%s: %w", namespace, name, err)
	}
	subject := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: namespace}
	for _, role := range []string{"system:auth-delegator", reviewerLookups} {
		_, err := k.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: namespace + "-" + name + "-" + strings.ReplaceAll(role, ":", "-")},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{subject},
		}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("binding %s/%s to %s: %w", namespace, name, role, err)
		}
	}
	return nil
}

// requestToken mints a projected service-account token (TokenRequest).
func requestToken(ctx context.Context, k *kubernetes.Clientset, namespace, name string, audiences []string, ttl time.Duration) (string, error) {
	secs := int64(ttl / time.Second)
	tr, err := k.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authnv1.TokenRequest{
		Spec: authnv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: &secs},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("TokenRequest for %s/%s: %w", namespace, name, err)
	}
	return tr.Status.Token, nil
}

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
	if _, err := ops.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", ns, err)
	}
	if _, err := ops.kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{
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
	tok, err := requestToken(kubeCtx(t), ops.kube, w.namespace, w.sa, []string{"vault"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
