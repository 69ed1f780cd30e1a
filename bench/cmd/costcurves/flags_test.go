package main

import (
	"slices"
	"strings"
	"testing"
)

func TestParseSizes(t *testing.T) {
	got, err := parseSizes("roles", "1, 10,100")
	if err != nil || !slices.Equal(got, []int{1, 10, 100}) {
		t.Fatalf("parseSizes = %v, %v", got, err)
	}
	for _, bad := range []string{"", "5", "10,1", "1,1", "0,10", "1,x"} {
		if got, err := parseSizes("roles", bad); err == nil {
			t.Errorf("parseSizes(%q) = %v, no error", bad, got)
		}
	}
}

func TestParseDimsKeepsTheFixedOrder(t *testing.T) {
	got, err := parseDims("flood, roles,accounts,roles")
	if err != nil || !slices.Equal(got, []string{DimRoles, DimAccounts, DimFlood}) {
		t.Fatalf("parseDims = %v, %v", got, err)
	}
	if _, err := parseDims("roles,pods"); err == nil {
		t.Error("no error for an unknown dimension")
	}
}

func TestParseFlagsNamesWhatIsMissing(t *testing.T) {
	for _, env := range []string{"VAULT_ADDR", "VAULT_TOKEN", "KUBECONFIG", "KUBE_HOST", "KUBE_CA_FILE", "KUBE_SA_SIGNING_KEY", "STACK_DIR", "VAULT_PLUGIN_DIR"} {
		t.Setenv(env, "")
	}
	_, err := parseFlags([]string{"-dims", "flood"})
	if err == nil || !strings.Contains(err.Error(), "-kube-signing-key") || !strings.Contains(err.Error(), "-plugin-bin") {
		t.Fatalf("err = %v, want the missing settings named", err)
	}
}

func TestRepeatTo(t *testing.T) {
	if got := repeatTo([]string{"a", "b"}, 5); !slices.Equal(got, []string{"a", "b", "a", "b", "a"}) {
		t.Fatalf("repeatTo = %v", got)
	}
}
