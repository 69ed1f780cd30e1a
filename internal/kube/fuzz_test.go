package kube

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"net/url"
	"strings"
	"testing"
)

// Fuzz targets for what this package parses: kubernetes_host as a config
// write sends it, and the two documents config/check reads from the API
// server. Seeds: the f.Add calls below; an input that fails a target is
// written to testdata/fuzz/<Target>/ and then fails the plain test run.

// FuzzValidateHost: a host that is accepted is one the client can call
// (an http(s) URL with a host name and nothing that would leak or be
// dropped); a refusal names the field.
func FuzzValidateHost(f *testing.F) {
	for _, s := range []string{"kube.example", "kube.example:6443", "https://[::1]:6443/", "http://127.0.0.1:8080",
		"ftp://kube", "https://:6443", "https://kube?x=1", "https://u:p@kube", "kube:99999", "kube:%zz", "//kube", "https://kube/api/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		if err := ValidateHost(host); err != nil {
			if !strings.HasPrefix(err.Error(), "kubernetes_host: ") {
				t.Fatalf("the error does not name the field: %v", err)
			}
			return
		}
		u, err := url.Parse(NormalizeHost(host))
		if err != nil {
			t.Fatalf("accepted %q, whose URL %q does not parse: %v", host, NormalizeHost(host), err)
		}
		if (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			t.Fatalf("accepted %q as %#v", host, u)
		}
	})
}

// FuzzPublishedKeys: any body is either an error, or public signature keys
// only (what the check compares pem_keys with).
func FuzzPublishedKeys(f *testing.F) {
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","use":"sig","n":"AQAB","e":"AQAB","d":"AQAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}],"keys":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		keys, err := parseJWKS(body)
		if err != nil {
			if keys != nil {
				t.Fatalf("keys returned with error %v", err)
			}
			return
		}
		if len(keys) == 0 {
			t.Fatal("no key and no error")
		}
		for _, k := range keys {
			switch k.Key.(type) {
			case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
			default:
				t.Fatalf("kept a %T", k.Key)
			}
		}
	})
}

// FuzzDiscoveryDocument: any body is either an error or names an issuer.
func FuzzDiscoveryDocument(f *testing.F) {
	f.Add([]byte(`{"issuer":"https://kubernetes.default.svc.cluster.local","jwks_uri":"https://10.0.0.1:6443/openid/v1/jwks"}`))
	f.Add([]byte(`{"issuer":""}`))
	f.Add([]byte(`{"issuer":"a","issuer":"b"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := parseDiscovery(body)
		if err == nil && d.Issuer == "" {
			t.Fatal("accepted a document without an issuer")
		}
	})
}
