package kubeauth

import (
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// With a client certificate as the reviewer, a jwks_url on the API
// server's origin is read with the certificate, and one on another origin
// without it; a local role makes no TokenReview either way.
func TestJWKSURLWithClientCertificate(t *testing.T) {
	for _, where := range []string{"same origin", "other origin"} {
		t.Run(where, func(t *testing.T) {
			e := newTestEnv(t)
			certPEM, keyPEM := clientCertPEM(t, "vault-reviewer")
			e.kube.acceptClientCert("vault-reviewer")
			e.kube.setReviewerToken("a-token-the-plugin-does-not-have")
			keys := newKeyServer(t, e.kube)
			url := e.kube.srv.URL + "/openid/v1/jwks"
			if where == "other origin" {
				url = keys.url
			}
			e.writeConfig(map[string]any{
				"token_reviewer_jwt":         "",
				"token_reviewer_client_cert": certPEM,
				"token_reviewer_client_key":  keyPEM,
				"kubernetes_ca_cert":         e.kube.caPEM + keys.caPEM,
				"issuer":                     testkit.Issuer,
				"jwks_url":                   url,
			})
			e.writeRole(testRole, localRole("5m"))
			e.mustLogin(testRole, e.boundToken(time.Now(), nil))
			if got := keys.credentials(); len(got) > 0 {
				t.Fatalf("the key server on another origin got %q", got)
			}
			if where == "same origin" && e.kube.jwksGets.Load() == 0 {
				t.Fatal("the API server's key set was not read")
			}
			e.requireReviews(0, "local mode")
		})
	}
}
