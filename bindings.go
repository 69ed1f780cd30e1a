package kubeauth

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	glob "github.com/ryanuber/go-glob"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
)

// matchesAny reports whether value matches one of the glob patterns
// ("*" matches any run of characters, anywhere in the pattern).
func matchesAny(patterns []string, value string) bool {
	for _, p := range patterns {
		if glob.Glob(p, value) {
			return true
		}
	}
	return false
}

// validateBindingList checks one bound_* list: no empty entries, and a lone
// "*" rather than "*" mixed with names (which would be meaningless).
func validateBindingList(field string, patterns []string) error {
	for i, p := range patterns {
		if strings.TrimSpace(p) == "" {
			return fmt.Errorf("%s: entry %d is empty", field, i)
		}
	}
	if len(patterns) > 1 && slices.Contains(patterns, "*") {
		return fmt.Errorf("%s: \"*\" cannot be combined with other values", field)
	}
	return nil
}

// parseNamespaceSelector parses bound_service_account_namespace_selector, a
// Kubernetes LabelSelector in JSON or YAML. Unknown fields are an error, so a
// typo such as "matchLabel" cannot silently match every namespace.
func parseNamespaceSelector(s string) (labels.Selector, error) {
	return parseLabelSelector("bound_service_account_namespace_selector", s)
}

// parseLabelSelector parses the selector field, a Kubernetes LabelSelector
// in JSON or YAML, refusing unknown fields.
func parseLabelSelector(field, s string) (labels.Selector, error) {
	var ls metav1.LabelSelector
	if err := yaml.UnmarshalStrict([]byte(s), &ls); err != nil {
		return nil, fmt.Errorf("%s: not a LabelSelector in JSON or YAML: %w", field, err)
	}
	sel, err := metav1.LabelSelectorAsSelector(&ls)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return sel, nil
}

// maxNamespaceSelectorBytes caps bound_service_account_namespace_selector on
// write. Real selectors are a few hundred bytes; the cap keeps a role from
// carrying a document that costs real CPU to parse each time it is loaded.
const maxNamespaceSelectorBytes = 4 << 10

// validateNamespaceSelectorWrite checks a selector a role write sends: within
// the size cap, a LabelSelector, and not one that selects every namespace
// ({}, null, only a comment), which is bound_service_account_namespaces=*
// said in a way that is easy to write by mistake.
func validateNamespaceSelectorWrite(s string) error {
	if len(s) > maxNamespaceSelectorBytes {
		return fmt.Errorf("bound_service_account_namespace_selector: is %d bytes; the limit is %d bytes (4 KiB)", len(s), maxNamespaceSelectorBytes)
	}
	sel, err := parseNamespaceSelector(s)
	if err != nil {
		return err
	}
	if sel.Empty() {
		return errors.New("bound_service_account_namespace_selector: selects every namespace; " +
			"to bind all namespaces say so with bound_service_account_namespaces=*, " +
			"or give matchLabels or matchExpressions")
	}
	return nil
}

// checkServiceAccountName applies bound_service_account_names.
func checkServiceAccountName(r *roleEntry, name string) error {
	if !matchesAny(r.ServiceAccountNames, name) {
		return refusal.New(refusal.ReasonName, "service account %q is not in bound_service_account_names %q", name, r.ServiceAccountNames)
	}
	return nil
}

// namespaceBoundByGlob applies bound_service_account_namespaces alone; a
// namespace it does not bind may still be bound by the selector.
func namespaceBoundByGlob(r *roleEntry, namespace string) bool {
	return matchesAny(r.ServiceAccountNamespaces, namespace)
}

// selector is the role's namespace selector as parsed when the role was
// loaded (loadRole), so that logins through the role cache do not parse it
// again. A role built any other way is parsed here, each time. A role
// without a selector binds no namespace through it.
func (r *roleEntry) selector() (labels.Selector, error) {
	switch {
	case r.ServiceAccountNamespaceSelector == "":
		return labels.Nothing(), nil
	case r.namespaceSelector != nil || r.namespaceSelectorErr != nil:
		return r.namespaceSelector, r.namespaceSelectorErr
	}
	return parseNamespaceSelector(r.ServiceAccountNamespaceSelector)
}

// parseSelector fills in the parsed selector from the stored string. A
// stored selector that does not parse is remembered as an error rather than
// failing the load: the role can still be read, fixed or deleted, and logins
// it binds by name and namespace globs alone still work.
func (r *roleEntry) parseSelector() {
	r.namespaceSelector, r.namespaceSelectorErr = nil, nil
	if r.ServiceAccountNamespaceSelector == "" {
		return
	}
	r.namespaceSelector, r.namespaceSelectorErr = parseNamespaceSelector(r.ServiceAccountNamespaceSelector)
}
