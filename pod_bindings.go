package kubeauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
)

// Key of TokenReview status.user.extra naming the node a pod-bound token's
// pod runs on (sent by recent API servers).
const extraNodeName = "authentication.kubernetes.io/node-name"

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
			"credential (token_reviewer_jwt): each login JWT must then be allowed get on pods itself")
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

// stepPod applies the role's pod and node bindings, once Kubernetes has
// vouched for the token and so for the pod it is bound to. A role without
// them passes at once. The pod is read, with the reviewer credential, only
// for its labels or, when the review does not name the node, its node.
func stepPod(ctx context.Context, a *attempt) error {
	p := &a.role.podBindings
	if !p.bindsPod() {
		return nil
	}
	id := &a.reviewed
	if id.podName == "" || id.podUID == "" {
		return refuse(reasonPodNotBound, "the token is not bound to a pod, and the role binds pods")
	}
	if len(p.PodNames) > 0 && !matchesAny(p.PodNames, id.podName) {
		return refuse(reasonPodNotBound, "pod %q is not in bound_pod_names %q", id.podName, p.PodNames)
	}
	if p.needsPodLookup(id.nodeName != "") {
		if err := checkLivePod(ctx, a, p); err != nil {
			return err
		}
	}
	if len(p.NodeNames) > 0 {
		if id.nodeName == "" {
			return refuse(reasonNodeNotBound, "the node of pod %s/%s is not known (the review names none and the pod has no spec.nodeName)",
				id.namespace, id.podName)
		}
		if !matchesAny(p.NodeNames, id.nodeName) {
			return refuse(reasonNodeNotBound, "node %q of pod %s/%s is not in bound_node_names %q", id.nodeName, id.namespace, id.podName, p.NodeNames)
		}
	}
	return nil
}

// checkLivePod reads the pod the token is bound to: it must exist with the
// token's pod UID (a pod deleted and recreated under the same name is
// another pod), its labels must match the selector, and it tells the node
// when the review did not.
func checkLivePod(ctx context.Context, a *attempt, p *podBindings) error {
	id := &a.reviewed
	client := a.state.kube
	pod, err := client.Pod(ctx, a.rawJWT, id.namespace, id.podName)
	if err != nil {
		if kube.Status(err) == http.StatusNotFound {
			return refuse(reasonPodNotBound, "pod %s/%s no longer exists", id.namespace, id.podName)
		}
		return credentialFault(client, err, "get on pods")
	}
	if string(pod.UID) != id.podUID {
		return refuse(reasonPodNotBound, "pod %s/%s has UID %q, but the token is bound to UID %q (the pod was recreated)",
			id.namespace, id.podName, pod.UID, id.podUID)
	}
	if p.PodLabelSelector != "" {
		sel, err := p.podSelectorParsed()
		if err != nil {
			return fmt.Errorf("stored role is invalid: %w", err)
		}
		if !sel.Matches(labels.Set(pod.Labels)) {
			return refuse(reasonPodNotBound, "the labels of pod %s/%s do not match bound_pod_label_selector %q", id.namespace, id.podName, sel.String())
		}
	}
	if id.nodeName == "" {
		id.nodeName = pod.Spec.NodeName
	}
	return nil
}

// addPodMetadata puts the pod's identity into a token's metadata, for a
// role that uses the pod fields: Vault's audit log then shows which pod
// used a secret. The entity alias stays per service account.
func addPodMetadata(md map[string]string, id *reviewedIdentity) {
	if id.podName != "" {
		md[metaPodName] = id.podName
		md[metaPodUID] = id.podUID
	}
	if id.nodeName != "" {
		md[metaNodeName] = id.nodeName
	}
}

// passedPod is explain's sentence for a pod step that let the login go on.
func passedPod(a *attempt) (outcome, detail string) {
	p, id := &a.role.podBindings, &a.reviewed
	if !p.bindsPod() {
		return outcomeSkipped, "the role has no bound_pod_names, bound_node_names or bound_pod_label_selector"
	}
	var parts []string
	if len(p.PodNames) > 0 {
		parts = append(parts, fmt.Sprintf("pod %q is in bound_pod_names %q", id.podName, p.PodNames))
	}
	if p.PodLabelSelector != "" {
		parts = append(parts, fmt.Sprintf("pod %s/%s exists with the token's UID %s and its live labels match bound_pod_label_selector",
			id.namespace, id.podName, id.podUID))
	}
	if len(p.NodeNames) > 0 {
		parts = append(parts, fmt.Sprintf("its node %q is in bound_node_names %q", id.nodeName, p.NodeNames))
	}
	return outcomePassed, strings.Join(parts, "; ")
}
