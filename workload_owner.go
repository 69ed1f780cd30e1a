package kubeauth

import (
	"context"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
)

// workloadOwner is the workload a pod belongs to, as alias_metadata_owner
// reports it.
type workloadOwner struct{ kind, name string }

// ownerReader reads the metadata of the ReplicaSet or Job a reference
// names, in the pod's namespace.
type ownerReader func(ctx context.Context, ref metav1.OwnerReference) (*metav1.ObjectMeta, error)

// ownerReaderOf reads owners in a namespace through a cluster's client,
// with the reviewer credential (or the login JWT when there is none).
func ownerReaderOf(client *kube.Client, loginJWT, namespace string) ownerReader {
	return func(ctx context.Context, ref metav1.OwnerReference) (*metav1.ObjectMeta, error) {
		return client.OwnerMeta(ctx, loginJWT, namespace, ref)
	}
}

// nestedUnder is the controller each readable owner is reported as when it
// has one: Kubernetes' own Deployment and CronJob controllers create the
// ReplicaSets and Jobs that create the pods, and the name that means
// something to an operator is theirs.
var nestedUnder = map[string]metav1.TypeMeta{
	kube.KindReplicaSet: {APIVersion: "apps/v1", Kind: "Deployment"},
	kube.KindJob:        {APIVersion: "batch/v1", Kind: "CronJob"},
}

// resolveOwner is the pod's controlling owner, followed one step from a
// ReplicaSet to its Deployment and from a Job to its CronJob. It reports
// only what references with matching UIDs show: when the ReplicaSet or Job
// is gone, or the name now belongs to another object, the pod's own
// reference is the owner. A pod without a controller has none (ok false).
// A read that fails for any other reason is an error: a login must not
// pass with a less specific owner than the one that exists.
func resolveOwner(ctx context.Context, pod *corev1.Pod, read ownerReader) (workloadOwner, bool, error) {
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil {
		return workloadOwner{}, false, nil
	}
	direct := workloadOwner{kind: ref.Kind, name: ref.Name}
	if !kube.ReadsOwner(*ref) {
		return direct, true, nil
	}
	meta, err := read(ctx, *ref)
	if err != nil {
		if kube.Status(err) == http.StatusNotFound {
			return direct, true, nil
		}
		return workloadOwner{}, false, err
	}
	if meta.UID != ref.UID {
		return direct, true, nil
	}
	parent := metav1.GetControllerOfNoCopy(meta)
	want := nestedUnder[ref.Kind]
	if parent == nil || parent.Kind != want.Kind || parent.APIVersion != want.APIVersion {
		return direct, true, nil
	}
	return workloadOwner{kind: parent.Kind, name: parent.Name}, true, nil
}
