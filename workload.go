package kubeauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
)

// checkWorkload is token_bound_to_workload at renewal: the Vault token
// lives only as long as the workload that logged in. The service account
// must still exist with the UID the token was issued to and, for a login
// with a pod-bound token, the pod with its name and UID. The login JWT is
// long gone, so the lookups need a reviewer credential.
func (b *backend) checkWorkload(ctx context.Context, s logical.Storage, cluster string, md map[string]string) error {
	state, err := b.clusterState(ctx, s, cluster)
	if err != nil {
		return err
	}
	if state == nil {
		return fmt.Errorf("cluster %q is not configured", cluster)
	}
	defer state.release()
	if !state.hasReviewer() {
		return errors.New("the workload cannot be looked up without a reviewer credential (token_reviewer_jwt)")
	}
	return checkWorkloadAlive(ctx, state.kube, md, b.now())
}

// checkWorkloadAlive looks up the workload a token's metadata names.
func checkWorkloadAlive(ctx context.Context, client *kube.Client, md map[string]string, now time.Time) error {
	ns, name, uid := md[metaSANamespace], md[metaSAName], md[metaSAUID]
	got, err := client.ServiceAccountUID(ctx, ns, name)
	switch {
	case kube.Status(err) == http.StatusNotFound:
		return fmt.Errorf("service account %s/%s no longer exists", ns, name)
	case err != nil:
		return fmt.Errorf("service account %s/%s could not be looked up: %w", ns, name,
			credentialFault(client, err, "get on serviceaccounts"))
	case got != uid:
		return fmt.Errorf("service account %s/%s was deleted and recreated: its UID is %q, the token was issued to %q",
			ns, name, got, uid)
	}
	pod := boundPod{namespace: ns, name: md[metaPodName], uid: md[metaPodUID]}
	if pod.name == "" {
		return nil // the login's token was not bound to a pod
	}
	live, err := readPod(ctx, client, "", pod.namespace, pod.name)
	if err != nil {
		return err
	}
	return checkSamePod(live, &pod, now)
}
