package realstack

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
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

// The stack has no controller-manager: no ServiceAccount exists until a
// suite creates it, and no token is minted unless asked for (TokenRequest).

// The token reviewer Vault uses for every mount the suites configure.
const (
	ReviewerNamespace = "vault-auth"
	ReviewerName      = "vault-reviewer"
)

// reviewerLookups is the cluster role that lets a reviewer read namespace
// labels (namespace selectors), service-account annotations (alias
// metadata) and pods (pod bindings, token_bound_to_workload), which
// system:auth-delegator does not cover.
func (s *Stack) reviewerLookups() string { return "kubeauth-" + s.Suite + "-reviewer-lookups" }

// createReviewer creates the reviewer service account in a namespace of its
// own, bound to system:auth-delegator and the lookups role, and returns a
// day-long token of it.
func (s *Stack) createReviewer(ctx context.Context) (string, error) {
	return createReviewer(ctx, s.Kube, s.reviewerLookups())
}

// createReviewer does it through the admin client of any API server, the
// stack's or a second cluster's: lookups names the cluster role to create.
func createReviewer(ctx context.Context, kube kubernetes.Interface, lookups string) (string, error) {
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: ReviewerNamespace},
	}, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("creating namespace %s: %w", ReviewerNamespace, err)
	}
	if _, err := kube.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: lookups},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"namespaces", "serviceaccounts", "pods"}, Verbs: []string{"get"}},
		},
	}, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("creating cluster role %s: %w", lookups, err)
	}
	// The suite's reviewer may also follow a pod's owner
	// (alias_metadata_owner); reviewers made by CreateBoundServiceAccount
	// may not, so a test can see config/check name what is missing.
	owners := lookups + "-owners"
	if _, err := kube.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: owners},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: []string{"get"}},
			{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"get"}},
		},
	}, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("creating cluster role %s: %w", owners, err)
	}
	if err := createBoundServiceAccount(ctx, kube, ReviewerNamespace, ReviewerName, lookups, owners); err != nil {
		return "", err
	}
	return requestToken(ctx, kube, ReviewerNamespace, ReviewerName, TokenOptions{TTL: 24 * time.Hour})
}

// CreateBoundServiceAccount creates a service account that may review
// tokens: bound (by name, so a recreated account with the same name stays
// bound) to system:auth-delegator and the lookups role.
func (s *Stack) CreateBoundServiceAccount(ctx context.Context, namespace, name string) error {
	return createBoundServiceAccount(ctx, s.Kube, namespace, name, s.reviewerLookups())
}

func createBoundServiceAccount(ctx context.Context, kube kubernetes.Interface, namespace, name string, roles ...string) error {
	if _, err := kube.CoreV1().ServiceAccounts(namespace).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: name},
	}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating service account %s/%s: %w", namespace, name, err)
	}
	subject := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: namespace}
	for _, role := range append([]string{"system:auth-delegator"}, roles...) {
		_, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
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

// TokenOptions shape a TokenRequest. The zero value asks for the
// apiserver's own audience and ten minutes, the shortest it grants.
type TokenOptions struct {
	Audiences []string
	TTL       time.Duration
	Pod       *corev1.Pod // bind the token to this pod, as a pod's projected volume is
}

// RequestToken mints a projected service-account token (TokenRequest).
func (s *Stack) RequestToken(ctx context.Context, namespace, name string, opts TokenOptions) (string, error) {
	return requestToken(ctx, s.Kube, namespace, name, opts)
}

func requestToken(ctx context.Context, kube kubernetes.Interface, namespace, name string, opts TokenOptions) (string, error) {
	ttl := opts.TTL
	if ttl == 0 {
		ttl = 10 * time.Minute
	}
	secs := int64(ttl / time.Second)
	spec := authnv1.TokenRequestSpec{Audiences: opts.Audiences, ExpirationSeconds: &secs}
	if p := opts.Pod; p != nil {
		spec.BoundObjectRef = &authnv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.Name, UID: p.UID}
	}
	tr, err := kube.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name,
		&authnv1.TokenRequest{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("TokenRequest for %s/%s: %w", namespace, name, err)
	}
	return tr.Status.Token, nil
}

// LoadRSAKey reads a PEM RSA private key (PKCS #1 or PKCS #8), such as the
// apiserver's service-account signing key, which signs the tokens the
// apiserver cannot be asked for (expired, legacy Secret-based).
func LoadRSAKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: not an RSA private key: %w", path, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: %T is not an RSA key", path, k)
	}
	return rk, nil
}

var nameSeq atomic.Int64

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// UniqueName makes a DNS-label name from the test's name, unique within the
// run, so parallel tests never share a Kubernetes object or a Vault mount.
func UniqueName(t testing.TB, prefix string) string {
	t.Helper()
	slug := strings.Trim(notDNS.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(slug) > 40 {
		slug = strings.Trim(slug[len(slug)-40:], "-")
	}
	return fmt.Sprintf("%s%d-%s", prefix, nameSeq.Add(1), slug)
}

// KubeCtx bounds a test's Kubernetes calls to a minute.
func KubeCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// NewNamespace creates a namespace with the given labels. Deleted
// namespaces stay Terminating here (no namespace controller), so none is
// deleted: each run starts with an empty etcd anyway.
func (s *Stack) NewNamespace(t testing.TB, labels map[string]string) string {
	t.Helper()
	name := UniqueName(t, "ns")
	_, err := s.Kube.CoreV1().Namespaces().Create(KubeCtx(t), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	return name
}

// NewServiceAccount creates a service account with the given annotations.
func (s *Stack) NewServiceAccount(t testing.TB, namespace, name string, annotations map[string]string) *corev1.ServiceAccount {
	t.Helper()
	sa, err := s.Kube.CoreV1().ServiceAccounts(namespace).Create(KubeCtx(t), &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating service account %s/%s: %v", namespace, name, err)
	}
	return sa
}

// Workload is a service account in a namespace of its own: what logs in.
type Workload struct {
	Namespace string
	SA        *corev1.ServiceAccount
}

// NewWorkload creates a namespace with the given labels and a service
// account named sa in it.
func (s *Stack) NewWorkload(t testing.TB, sa string, labels map[string]string) Workload {
	t.Helper()
	ns := s.NewNamespace(t, labels)
	return Workload{Namespace: ns, SA: s.NewServiceAccount(t, ns, sa, nil)}
}
