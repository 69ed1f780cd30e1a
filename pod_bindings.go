package kubeauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/satoken"
)

// Metadata keys of tokens issued through a role with pod bindings.
const (
	metaPodName  = "service_account_pod_name"
	metaPodUID   = "service_account_pod_uid"
	metaNodeName = "service_account_node_name"
)

// maxPodLabelSelectorBytes caps bound_pod_label_selector on write, as the
// namespace selector is capped.
const maxPodLabelSelectorBytes = 4 << 10

// podBindings are the role fields that bind logins to pods and nodes, and
// Vault tokens to the workload that logged in. Vault's built-in method has
// none of them; they are stored only when set, so a role that does not use
// them is stored and read exactly as that method stores and reads it, and
// a switch back to it ignores them.
type podBindings struct {
	PodNames             []string `json:"bound_pod_names,omitempty"`
	NodeNames            []string `json:"bound_node_names,omitempty"`
	PodLabelSelector     string   `json:"bound_pod_label_selector,omitempty"`
	TokenBoundToWorkload bool     `json:"token_bound_to_workload,omitempty"`

	// podSelector is PodLabelSelector parsed once by loadRole;
	// podSelectorErr is why it did not parse.
	podSelector    labels.Selector
	podSelectorErr error
}

// used says whether the role sets any of the fields: only then do logins
// carry the pod's identity in their metadata and reads show the fields.
func (p *podBindings) used() bool {
	return p.bindsPod() || p.TokenBoundToWorkload
}

// bindsPod says whether a login needs a pod-bound token.
func (p *podBindings) bindsPod() bool {
	return len(p.PodNames) > 0 || len(p.NodeNames) > 0 || p.PodLabelSelector != ""
}

// needsPodLookup says whether the login must GET the pod: for its labels,
// or for its node when the review did not name one.
func (p *podBindings) needsPodLookup(nodeKnown bool) bool {
	return p.PodLabelSelector != "" || (len(p.NodeNames) > 0 && !nodeKnown)
}

// readsPods says whether the fields make the plugin read pods, at login
// or at renewal: the reviewer then needs get on pods.
func (p *podBindings) readsPods() bool {
	return p.PodLabelSelector != "" || len(p.NodeNames) > 0 || p.TokenBoundToWorkload
}

// podSelectorParsed is the pod selector as parsed when the role was loaded,
// or parsed now for a role built any other way.
func (p *podBindings) podSelectorParsed() (labels.Selector, error) {
	if p.podSelector != nil || p.podSelectorErr != nil {
		return p.podSelector, p.podSelectorErr
	}
	return parseLabelSelector("bound_pod_label_selector", p.PodLabelSelector)
}

func (p *podBindings) parsePodSelector() {
	p.podSelector, p.podSelectorErr = nil, nil
	if p.PodLabelSelector != "" {
		p.podSelector, p.podSelectorErr = parseLabelSelector("bound_pod_label_selector", p.PodLabelSelector)
	}
}

func podFieldSchemas(fields map[string]*framework.FieldSchema) {
	fields["bound_pod_names"] = &framework.FieldSchema{
		Type: framework.TypeCommaStringSlice,
		Description: `Names or globs of the pods allowed to log in, from the pod a projected token is bound to. ` +
			`When set, tokens not bound to a pod are refused.`,
		DisplayAttrs: &framework.DisplayAttributes{Name: "Bound Pod Names"},
	}
	fields["bound_node_names"] = &framework.FieldSchema{
		Type: framework.TypeCommaStringSlice,
		Description: `Names or globs of the nodes whose pods may log in: the node the TokenReview names, else the pod's ` +
			`spec.nodeName (the reviewer credential then needs get on pods). Refused when the node cannot be known.`,
		DisplayAttrs: &framework.DisplayAttributes{Name: "Bound Node Names"},
	}
	fields["bound_pod_label_selector"] = &framework.FieldSchema{
		Type: framework.TypeString,
		Description: "A Kubernetes LabelSelector (matchLabels, matchExpressions) in JSON or YAML that the live labels of the " +
			"pod the token is bound to must match; the pod must still exist with that UID. The reviewer credential needs get on pods.",
		DisplayAttrs: &framework.DisplayAttributes{Name: "Bound Pod Label Selector"},
	}
	fields["token_bound_to_workload"] = &framework.FieldSchema{
		Type: framework.TypeBool,
		Description: "Renew a token only while the service account that logged in still exists with the same UID and, " +
			"for a pod-bound login, while its pod still exists with the same UID. Needs a reviewer credential with get on " +
			"serviceaccounts and pods.",
		DisplayAttrs: &framework.DisplayAttributes{Name: "Token Bound To Workload"},
	}
}

