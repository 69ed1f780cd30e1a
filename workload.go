package kubeauth

import (
	"context"
	"net/http"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
)

// checkWorkload is token_bound_to_workload at renewal: the Vault token
// lives only as long as the workload that logged in. The service account
// must still exist with the UID the token was issued to and, for a login
// with a pod-bound token, the pod with its name and UID, not deleted more
// than podDeletionLeeway ago. The login JWT is long gone, so the lookups
// need a reviewer credential.
func (r *renewal) checkWorkload(ctx context.Context) error {
	const what = "token_bound_to_workload"
	client, err := r.kube(ctx, what)
	if err != nil {
		return err
	}
	ns, name, uid := r.metadata(metaSANamespace), r.metadata(metaSAName), r.metadata(metaSAUID)
	got, err := client.ServiceAccountUID(ctx, ns, name)
	switch {
	case kube.Status(err) == http.StatusNotFound:
		return refusal.New(refusal.ReasonWorkloadGone, "service account %s/%s no longer exists", ns, name)
	case err != nil:
		return credentialFault(client, err, "get on serviceaccounts")
	case got != uid:
		return refusal.New(refusal.ReasonWorkloadGone, "service account %s/%s was deleted and recreated: its UID is %q, the token was issued to %q",
			ns, name, got, uid)
	}
	pod := boundPod{namespace: ns, name: r.metadata(metaPodName), uid: r.metadata(metaPodUID)}
	if pod.name == "" {
		return nil // the login's token was not bound to a pod
	}
	live, err := r.livePod(ctx, pod.namespace, pod.name, what)
	if err != nil {
		return err
	}
	return checkSamePod(live, &pod, r.now)
}
