package targets

import (
	"strings"
	"testing"
)

func TestClusterConfigs(t *testing.T) {
	config := map[string]any{"kubernetes_host": "https://127.0.0.1:6443", "kubernetes_ca_cert": "CA", "token_reviewer_jwt": "JWT"}
	if got := ClusterConfigs(ByName[PluginAlways], config); len(got) != 0 {
		t.Errorf("one-cluster target: %d extra clusters, want none", len(got))
	}
	got := ClusterConfigs(ByName[PluginAlways10c], config)
	if len(got) != 9 {
		t.Fatalf("%d extra clusters, want 9 (ten with config)", len(got))
	}
	issuers := map[any]bool{}
	for name, body := range got {
		for k, v := range config {
			if body[k] != v {
				t.Errorf("%s: %s = %v, want config's %v", name, k, body[k], v)
			}
		}
		iss, _ := body["issuer"].(string)
		if !strings.HasPrefix(iss, "https://"+name+".") {
			t.Errorf("%s: issuer %q does not name the cluster", name, iss)
		}
		issuers[iss] = true
	}
	if len(issuers) != 9 {
		t.Errorf("%d distinct issuers, want 9", len(issuers))
	}
	if _, ok := config["issuer"]; ok {
		t.Error("clusterConfigs changed config")
	}
}
