package kubeauth

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
)

// Metadata keys of the workload a pod-bound login came from.
const (
	// metaPodLabelPrefix prefixes each copied pod label: a label cannot
	// then pose as one of the plugin's own keys, and policies and audit
	// logs see where the value came from.
	metaPodLabelPrefix = "pod_label_"
	metaOwnerKind      = "owner_kind"
	metaOwnerName      = "owner_name"
)

// Bounds of alias_metadata_pod_labels. Vault refuses a login whose alias
// metadata has more than 64 keys or a key longer than 128 characters, so a
// role is held to what the login can carry, on write.
const (
	maxPodLabelKeys     = 16
	maxAliasMetadataKey = 128
)

// workloadMetadata are the role fields that copy the pod a token is bound
// to into the token's and the entity alias's metadata: some of its labels,
// and the workload that owns it. Vault's built-in method has neither;
// they are stored only when set.
type workloadMetadata struct {
	AliasPodLabels []string `json:"alias_metadata_pod_labels,omitempty"`
	AliasOwner     bool     `json:"alias_metadata_owner,omitempty"`
}

// used says whether the role copies anything of the pod.
func (w *workloadMetadata) used() bool { return len(w.AliasPodLabels) > 0 || w.AliasOwner }

// readsPods shadows podBindings.readsPods for the role as a whole: either
// set of fields makes logins read the pod.
func (r *roleEntry) readsPods() bool {
	return r.podBindings.readsPods() || r.workloadMetadata.used()
}

func workloadMetadataFields(fields map[string]*framework.FieldSchema) {
	fields["alias_metadata_pod_labels"] = &framework.FieldSchema{
		Type: framework.TypeCommaStringSlice,
		Description: fmt.Sprintf("Label keys copied from the live pod a token is bound to into the token's and the entity alias's "+
			"metadata, as %s<key> with each '.' written '_' (at most %d keys). Labels not listed are never copied. "+
			"The reviewer credential needs get on pods.", metaPodLabelPrefix, maxPodLabelKeys),
		DisplayAttrs: &framework.DisplayAttributes{Name: "Alias Metadata Pod Labels"},
	}
	fields["alias_metadata_owner"] = &framework.FieldSchema{
		Type: framework.TypeBool,
		Description: "Add the workload that owns the pod a token is bound to, as " + metaOwnerKind + " and " + metaOwnerName +
			": its controller, followed from a ReplicaSet to its Deployment and from a Job to its CronJob. The reviewer " +
			"credential needs get on pods, replicasets.apps and jobs.batch.",
		DisplayAttrs: &framework.DisplayAttributes{Name: "Alias Metadata Owner"},
	}
}

// applyWorkloadMetadata copies the fields a request sent onto w; a list
// sent empty clears it.
func applyWorkloadMetadata(w *workloadMetadata, d *framework.FieldData) error {
	if v, ok := d.GetOk("alias_metadata_pod_labels"); ok {
		keys := nilIfEmpty(v.([]string))
		if err := validatePodLabelKeys(keys); err != nil {
			return err
		}
		w.AliasPodLabels = keys
	}
	if v, ok := d.GetOk("alias_metadata_owner"); ok {
		w.AliasOwner = v.(bool)
	}
	return nil
}

// validatePodLabelKeys checks alias_metadata_pod_labels: label keys as
// Kubernetes writes them, no more than a login can carry, and no two that
// would land on the same metadata key.
func validatePodLabelKeys(keys []string) error {
	const field = "alias_metadata_pod_labels"
	if len(keys) > maxPodLabelKeys {
		return fmt.Errorf("%s: has %d keys; the limit is %d", field, len(keys), maxPodLabelKeys)
	}
	seen := make(map[string]string, len(keys))
	for _, k := range keys {
		if errs := content.IsLabelKey(k); len(errs) > 0 {
			return fmt.Errorf("%s: %.80q is not a label key: %s", field, k, strings.Join(errs, "; "))
		}
		mk := podLabelMetadataKey(k)
		if len(mk) > maxAliasMetadataKey {
			return fmt.Errorf("%s: %q becomes the metadata key %q, longer than the %d characters Vault allows", field, k, mk, maxAliasMetadataKey)
		}
		if other, dup := seen[mk]; dup {
			return fmt.Errorf("%s: %q and %q would both be the metadata key %q", field, other, k, mk)
		}
		seen[mk] = k
	}
	return nil
}

// podLabelMetadataKey is the metadata key of a pod label. Vault allows
// letters, digits and =/+_- in alias metadata keys; of a label key's
// characters only '.' is not among them.
func podLabelMetadataKey(labelKey string) string {
	return metaPodLabelPrefix + strings.ReplaceAll(labelKey, ".", "_")
}

