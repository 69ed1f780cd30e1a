package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// controlledBy is a controller reference to obj, as Kubernetes' own
// controllers write them.
func controlledBy(apiVersion, kind string, obj metav1.Object) []metav1.OwnerReference {
	yes := true
	return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: obj.GetName(), UID: obj.GetUID(), Controller: &yes}}
}

func podTemplate(labels map[string]string, restart corev1.RestartPolicy) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			RestartPolicy: restart,
			Containers:    []corev1.Container{{Name: "app", Image: "registry.invalid/app:1"}},
		},
	}
}

// ownedPod creates a pod of the service account on node with the given
// labels and owner references (this stack runs no controllers: the test
// writes what the Deployment and CronJob controllers would).
func ownedPod(t *testing.T, w realstack.Workload, name, node string, labels map[string]string, owners []metav1.OwnerReference) *corev1.Pod {
	t.Helper()
	pod, err := stk.Kube.CoreV1().Pods(w.Namespace).Create(realstack.KubeCtx(t), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, OwnerReferences: owners},
		Spec: corev1.PodSpec{
			ServiceAccountName: w.SA.Name,
			NodeName:           node,
			Containers:         []corev1.Container{{Name: "app", Image: "registry.invalid/app:1"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s/%s: %v", w.Namespace, name, err)
	}
	return pod
}

// deploymentPod is a pod of Deployment "shop" through its ReplicaSet.
func deploymentPod(t *testing.T, w realstack.Workload, node string) *corev1.Pod {
	t.Helper()
	ctx := realstack.KubeCtx(t)
	labels := map[string]string{"app.kubernetes.io/name": "shop", "team": "payments", "pod-template-hash": "5d8f7"}
	sel := &metav1.LabelSelector{MatchLabels: labels}
	d, err := stk.Kube.AppsV1().Deployments(w.Namespace).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec:       appsv1.DeploymentSpec{Selector: sel, Template: podTemplate(labels, corev1.RestartPolicyAlways)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := stk.Kube.AppsV1().ReplicaSets(w.Namespace).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "shop-5d8f7", OwnerReferences: controlledBy("apps/v1", "Deployment", d)},
		Spec:       appsv1.ReplicaSetSpec{Selector: sel, Template: podTemplate(labels, corev1.RestartPolicyAlways)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ownedPod(t, w, "shop-5d8f7-x2x9q", node, labels, controlledBy("apps/v1", "ReplicaSet", rs))
}

// cronJobPod is a pod of CronJob "report" through its Job.
func cronJobPod(t *testing.T, w realstack.Workload, node string) *corev1.Pod {
	t.Helper()
	ctx := realstack.KubeCtx(t)
	labels := map[string]string{"app.kubernetes.io/name": "report"}
	cj, err := stk.Kube.BatchV1().CronJobs(w.Namespace).Create(ctx, &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "report"},
		Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{
			Spec: batchv1.JobSpec{Template: podTemplate(labels, corev1.RestartPolicyNever)},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	job, err := stk.Kube.BatchV1().Jobs(w.Namespace).Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "report-29178900", OwnerReferences: controlledBy("batch/v1", "CronJob", cj)},
		Spec:       batchv1.JobSpec{Template: podTemplate(labels, corev1.RestartPolicyNever)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ownedPod(t, w, "report-29178900-abcde", node, labels, controlledBy("batch/v1", "Job", job))
}

// grantOwnerReads binds the reviewer to get on replicasets and jobs, as
// deploy/kubernetes/optional/owners.yaml does; removed when the test ends.
func grantOwnerReads(t *testing.T, ns, reviewer string) {
	t.Helper()
	ctx := realstack.KubeCtx(t)
	name := ns + "-owner-reads"
	if _, err := stk.Kube.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: []string{"get"}},
			{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"get"}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := stk.Kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: reviewer}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := realstack.KubeCtx(t)
		_ = stk.Kube.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
		_ = stk.Kube.RbacV1().ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{})
	})
}

