package kube

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// The check keeps the public signature keys of the cluster's JWKS and
// leaves out what a verifier would ignore; a set with none is an error.
func TestParseJWKS(t *testing.T) {
	signer, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	n := jwkModulus(t, &signer.PublicKey)
	keys, err := parseJWKS([]byte(`{"keys":[
		{"use":"sig","kty":"RSA","kid":"k1","alg":"RS256","n":"` + n + `","e":"AQAB"},
		{"use":"enc","kty":"RSA","kid":"k2","n":"` + n + `","e":"AQAB"},
		{"kty":"oct","kid":"k3","k":"c2VjcmV0"},
		{"kty":"weird","kid":"k4"}]}`))
	if err != nil || len(keys) != 1 || keys[0].KID != "k1" {
		t.Fatalf("keys %+v, err %v; want only k1", keys, err)
	}
	if !signer.PublicKey.Equal(keys[0].Key) {
		t.Fatal("k1 is not the signer's key")
	}
	for _, body := range []string{`not json`, `{"keys":[]}`, `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`} {
		if _, err := parseJWKS([]byte(body)); err == nil {
			t.Errorf("parseJWKS(%s) took it", body)
		}
	}
}

func TestParseDiscovery(t *testing.T) {
	if d, err := parseDiscovery([]byte(`{"issuer":"https://x","jwks_uri":"https://x/openid/v1/jwks"}`)); err != nil || d.Issuer != "https://x" {
		t.Fatalf("parseDiscovery: %+v %v", d, err)
	}
	for _, body := range []string{`[]`, `{"jwks_uri":"https://x"}`} {
		if _, err := parseDiscovery([]byte(body)); err == nil {
			t.Errorf("parseDiscovery(%s) took it", body)
		}
	}
}

// jwkModulus is key's public modulus as a JWK "n".
func jwkModulus(t *testing.T, key *rsa.PublicKey) string {
	t.Helper()
	b, err := jose.JSONWebKey{Key: key}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		N string `json:"n"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m.N
}
