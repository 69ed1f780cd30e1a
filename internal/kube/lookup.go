package kube

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NamespaceLabels returns the labels of a namespace, for the role's selector.
func (k *Client) NamespaceLabels(ctx context.Context, loginJWT, namespace string) (map[string]string, error) {
	ctx, cancel, err := k.callContext(ctx, loginJWT)
	if err != nil {
		return nil, err
	}
	defer cancel()
	ns, err := k.clientset.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	if err != nil {
		return nil, k.apiError("namespace lookup", err)
	}
	return ns.Labels, nil
}

// ServiceAccountAnnotations returns the annotations of a service account.
func (k *Client) ServiceAccountAnnotations(ctx context.Context, loginJWT, namespace, name string) (map[string]string, error) {
	ctx, cancel, err := k.callContext(ctx, loginJWT)
	if err != nil {
		return nil, err
	}
	defer cancel()
	sa, err := k.clientset.CoreV1().ServiceAccounts(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, k.apiError("service account lookup", err)
	}
	return sa.Annotations, nil
}

// Pod reads a pod, for the role's pod bindings and token_bound_to_workload.
func (k *Client) Pod(ctx context.Context, loginJWT, namespace, name string) (*corev1.Pod, error) {
	ctx, cancel, err := k.callContext(ctx, loginJWT)
	if err != nil {
		return nil, err
	}
	defer cancel()
	pod, err := k.clientset.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, k.apiError("pod lookup", err)
	}
	return pod, nil
}

// ServiceAccountUID reads a service account's UID, for token_bound_to_workload.
func (k *Client) ServiceAccountUID(ctx context.Context, namespace, name string) (string, error) {
	ctx, cancel, err := k.callContext(ctx, "")
	if err != nil {
		return "", err
	}
	defer cancel()
	sa, err := k.clientset.CoreV1().ServiceAccounts(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", k.apiError("service account lookup", err)
	}
	return string(sa.UID), nil
}

// GetPath GETs a path of the API server itself (its service-account issuer
// discovery document and signing keys) with the reviewer credential.
func (k *Client) GetPath(ctx context.Context, path string) ([]byte, error) {
	ctx, cancel, err := k.callContext(ctx, "")
	if err != nil {
		return nil, err
	}
	defer cancel()
	body, err := k.clientset.CoreV1().RESTClient().Get().AbsPath(path).DoRaw(ctx)
	if err != nil {
		return nil, k.apiError("GET "+path, err)
	}
	return body, nil
}
