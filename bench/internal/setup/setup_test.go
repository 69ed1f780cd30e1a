package setup

import (
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

func TestComparableMetadata(t *testing.T) {
	md := map[string]string{"role": "bench", "cluster": "default"}
	ten := targets.ByName[targets.PluginCached10c]

	got, note := comparableMetadata(ten, md)
	if note != "" || len(got) != 1 || got["role"] != "bench" {
		t.Errorf("10c, cluster default: %v %q; want the metadata without cluster, no note", got, note)
	}
	if md["cluster"] != "default" {
		t.Error("comparableMetadata changed its argument")
	}
	for _, bad := range []map[string]string{{"role": "bench"}, {"role": "bench", "cluster": "extra-01"}} {
		if _, note := comparableMetadata(ten, bad); !strings.Contains(note, "want \"default\"") {
			t.Errorf("10c, metadata %v: note %q, want one about the cluster", bad, note)
		}
	}
	// A one-cluster mount's metadata is compared as it is: a "cluster"
	// key there is a difference from the built-in method's.
	if got, note := comparableMetadata(targets.ByName[targets.PluginCached], md); note != "" || len(got) != 2 {
		t.Errorf("one cluster: %v %q, want the metadata unchanged", got, note)
	}
}

// token-create sends a login's policies (without "default", which it adds
// on its own) and metadata, for tokens without a parent unless
// -floor-child asks for child tokens.
func TestFloorBody(t *testing.T) {
	login := &vault.SecretAuth{TokenPolicies: []string{"default", "kubeauth-bench-workload"}, Metadata: map[string]string{"role": "bench"}}
	body := floorBody(login, Floor{})
	if p, _ := body["policies"].([]string); len(p) != 1 || p[0] != "kubeauth-bench-workload" {
		t.Errorf("policies = %v, want the workload policy alone", body["policies"])
	}
	if body["no_parent"] != true || body["type"] != "batch" || body["ttl"] != "1h0m0s" {
		t.Errorf("body = %v, want no_parent, batch, 1h", body)
	}
	if _, ok := floorBody(login, Floor{Child: true})["no_parent"]; ok {
		t.Error("-floor-child still asks for tokens without a parent")
	}
}
