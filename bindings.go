package kubeauth

import (
	"fmt"
	"slices"
	"strings"

	glob "github.com/ryanuber/go-glob"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
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
	var ls metav1.LabelSelector
	if err := yaml.UnmarshalStrict([]byte(s), &ls); err != nil {
		return nil, fmt.Errorf("bound_service_account_namespace_selector: not a LabelSelector in JSON or YAML: %w", err)
	}
	sel, err := metav1.LabelSelectorAsSelector(&ls)
	if err != nil {
		return nil, fmt.Errorf("bound_service_account_namespace_selector: %w", err)
	}
	return sel, nil
}

// checkServiceAccountName applies bound_service_account_names.
func checkServiceAccountName(r *roleEntry, name string) error {
	if !matchesAny(r.ServiceAccountNames, name) {
		return refuse(reasonName, "service account %q is not in bound_service_account_names %q", name, r.ServiceAccountNames)
	}
	return nil
}

// namespaceBoundByGlob applies bound_service_account_namespaces alone; a
// namespace it does not bind may still be bound by the selector.
func namespaceBoundByGlob(r *roleEntry, namespace string) bool {
	return matchesAny(r.ServiceAccountNamespaces, namespace)
}