// A role with alias_metadata_pod_labels and alias_metadata_owner, on the
// real API server: without get on replicasets and jobs, config/check fails
// get_replicasets and get_jobs and a login fails (500) rather than report a
// vaguer owner; granted, a Deployment's pod and a CronJob's pod log in with
// their listed labels and their workload in the token's metadata and in the
// entity alias read back through Vault's identity API, and unlisted labels
// are nowhere. A role without the fields adds none of these keys.
func TestWorkloadMetadataInEntityAlias(t *testing.T) {
	t.Parallel()
	ns := stk.NewNamespace(t, nil)
	const reviewer = "reviewer"
	if err := stk.CreateBoundServiceAccount(realstack.KubeCtx(t), ns, reviewer); err != nil {
		t.Fatal(err)
	}
	m := newMount(t)
	m.configure(t, map[string]any{"token_reviewer_jwt": mintToken(t, ns, reviewer, realstack.TokenOptions{TTL: time.Hour})})

	shopNS := stk.NewWorkload(t, "shop", nil)
	reportNS := stk.NewWorkload(t, "report", nil)
	node := newNode(t)
	shop, report := deploymentPod(t, shopNS, node), cronJobPod(t, reportNS, node)
	fields := map[string]any{"alias_metadata_pod_labels": "app.kubernetes.io/name,team", "alias_metadata_owner": true}
	m.bindRole(t, "shop", shopNS, fields)
	m.bindRole(t, "report", reportNS, fields)
	m.bindRole(t, "plain", shopNS, nil)

	a := m.checkEventually(t, "get_replicasets", "failed")
	if fix := a.checks["get_replicasets"].Str("fix"); !strings.Contains(fix, "--resource=replicasets.apps") {
		t.Errorf("get_replicasets fix %q does not name replicasets.apps", fix)
	}
	if s := a.checks["get_jobs"].Str("status"); s != "failed" {
		t.Errorf("get_jobs %s without the grant", s)
	}
	if r := m.login(t, "shop", podToken(t, shop)); r.Status != http.StatusInternalServerError {
		t.Fatalf("login without get on replicasets: %s, want the generic 500", r)
	}

	grantOwnerReads(t, ns, reviewer)
	m.checkEventually(t, "get_replicasets", "passed")
	m.checkEventually(t, "get_jobs", "passed")

	for _, c := range []struct {
		role string
		pod  *corev1.Pod
		want map[string]string
	}{
		{"shop", shop, map[string]string{
			"pod_label_app_kubernetes_io/name": "shop", "pod_label_team": "payments",
			"owner_kind": "Deployment", "owner_name": "shop",
		}},
		{"report", report, map[string]string{
			"pod_label_app_kubernetes_io/name": "report", "owner_kind": "CronJob", "owner_name": "report",
		}},
	} {
		auth := m.mustLogin(t, c.role, podToken(t, c.pod))
		md := auth.StringMap("metadata")
		alias := entityAlias(t, m, auth.Str("entity_id"))
		aliasMD := alias.StringMap("metadata")
		for k, v := range c.want {
			if md[k] != v {
				t.Errorf("%s: token metadata %s = %q, want %q (all: %v)", c.role, k, md[k], v, md)
			}
			if aliasMD[k] != v {
				t.Errorf("%s: entity alias metadata %s = %q, want %q (all: %v)", c.role, k, aliasMD[k], v, aliasMD)
			}
		}
		for _, m := range []map[string]string{md, aliasMD} {
			for k := range m {
				if strings.HasPrefix(k, "pod_label_") && c.want[k] == "" {
					t.Errorf("%s: unlisted label %s copied: %v", c.role, k, m)
				}
			}
		}
	}

	auth := m.mustLogin(t, "plain", podToken(t, shop))
	for k := range auth.StringMap("metadata") {
		if strings.HasPrefix(k, "pod_label_") || strings.HasPrefix(k, "owner_") {
			t.Errorf("a role without the fields added %s", k)
		}
	}
}