// applyPodFields copies the pod fields a request sent onto p. Lists and the
// selector sent empty clear the field.
func applyPodFields(p *podBindings, d *framework.FieldData) error {
	if v, ok := d.GetOk("bound_pod_names"); ok {
		p.PodNames = nilIfEmpty(v.([]string))
	}
	if v, ok := d.GetOk("bound_node_names"); ok {
		p.NodeNames = nilIfEmpty(v.([]string))
	}
	if v, ok := d.GetOk("bound_pod_label_selector"); ok {
		s := v.(string)
		if strings.TrimSpace(s) == "" {
			s = ""
		}
		if s != "" {
			if err := validatePodSelectorWrite(s); err != nil {
				return err
			}
		}
		p.PodLabelSelector = s
	}
	if v, ok := d.GetOk("token_bound_to_workload"); ok {
		p.TokenBoundToWorkload = v.(bool)
	}
	p.parsePodSelector()
	return nil
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// validatePodSelectorWrite checks a pod selector a write sends: within the
// size cap, a LabelSelector, and not one that selects every pod, which
// binds nothing and is easy to write by mistake.
func validatePodSelectorWrite(s string) error {
	if len(s) > maxPodLabelSelectorBytes {
		return fmt.Errorf("bound_pod_label_selector: is %d bytes; the limit is %d bytes (4 KiB)", len(s), maxPodLabelSelectorBytes)
	}
	sel, err := parseLabelSelector("bound_pod_label_selector", s)
	if err != nil {
		return err
	}
	if sel.Empty() {
		return errors.New("bound_pod_label_selector: selects every pod; give matchLabels or matchExpressions, " +
			"or leave the field unset")
	}
	return nil
}

// validatePodBindings checks the pod fields of a whole role.
func validatePodBindings(p *podBindings) error {
	if err := validateBindingList("bound_pod_names", p.PodNames); err != nil {
		return err
	}
	if err := validateBindingList("bound_node_names", p.NodeNames); err != nil {
		return err
	}
	return p.podSelectorErr
}

// podWarnings are pod settings that cannot work with the config's
// credential: without a reviewer credential the pod is read with the login
// JWT itself, and a renewal has no credential at all.
func podWarnings(p *podBindings, selfReview bool) []string {
	if !selfReview {
		return nil
	}
	var w []string
	if p.TokenBoundToWorkload {
		w = append(w, "token_bound_to_workload is set but the config has no reviewer credential (token_reviewer_jwt): "+
			"renewals cannot look the workload up and will be refused")
	}
	if p.PodLabelSelector != "" || len(p.NodeNames) > 0 {
		w = append(w, "bound_pod_label_selector or bound_node_names may need the pod read, and the config has no reviewer "+
			"credential (token_reviewer_jwt): each login JWT must then be allowed get on pods itself, and renewals that "+
			"need the pod will be refused")
	}
	return w
}

// podReadData adds the pod fields to a role read, only for a role that sets
// any of them.
func (p *podBindings) podReadData(data map[string]interface{}) {
	if !p.used() {
		return
	}
	data["bound_pod_names"] = nonNil(p.PodNames)
	data["bound_node_names"] = nonNil(p.NodeNames)
	data["bound_pod_label_selector"] = p.PodLabelSelector
	data["token_bound_to_workload"] = p.TokenBoundToWorkload
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// podDeletionLeeway is how long after a pod's deletionTimestamp the API
// server still accepts the tokens bound to it (kube-apiserver's
// service-account validator allows the JWT library's default leeway, one
// minute). A pod deleted gracefully carries a deletionTimestamp in the
// future until its grace period ends, and one whose node is lost or that
// waits on a finalizer stays Terminating, readable, indefinitely: past the
// leeway it is gone for its tokens, and so for the plugin.
const podDeletionLeeway = 60 * time.Second

// boundPod is the pod a token is bound to, and its node when known: what
// the TokenReview vouched for at login, the token's metadata at renewal.
type boundPod struct {
	namespace, name, uid, node string
}

// podReader reads the pod a token is bound to; its errors are already a
// refusal (the pod does not exist) or a fault naming what is missing.
type podReader func(ctx context.Context) (*corev1.Pod, error)

// readPod GETs a pod with the login JWT, or with the reviewer credential
// when loginJWT is "".
func readPod(ctx context.Context, client *kube.Client, loginJWT, namespace, name string) (*corev1.Pod, error) {
	pod, err := client.Pod(ctx, loginJWT, namespace, name)
	if err != nil {
		if kube.Status(err) == http.StatusNotFound {
			return nil, refusal.New(refusal.ReasonPodNotBound, "pod %s/%s no longer exists", namespace, name)
		}
		return nil, credentialFault(client, err, "get on pods")
	}
	return pod, nil
}

// stepPod applies the role's pod and node bindings, once Kubernetes has
// vouched for the token and so for the pod it is bound to. A role without
// them passes at once. The pod is read, with the reviewer credential, only
// for its labels or, when the review does not name the node, its node.
func (b *backend) stepPod(ctx context.Context, a *attempt) error {
	p := &a.role.podBindings
	if !p.bindsPod() {
		return nil
	}
	id := &a.reviewed
	pod := boundPod{namespace: id.Namespace, name: id.PodName, uid: id.PodUID, node: id.NodeName}
	err := checkPodBindings(ctx, p, &pod, b.now(), a.livePod)
	id.NodeName = pod.node
	return err
}

// explainPod is explain's sentence for a pod step that let the login go on.
func explainPod(a *attempt) (outcome, detail string) {
	p, id := &a.role.podBindings, &a.reviewed
	if !p.bindsPod() {
		return outcomeSkipped, "the role has no bound_pod_names, bound_node_names or bound_pod_label_selector"
	}
	var parts []string
	if len(p.PodNames) > 0 {
		parts = append(parts, fmt.Sprintf("pod %q is in bound_pod_names %q", id.PodName, p.PodNames))
	}
	if p.PodLabelSelector != "" {
		parts = append(parts, fmt.Sprintf("pod %s/%s exists with the token's UID %s and its live labels match bound_pod_label_selector",
			id.Namespace, id.PodName, id.PodUID))
	}
	if len(p.NodeNames) > 0 {
		parts = append(parts, fmt.Sprintf("its node %q is in bound_node_names %q", id.NodeName, p.NodeNames))
	}
	return outcomePassed, strings.Join(parts, "; ")
}

// checkPodBindings holds the token's pod against the role's pod and node
// bindings, reading the live pod with read only when the labels or the
// node are needed from it; a node learnt from the pod is set on pod.
func checkPodBindings(ctx context.Context, p *podBindings, pod *boundPod, now time.Time, read podReader) error {
	if pod.name == "" || pod.uid == "" {
		return refusal.New(refusal.ReasonPodNotBound, "the token is not bound to a pod, and the role binds pods")
	}
	if len(p.PodNames) > 0 && !matchesAny(p.PodNames, pod.name) {
		return refusal.New(refusal.ReasonPodNotBound, "pod %q is not in bound_pod_names %q", pod.name, p.PodNames)
	}
	if p.needsPodLookup(pod.node != "") {
		live, err := read(ctx)
		if err != nil {
			return err
		}
		if err := checkLivePod(live, p, pod, now); err != nil {
			return err
		}
	}
	if len(p.NodeNames) > 0 {
		if pod.node == "" {
			return refusal.New(refusal.ReasonNodeNotBound, "the node of pod %s/%s is not known (the review names none and the pod has no spec.nodeName)",
				pod.namespace, pod.name)
		}
		if !matchesAny(p.NodeNames, pod.node) {
			return refusal.New(refusal.ReasonNodeNotBound, "node %q of pod %s/%s is not in bound_node_names %q", pod.node, pod.namespace, pod.name, p.NodeNames)
		}
	}
	return nil
}

// checkLivePod holds the pod as read against the token's pod: it must be
// that pod, its labels must match the selector, and it tells the node when
// the review did not.
func checkLivePod(live *corev1.Pod, p *podBindings, pod *boundPod, now time.Time) error {
	if err := checkSamePod(live, pod, now); err != nil {
		return err
	}
	if p.PodLabelSelector != "" {
		sel, err := p.podSelectorParsed()
		if err != nil {
			return fmt.Errorf("stored role is invalid: %w", err)
		}
		if !sel.Matches(labels.Set(live.Labels)) {
			return refusal.New(refusal.ReasonPodNotBound, "the labels of pod %s/%s do not match bound_pod_label_selector %q", pod.namespace, pod.name, sel.String())
		}
	}
	if pod.node == "" {
		pod.node = live.Spec.NodeName
	}
	return nil
}

// checkSamePod says whether the pod as read is still, for the API server,
// the pod the token is bound to: the same UID (a pod deleted and recreated
// under the same name is another pod), and not deleted more than
// podDeletionLeeway ago, the rule the API server applies to the token.
func checkSamePod(live *corev1.Pod, pod *boundPod, now time.Time) error {
	if string(live.UID) != pod.uid {
		return refusal.New(refusal.ReasonPodNotBound, "pod %s/%s has UID %q, but the token is bound to UID %q (the pod was deleted and recreated)",
			pod.namespace, pod.name, live.UID, pod.uid)
	}
	if podGone(live, now) {
		return refusal.New(refusal.ReasonPodNotBound, "pod %s/%s was deleted: its deletionTimestamp %s is more than %v past, so the API server "+
			"no longer accepts its tokens (the pod is only awaiting removal)",
			pod.namespace, pod.name, live.DeletionTimestamp.UTC().Format(time.RFC3339), podDeletionLeeway)
	}
	return nil
}

// podGone applies the API server's rule: a pod whose deletionTimestamp is
// more than podDeletionLeeway before now is gone; exactly at the leeway it
// is not yet.
func podGone(live *corev1.Pod, now time.Time) bool {
	return live.DeletionTimestamp != nil && live.DeletionTimestamp.Time.Before(now.Add(-podDeletionLeeway))
}

// addPodMetadata puts the pod's identity into a token's metadata, for a
// role that uses the pod fields: Vault's audit log then shows which pod
// used a secret. The entity alias stays per service account.
func addPodMetadata(md map[string]string, id *satoken.Identity) {
	if id.PodName != "" {
		md[metaPodName] = id.PodName
		md[metaPodUID] = id.PodUID
	}
	if id.NodeName != "" {
		md[metaNodeName] = id.NodeName
	}
}
