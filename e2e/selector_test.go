package e2e

import (
	"encoding/json"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// bound_service_account_namespace_selector is matched against the labels
// the namespace has at login time, read from the apiserver.
func TestLoginNamespaceSelector(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	blue := stk.NewNamespace(t, map[string]string{"e2e-team": "blue", "tier": "prod"})
	red := stk.NewNamespace(t, map[string]string{"e2e-team": "red", "tier": "prod"})
	listed := stk.NewNamespace(t, nil)
	for _, ns := range []string{blue, red, listed} {
		stk.NewServiceAccount(t, ns, "app", nil)
	}
	tokenIn := func(ns string) string {
		return mintToken(t, ns, "app", realstack.TokenOptions{Audiences: []string{"vault"}})
	}

	m.writeRole(t, "json", map[string]any{
		"bound_service_account_names":              "app",
		"bound_service_account_namespace_selector": `{"matchLabels":{"e2e-team":"blue"}}`,
		"audience": "vault",
	})
	// YAML with an expression, plus a namespace bound by name: either may
	// admit a login.
	m.writeRole(t, "yaml", map[string]any{
		"bound_service_account_names":      "app",
		"bound_service_account_namespaces": listed,
		"bound_service_account_namespace_selector": "matchExpressions:\n" +
			"- {key: e2e-team, operator: In, values: [blue, green]}\n" +
			"- {key: tier, operator: Exists}\n",
		"audience": "vault",
	})

	for _, role := range []string{"json", "yaml"} {
		m.mustLogin(t, role, tokenIn(blue))
		realstack.ExpectDenied(t, m.login(t, role, tokenIn(red)))
	}
	realstack.ExpectDenied(t, m.login(t, "json", tokenIn(listed)))
	m.mustLogin(t, "yaml", tokenIn(listed))

	// Relabel red as blue: the next login sees the new labels.
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{"e2e-team": "blue"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stk.Kube.CoreV1().Namespaces().Patch(realstack.KubeCtx(t), red, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("relabelling %s: %v", red, err)
	}
	m.mustLogin(t, "json", tokenIn(red))
}

// With use_annotations_as_alias_metadata, the service account's
// vault.hashicorp.com/alias-metadata-<key> annotations become entity alias
// metadata, next to the service account's own keys.
func TestLoginAnnotationsAsAliasMetadata(t *testing.T) {
	t.Parallel()
	annotations := map[string]string{
		"vault.hashicorp.com/alias-metadata-team": "payments",
		"vault.hashicorp.com/alias-metadata-env":  "prod",
		"example.com/unrelated":                   "not copied",
	}

	t.Run("on", func(t *testing.T) {
		t.Parallel()
		m := newMount(t)
		m.configure(t, map[string]any{"use_annotations_as_alias_metadata": true})
		ns := stk.NewNamespace(t, nil)
		w := realstack.Workload{Namespace: ns, SA: stk.NewServiceAccount(t, ns, "payer", annotations)}
		m.bindRole(t, "payer", w, nil)
		a := m.mustLogin(t, "payer", vaultToken(t, w))

		meta := entityAlias(t, m, a.Str("entity_id")).StringMap("metadata")
		want := map[string]string{
			"team":                      "payments",
			"env":                       "prod",
			"service_account_name":      "payer",
			"service_account_namespace": ns,
			"service_account_uid":       string(w.SA.UID),
		}
		for k, v := range want {
			if meta[k] != v {
				t.Errorf("alias metadata %s = %q, want %q (all: %v)", k, meta[k], v, meta)
			}
		}
		if _, ok := meta["unrelated"]; ok {
			t.Errorf("an annotation without the prefix was copied: %v", meta)
		}
		// The token's own metadata stays the documented five keys.
		if got := a.StringMap("metadata"); len(got) != 5 || got["team"] != "" {
			t.Errorf("token metadata = %v, want only role and service_account_*", got)
		}

		// An annotation may not pose as one of the plugin's own keys.
		forger := stk.NewServiceAccount(t, ns, "forger", map[string]string{
			"vault.hashicorp.com/alias-metadata-service_account_name": "payer",
		})
		m.bindRole(t, "forger", realstack.Workload{Namespace: ns, SA: forger}, nil)
		expectBadRequest(t, m.login(t, "forger", mintToken(t, ns, "forger", realstack.TokenOptions{Audiences: []string{"vault"}})),
			"service_account_name")
	})

	t.Run("off", func(t *testing.T) {
		t.Parallel()
		m := configuredMount(t)
		ns := stk.NewNamespace(t, nil)
		w := realstack.Workload{Namespace: ns, SA: stk.NewServiceAccount(t, ns, "payer", annotations)}
		m.bindRole(t, "payer", w, nil)
		a := m.mustLogin(t, "payer", vaultToken(t, w))
		meta := entityAlias(t, m, a.Str("entity_id")).StringMap("metadata")
		if _, ok := meta["team"]; ok {
			t.Errorf("annotations copied although use_annotations_as_alias_metadata is off: %v", meta)
		}
	})
}