// workloadReadData adds the fields to a role read, only for a role that
// sets either.
func (w *workloadMetadata) workloadReadData(data map[string]any) {
	if !w.used() {
		return
	}
	data["alias_metadata_pod_labels"] = nonNil(w.AliasPodLabels)
	data["alias_metadata_owner"] = w.AliasOwner
}

// isWorkloadMetadataKey says whether k is a key the role's fields may set:
// a service-account annotation must not set it in their place.
func (w *workloadMetadata) isWorkloadMetadataKey(k string) bool {
	if w.AliasOwner && (k == metaOwnerKind || k == metaOwnerName) {
		return true
	}
	return len(w.AliasPodLabels) > 0 && strings.HasPrefix(k, metaPodLabelPrefix)
}

// podLabelMetadata copies the listed labels of a pod. A value that is not
// a valid label value (no API server writes one) is left out rather than
// cut: two cut values could read alike to a policy. So is a key Vault
// would refuse, which only a role stored by other means than a write holds.
func podLabelMetadata(keys []string, labels map[string]string) map[string]string {
	md := make(map[string]string, len(keys)+2)
	for _, k := range keys {
		v, ok := labels[k]
		mk := podLabelMetadataKey(k)
		if !ok || len(content.IsLabelValue(v)) > 0 || len(mk) > maxAliasMetadataKey {
			continue
		}
		md[mk] = v
	}
	return md
}

// stepWorkloadMetadata reads the pod a token is bound to, once Kubernetes
// vouched for the token, and keeps the labels and owner the role asks for.
// A token bound to no pod gets none of these keys. The pod must still be
// the token's pod (the same UID, not deleted): a token whose pod is gone
// is refused here as bound_pod_label_selector refuses it.
func (b *backend) stepWorkloadMetadata(ctx context.Context, a *attempt) error {
	w := &a.role.workloadMetadata
	if !w.used() || a.reviewed.PodName == "" || a.reviewed.PodUID == "" {
		return nil
	}
	for k := range a.aliasMetadata {
		if w.isWorkloadMetadataKey(k) {
			return refusal.Invalid("service account annotation %q would overwrite the alias metadata key %q the role's "+
				"alias_metadata_pod_labels or alias_metadata_owner sets", aliasMetadataAnnotationPrefix+k, k)
		}
	}
	id := &a.reviewed
	pod, err := a.livePod(ctx)
	if err != nil {
		return err
	}
	if err := checkSamePod(pod, &boundPod{namespace: id.Namespace, name: id.PodName, uid: id.PodUID}, b.now()); err != nil {
		return err
	}
	md := podLabelMetadata(w.AliasPodLabels, pod.Labels)
	if w.AliasOwner {
		client := a.state.kube
		owner, ok, err := resolveOwner(ctx, pod, ownerReaderOf(client, a.rawJWT, pod.Namespace))
		if err != nil {
			return credentialFault(client, err, "get on replicasets.apps and jobs.batch")
		}
		if ok {
			md[metaOwnerKind], md[metaOwnerName] = owner.kind, owner.name
		}
	}
	a.workloadMetadata = md
	return nil
}

// livePod is the pod the reviewed token is bound to, read once per login:
// the pod step and the workload metadata step share it.
func (a *attempt) livePod(ctx context.Context) (*corev1.Pod, error) {
	if a.pod != nil {
		return a.pod, nil
	}
	pod, err := readPod(ctx, a.state.kube, a.rawJWT, a.reviewed.Namespace, a.reviewed.PodName)
	if err != nil {
		return nil, err
	}
	a.pod = pod
	return pod, nil
}

// explainWorkloadMetadata is explain's sentence for the step.
func explainWorkloadMetadata(a *attempt) (outcome, detail string) {
	w := &a.role.workloadMetadata
	if !w.used() {
		return outcomeSkipped, "the role sets neither alias_metadata_pod_labels nor alias_metadata_owner"
	}
	if a.reviewed.PodName == "" {
		return outcomeSkipped, "the token is not bound to a pod: no pod labels or owner are added to the metadata"
	}
	keys := make([]string, 0, len(a.workloadMetadata))
	for k := range a.workloadMetadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+a.workloadMetadata[k])
	}
	if len(parts) == 0 {
		return outcomePassed, fmt.Sprintf("pod %s/%s has none of the labels listed and no owner to report", a.reviewed.Namespace, a.reviewed.PodName)
	}
	return outcomePassed, fmt.Sprintf("from pod %s/%s: %s", a.reviewed.Namespace, a.reviewed.PodName, strings.Join(parts, ", "))
}

// workloadWarnings: without a reviewer credential the pod is read with the
// login JWT, which a workload is rarely allowed.
func workloadWarnings(w *workloadMetadata, selfReview bool) []string {
	if !selfReview || !w.used() {
		return nil
	}
	return []string{"alias_metadata_pod_labels or alias_metadata_owner read the pod (and its owner), and the config has no " +
		"reviewer credential (token_reviewer_jwt): each login JWT must then be allowed those reads itself"}
}
