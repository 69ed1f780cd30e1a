package kubeauth

import (
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

// A kubernetes_host without TLS is accepted with a warning, on config and
// on cluster/<name>, in the words config/check uses; a host reached over
// TLS gets none.
func TestConfigWritePlainHTTPWarning(t *testing.T) {
	for _, tc := range []struct {
		host  string
		plain bool
	}{
		{"http://10.0.0.1:6443", true},
		{"HTTP://kube.example", true},
		{"http://kube.example/", true},
		{"https://10.0.0.1:6443", false},
		{"kube.example:6443", false}, // no scheme means https
		{"10.0.0.1", false},
	} {
		for _, path := range []string{"config", "cluster/east"} {
			t.Run(path+"/"+tc.host, func(t *testing.T) {
				e := newTestEnv(t)
				if path != "config" {
					e.writeConfig(nil)
				}
				data := e.configData()
				data["kubernetes_host"] = tc.host
				resp := e.mustDo(logical.UpdateOperation, path, data)
				var warned []string
				if resp != nil {
					for _, w := range resp.Warnings {
						if strings.Contains(w, "plain HTTP") {
							warned = append(warned, w)
						}
					}
				}
				switch {
				case tc.plain && len(warned) != 1:
					t.Fatalf("want one plain-HTTP warning, got %#v", resp)
				case tc.plain && (!strings.Contains(warned[0], "cross the network unencrypted") || !strings.Contains(warned[0], "https://")):
					t.Errorf("warning %q does not say what config/check says", warned[0])
				case !tc.plain && len(warned) != 0:
					t.Errorf("unexpected warnings %v", warned)
				}
			})
		}
	}
}
