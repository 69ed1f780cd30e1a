package e2e

import (
	"net/http"
	"testing"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// tls_server_name with an API server whose serving certificate names only
// kubernetes.internal, dialed as 127.0.0.1: without the field, or with
// another name, the login fails with the generic fault and config/check
// names the certificate problem, and in its fix the field and the name the
// certificate holds; with
// tls_server_name=kubernetes.internal the login passes and config/check
// passes.
func TestTLSServerNameForACertificateThatDoesNotNameTheAddress(t *testing.T) {
	t.Parallel()
	const name = "kubernetes.internal"
	c := startClusterWith(t, realstack.ClusterOptions{Issuer: otherIssuer(t), ServingDNSNames: []string{name}})
	w := c.Mirror(t, stk.NewWorkload(t, "app", nil))
	jwt := clusterToken(t, c, w)
	for _, tc := range []struct {
		serverName string
		pass       bool
	}{
		{"", false},
		{name, true},
		{"other.internal", false},
		{"127.0.0.1", false},
		{"KUBERNETES.internal", true}, // names are not case-sensitive
	} {
		t.Run("tls_server_name="+tc.serverName, func(t *testing.T) {
			m := newMount(t)
			extra := map[string]any{}
			if tc.serverName != "" {
				extra["tls_server_name"] = tc.serverName
			}
			expectOK(t, root(t, http.MethodPost, "auth/"+m.path+"/config", c.ReviewerConfig(extra)))
			m.bindRole(t, "app", w, nil)
			if tc.pass {
				m.mustLogin(t, "app", jwt)
				if a := m.configCheck(t); a.checks["kubernetes_api"].Str("status") != "passed" {
					t.Errorf("config/check: %s", a.reply)
				}
				return
			}
			expectGenericFault(t, m.login(t, "app", jwt))
			expectCheckFails(t, m, "kubernetes_api", []string{"certificate"}, []string{"tls_server_name", name})
		})
	}
}
