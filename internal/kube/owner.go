package kube

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Owner kinds the plugin reads to find a pod's workload: the controllers
// Kubernetes itself nests under another (a Deployment's ReplicaSets, a
// CronJob's Jobs). Only these API versions are read.
const (
	KindReplicaSet = "ReplicaSet"
	KindJob        = "Job"
	appsV1         = "apps/v1"
	batchV1        = "batch/v1"
)

// ReadsOwner says whether OwnerMeta can read the object ref names.
func ReadsOwner(ref metav1.OwnerReference) bool {
	return (ref.Kind == KindReplicaSet && ref.APIVersion == appsV1) || (ref.Kind == KindJob && ref.APIVersion == batchV1)
}

// OwnerMeta reads the metadata of the ReplicaSet or Job ref names in
// namespace (owner references never cross namespaces), for its own owner
// references and UID.
func (k *Client) OwnerMeta(ctx context.Context, loginJWT, namespace string, ref metav1.OwnerReference) (*metav1.ObjectMeta, error) {
	if !ReadsOwner(ref) {
		return nil, fmt.Errorf("%s %s is not an owner the plugin reads", ref.APIVersion, ref.Kind)
	}
	ctx, cancel, err := k.callContext(ctx, loginJWT)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if ref.Kind == KindReplicaSet {
		rs, err := k.clientset.AppsV1().ReplicaSets(namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return nil, k.apiError("replicaset lookup", err)
		}
		return &rs.ObjectMeta, nil
	}
	job, err := k.clientset.BatchV1().Jobs(namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		return nil, k.apiError("job lookup", err)
	}
	return &job.ObjectMeta, nil
}
