package setup

import (
	"context"
	"fmt"
	"time"

	vault "github.com/hashicorp/vault/api"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/fixture"
)

// What costcurves needs of setup beyond Prepare: mounts of this plugin
// made after it, and Kubernetes objects in bulk.

// MountPlugin mounts this plugin (as Prepare registered it) afresh at
// auth/<path> and writes config there.
func MountPlugin(ctx context.Context, admin *vault.Client, path string, p Plugins, config map[string]any) error {
	in := &vault.MountInput{Type: p.Name, Description: "costcurves: " + path}
	in.Config.PluginVersion = p.Version
	if err := remount(ctx, admin, path, in); err != nil {
		return err
	}
	if _, err := admin.Logical().WriteWithContext(ctx, "auth/"+path+"/config", config); err != nil {
		return fmt.Errorf("auth/%s/config: %w", path, err)
	}
	return nil
}

// Parallel runs fn(0..n-1) on as many goroutines as setup uses and returns
// the first error.
func Parallel(ctx context.Context, n int, fn func(i int) error) error { return parallel(ctx, n, fn) }

// CreateServiceAccounts creates the accounts in namespace; existing ones
// are kept.
func CreateServiceAccounts(ctx context.Context, kc kubernetes.Interface, namespace string, names []string) error {
	return parallel(ctx, len(names), func(i int) error {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: names[i], Namespace: namespace}}
		if _, err := kc.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); ignoreExists(err) != nil {
			return fmt.Errorf("service account %s/%s: %w", namespace, names[i], err)
		}
		return nil
	})
}

// CreateNamespaces creates the namespaces with labels; existing ones are
// kept as they are (no controller-manager runs, so a namespace is never
// deleted for good: runs reuse them).
func CreateNamespaces(ctx context.Context, kc kubernetes.Interface, names []string, labels map[string]string) error {
	return parallel(ctx, len(names), func(i int) error {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: names[i], Labels: labels}}
		if _, err := kc.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); ignoreExists(err) != nil {
			return fmt.Errorf("namespace %s: %w", names[i], err)
		}
		return nil
	})
}

// Account names one service account.
type Account struct{ Namespace, Name string }

// RequestTokens asks for one token of each account, for audiences, in the
// accounts' order.
func RequestTokens(ctx context.Context, kc kubernetes.Interface, accounts []Account, audiences []string, ttl time.Duration) ([]string, error) {
	out := make([]string, len(accounts))
	err := parallel(ctx, len(accounts), func(i int) error {
		jwt, err := RequestToken(ctx, kc, accounts[i].Namespace, accounts[i].Name, audiences, ttl)
		out[i] = jwt
		return err
	})
	return out, err
}

// namespaceReader is the ClusterRole (and its binding's name) that lets the
// reviewer read namespaces, which a role with a namespace selector needs.
const namespaceReader = "kubeauth-curves-namespace-reader"

// GrantNamespaceReads lets the reviewer get namespaces: a selector role's
// login reads its namespace's labels with the reviewer's credential.
func GrantNamespaceReads(ctx context.Context, kc kubernetes.Interface) error {
	cr := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: namespaceReader},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}}},
	}
	if _, err := kc.RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}); ignoreExists(err) != nil {
		return fmt.Errorf("cluster role %s: %w", namespaceReader, err)
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: namespaceReader},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: namespaceReader},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: reviewerSA, Namespace: fixture.Namespace}},
	}
	if _, err := kc.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); ignoreExists(err) != nil {
		return fmt.Errorf("cluster role binding %s: %w", namespaceReader, err)
	}
	return nil
}
