package e2e

import (
	"net/http"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// Without token_reviewer_jwt the login JWT reviews itself: a workload may log
// in only if it may create TokenReviews, which is how Vault running outside
// the cluster is commonly set up. Its token must then also be good for the
// apiserver's own audience, or the apiserver does not take it as a
// credential at all.
func TestLoginWithoutReviewerJWT(t *testing.T) {
	t.Parallel()
	m := newMount(t)
	expectOK(t, root(t, http.MethodPost, "auth/"+m.path+"/config", map[string]any{
		"kubernetes_host":    stk.KubeHost,
		"kubernetes_ca_cert": stk.KubeCA,
	}))
	w := stk.NewWorkload(t, "self", nil)
	m.bindRole(t, "self", w, nil)

	selfToken := func() string {
		return mintToken(t, w.Namespace, w.SA.Name, realstack.TokenOptions{Audiences: []string{"vault", stk.SAIssuer}})
	}
	// A token for "vault" alone is no credential for the apiserver.
	realstack.ExpectDenied(t, m.login(t, "self", vaultToken(t, w)))
	// Kubernetes refuses the review to a token that may not create one:
	// to Vault that is a failed login like any other.
	realstack.ExpectDenied(t, m.login(t, "self", selfToken()))

	bindAuthDelegator(t, w)
	jwt := selfToken()
	// RBAC sees a new binding once the apiserver's informer has it, which
	// takes a moment.
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := m.login(t, "self", jwt)
		if r.Status == http.StatusOK {
			break
		}
		realstack.ExpectDenied(t, r)
		if time.Now().After(deadline) {
			t.Fatalf("still refused 30 s after binding system:auth-delegator: %s", r)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// A reviewer JWT without the right to create TokenReviews is the operator's
// mistake, not the workload's: a fault (500), not a refused login. The
// unauthenticated caller is told only that Kubernetes refused the check;
// Vault's log says which permission is missing.
func TestLoginReviewerWithoutPermission(t *testing.T) {
	t.Parallel()
	weak := stk.NewWorkload(t, "weak-reviewer", nil)
	m := newMount(t)
	m.configure(t, map[string]any{"token_reviewer_jwt": mintToken(t, weak.Namespace, weak.SA.Name, realstack.TokenOptions{})})
	w := stk.NewWorkload(t, "app", nil)
	m.bindRole(t, "app", w, nil)

	r := m.login(t, "app", vaultToken(t, w))
	expectGenericFault(t, r)
	realstack.WaitForLog(t, stk.VaultLogPath(), 10*time.Second, "the reviewer credential needs create on tokenreviews")
}

func bindAuthDelegator(t *testing.T, w realstack.Workload) {
	t.Helper()
	bindSubjectAuthDelegator(t, w.Namespace+"-"+w.SA.Name+"-auth-delegator",
		rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: w.SA.Name, Namespace: w.Namespace})
}

// bindSubjectAuthDelegator binds a subject (a service account, a user) to
// system:auth-delegator, what a reviewer needs to create TokenReviews.
func bindSubjectAuthDelegator(t *testing.T, binding string, subject rbacv1.Subject) {
	t.Helper()
	_, err := stk.Kube.RbacV1().ClusterRoleBindings().Create(realstack.KubeCtx(t), &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: binding},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:auth-delegator"},
		Subjects:   []rbacv1.Subject{subject},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("binding %s %s to system:auth-delegator: %v", subject.Kind, subject.Name, err)
	}
}
