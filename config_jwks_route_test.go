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

// jwks_url on any address of kubernetes_hosts is the API server's origin:
// read with the reviewer credential, through the failover.
func TestJWKSURLOnAnotherAddress(t *testing.T) {
	e := newTestEnv(t)
	second := newFakeKube(t, e.signer.Public())
	second.setReviewerToken(testReviewer)
	e.writeConfig(map[string]any{
		"kubernetes_host":  nil,
		"kubernetes_hosts": []string{e.kube.srv.URL, second.srv.URL},
		"issuer":           testkit.Issuer,
		"jwks_url":         second.srv.URL + "/openid/v1/jwks",
	})
	e.writeRole(testRole, localRole("5m"))
	e.mustLogin(testRole, e.boundToken(time.Now(), nil))
	// The failover sends the read to the first address in turn, with the
	// reviewer JWT (the fake refuses a read without it).
	if e.kube.jwksGets.Load()+second.jwksGets.Load() == 0 {
		t.Fatal("the key set was not read from the API server")
	}
	e.requireReviews(0, "local mode")
}

// A jwks_url on another origin is read through kubernetes_proxy_url, the
// way this Vault reaches the cluster's network, still without a credential.
func TestJWKSURLThroughProxy(t *testing.T) {
	e := newTestEnv(t)
	keys := newKeyServer(t, e.kube)
	proxy := newConnectProxy(t, "", "")
	e.writeConfig(map[string]any{
		"kubernetes_ca_cert":   e.kube.caPEM + keys.caPEM,
		"issuer":               testkit.Issuer,
		"jwks_url":             keys.url,
		"kubernetes_proxy_url": proxy.url("", ""),
	})
	e.writeRole(testRole, localRole("5m"))
	e.mustLogin(testRole, e.boundToken(time.Now(), nil))
	if proxy.tunnels.Load() == 0 {
		t.Fatal("the key set on another origin was not read through the proxy")
	}
	if got := keys.credentials(); len(got) > 0 {
		t.Fatalf("the key server got %q", got)
	}
}
