package clusterkeys

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Fuzz targets for the two documents read from the API server. Seeds: the
// f.Add calls below and testdata/fuzz/<Target>/ (the kube-apiserver's JWKS
// for its real signing key, in the member order it serves, and its
// discovery document; see testdata/README.md).

// FuzzParseJWKS: any body is either an error with no keys, or a non-empty
// set of RSA (at least minRSABits) and ECDSA public keys under non-empty kids.
func FuzzParseJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","use":"sig","n":"AQAB","e":"AQAB","d":"AQAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":""}],"keys":null}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","x5c":["MIIB"],"n":"AQAB","e":"AQAB"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		keys, notes, err := parseJWKS(body)
		if err != nil {
			if keys != nil {
				t.Fatalf("keys returned with error %v", err)
			}
			return
		}
		if len(keys) == 0 || len(keys) > maxJWKSKeys {
			t.Fatalf("accepted %d keys", len(keys))
		}
		if len(notes) > maxJWKSKeys {
			t.Fatalf("%d notes", len(notes))
		}
		for kid, key := range keys {
			if kid == "" || len(kid) > maxKeyIDLen {
				t.Fatalf("accepted kid %q", kid)
			}
			switch k := key.(type) {
			case *rsa.PublicKey:
				if k.N.BitLen() < minRSABits {
					t.Fatalf("accepted a %d-bit RSA key", k.N.BitLen())
				}
			case *ecdsa.PublicKey:
				if _, err := k.ECDH(); err != nil {
					t.Fatalf("accepted an EC key that is not a valid point: %v", err)
				}
			default:
				t.Fatalf("accepted a %T", key)
			}
		}
	})
}

// FuzzParseDiscovery: any body is either an error or an issuer that a token
// could carry.
func FuzzParseDiscovery(f *testing.F) {
	f.Add([]byte(`{"issuer":""}`))
	f.Add([]byte(`{"issuer":"a","issuer":"b"}`))
	f.Add([]byte(`{"Issuer":"https://x"}`))
	f.Add([]byte(`{"issuer":"https://x\u0000"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		iss, err := parseDiscovery(body)
		if err != nil {
			if iss != "" {
				t.Fatalf("issuer %q returned with error %v", iss, err)
			}
			return
		}
		if err := checkIssuerValue(iss); err != nil {
			t.Fatalf("accepted issuer %q: %v", iss, err)
		}
	})
}

// seedBytes reads the []byte argument of a committed fuzz seed.
func seedBytes(t testing.TB, target, name string) []byte {
	t.Helper()
	text := string(readTestdata(t, filepath.Join("fuzz", target, name)))
	const head = "go test fuzz v1\n[]byte("
	if !strings.HasPrefix(text, head) {
		t.Fatalf("%s/%s is not a []byte seed", target, name)
	}
	lit := strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(text, head)), ")")
	s, err := strconv.Unquote(lit)
	if err != nil {
		t.Fatalf("%s/%s: %v", target, name, err)
	}
	return []byte(s)
}
