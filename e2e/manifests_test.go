package e2e

import (
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// The reviewer deploy/kubernetes/ creates, by the names those files give it.
const (
	manifestsNamespace = "vault"
	manifestsReviewer  = "vault-token-reviewer"
	manifestsSecret    = "vault-token-reviewer-token"
)

// kubectl runs the stack's kubectl as the cluster's admin, as an operator
// would, and returns its output.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(stk.KubectlBin, append([]string{"--kubeconfig", stk.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// deploy/kubernetes/, applied with kubectl to the real API server, gives a
// reviewer that does what the README says: with it a mount's config/check
// passes and the login matrix holds (a good login, a wrong namespace
// refused, a namespace selector that needs get namespaces, annotations that
// need get serviceaccounts, a pod label selector that needs get pods, an owner that needs get replicasets and jobs). Taking the optional namespaces grant away again
// breaks the selector role, so the test also sees that file is what grants
// it. The manifests cannot drift from what the plugin needs without this
// test failing.
func TestManifestsReviewer(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(stk.RepoRoot, "deploy", "kubernetes")
	apply := []string{"apply",
		"-f", dir,
		"-f", filepath.Join(dir, "optional"),
		"-f", filepath.Join(dir, "outside-cluster"),
	}
	kubectl(t, apply...)
	// Applying again changes nothing and fails nothing: operators re-run it.
	if out := kubectl(t, apply...); strings.Contains(out, "created") || strings.Contains(out, "configured") {
		t.Fatalf("a second apply changed objects:\n%s", out)
	}

	// The Secret for a Vault outside the cluster is accepted as written,
	// bound to the reviewer. Its token would be filled by the token
	// controller of kube-controller-manager, which this stack does not run,
	// so the test mints the reviewer's token with TokenRequest instead: the
	// same service account, the same RBAC, a token of another kind.
	sec, err := stk.Kube.CoreV1().Secrets(manifestsNamespace).Get(realstack.KubeCtx(t), manifestsSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sec.Type != corev1.SecretTypeServiceAccountToken || sec.Annotations[corev1.ServiceAccountNameKey] != manifestsReviewer {
		t.Fatalf("secret %s: type %s, annotations %v", manifestsSecret, sec.Type, sec.Annotations)
	}
	reviewerJWT := mintToken(t, manifestsNamespace, manifestsReviewer, realstack.TokenOptions{TTL: time.Hour})

	m := newMount(t)
	m.configure(t, map[string]any{
		"token_reviewer_jwt":                reviewerJWT,
		"use_annotations_as_alias_metadata": true,
	})
	good := stk.NewWorkload(t, "app", map[string]string{"e2e-manifests": "selected"})
	m.bindRole(t, "app", good, nil)
	m.writeRole(t, "selected", map[string]any{
		"bound_service_account_names":              "app",
		"bound_service_account_namespace_selector": `{"matchLabels":{"e2e-manifests":"selected"}}`,
		"audience": "vault",
	})

	// A pod-bound role reads the pod's live labels.
	pod := newBoundPod(t, good.Namespace, "app", "web-0", "", map[string]string{"app": "web"})
	m.bindRole(t, "pod", good, map[string]any{"bound_pod_label_selector": `{"matchLabels":{"app":"web"}}`})
	// One that follows the pod's owner reads replicasets and jobs too.
	m.bindRole(t, "owner", good, map[string]any{"alias_metadata_owner": true})

	// RBAC sees the new bindings a moment after they are written.
	m.checkEventually(t, "create_tokenreviews", "passed")
	m.checkEventually(t, "get_namespaces", "passed")
	m.checkEventually(t, "get_pods", "passed")
	m.checkEventually(t, "get_replicasets", "passed")
	m.checkEventually(t, "get_jobs", "passed")
	a := m.checkEventually(t, "get_serviceaccounts", "passed")
	if !strings.HasPrefix(a.verdict, "ok: ") {
		t.Fatalf("config/check verdict %q with the manifests' reviewer: %s", a.verdict, a.reply)
	}
	for _, name := range a.names {
		if s := a.checks[name].Str("status"); s != "passed" && s != "skipped" {
			t.Errorf("%s: %s: %s", name, s, a.checks[name].Str("detail"))
		}
	}
	if want := "system:serviceaccount:" + manifestsNamespace + ":" + manifestsReviewer; !strings.Contains(a.checks["reviewer_identity"].Str("detail"), want) {
		t.Fatalf("reviewer_identity does not name %s: %s", want, a.reply)
	}

	// A good login; the same service account name in another namespace is
	// refused.
	m.mustLogin(t, "app", vaultToken(t, good))
	elsewhere := stk.NewWorkload(t, "app", nil)
	realstack.ExpectDenied(t, m.login(t, "app", vaultToken(t, elsewhere)))

	// The selector role reads the namespace's labels.
	m.mustLogin(t, "selected", vaultToken(t, good))
	realstack.ExpectDenied(t, m.login(t, "selected", vaultToken(t, elsewhere)))

	// The pod role admits the labeled pod's token, not a token bound to
	// no pod.
	m.mustLogin(t, "pod", podToken(t, pod))
	realstack.ExpectDenied(t, m.login(t, "pod", vaultToken(t, good)))

	// Annotations become alias metadata: the reviewer read the service
	// account.
	ns := stk.NewNamespace(t, nil)
	annotated := realstack.Workload{Namespace: ns, SA: stk.NewServiceAccount(t, ns, "payer", map[string]string{
		"vault.hashicorp.com/alias-metadata-team": "payments",
	})}
	m.bindRole(t, "payer", annotated, nil)
	auth := m.mustLogin(t, "payer", vaultToken(t, annotated))
	if meta := entityAlias(t, m, auth.Str("entity_id")).StringMap("metadata"); meta["team"] != "payments" {
		t.Fatalf("alias metadata %v lacks team=payments", meta)
	}

	// Without optional/namespaces.yaml the selector role cannot work, and
	// config/check says so.
	kubectl(t, "delete", "-f", filepath.Join(dir, "optional", "namespaces.yaml"))
	a = m.checkEventually(t, "get_namespaces", "failed")
	if !strings.HasPrefix(a.verdict, "1 problem: get_namespaces") {
		t.Fatalf("verdict %q after deleting the namespaces grant: %s", a.verdict, a.reply)
	}
	if r := m.login(t, "selected", vaultToken(t, good)); r.Status == http.StatusOK {
		t.Fatalf("the selector role logged in without get on namespaces: %s", r)
	}
}
