package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"
)

func testKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func signedModel(t testing.TB, key *rsa.PrivateKey, exp int64) string {
	t.Helper()
	in, err := signingInput([]byte(`{"alg":"RS256","kid":"k1"}`), map[string]any{"iss": "https://kubernetes.default.svc.cluster.local", "sub": "system:serviceaccount:ns:sa", "exp": exp}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + b64.EncodeToString(sig)
}

func verifies(t *testing.T, jwt string, key *rsa.PrivateKey) bool {
	t.Helper()
	i := strings.LastIndexByte(jwt, '.')
	sig, err := b64.DecodeString(jwt[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte(jwt[:i]))
	return rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, d[:], sig) == nil
}

// Forged tokens keep the model's claims and kid but no longer verify;
// expired ones verify but carry an exp an hour in the past; every one is
// different.
func TestBadTokens(t *testing.T) {
	key := testKey(t)
	now := time.Unix(1_800_000_000, 0)
	model := signedModel(t, key, now.Add(time.Hour).Unix())
	forged, err := forgeTokens(model, 3)
	if err != nil {
		t.Fatal(err)
	}
	expired, err := expireTokens(model, 3, key, now)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, tok := range append(forged, expired...) {
		if seen[tok] {
			t.Fatal("two flood tokens are the same")
		}
		seen[tok] = true
		h, claims, err := splitJWT(tok)
		if err != nil || !strings.Contains(string(h), `"kid":"k1"`) || claims["sub"] != "system:serviceaccount:ns:sa" {
			t.Fatalf("token %q lost the model's header or claims: %v", tok, err)
		}
	}
	for _, f := range forged {
		if verifies(t, f, key) {
			t.Error("a forged token verifies")
		}
	}
	for _, e := range expired {
		_, claims, _ := splitJWT(e)
		if !verifies(t, e, key) || claims["exp"].(float64) >= float64(now.Unix()) {
			t.Errorf("an expired token does not verify or is not expired: %v", claims)
		}
	}
}

func TestParseRSAKey(t *testing.T) {
	key := testKey(t)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, block := range map[string]*pem.Block{
		"pkcs1": {Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)},
		"pkcs8": {Type: "PRIVATE KEY", Bytes: pkcs8},
	} {
		got, err := parseRSAKey(pem.EncodeToMemory(block))
		if err != nil || !got.Equal(key) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := parseRSAKey([]byte("not pem")); err == nil {
		t.Error("no error for a file without PEM")
	}
}

// The model token comes from the API server; still, a malformed one must
// give an error, never a panic or a token.
func FuzzSplitJWT(f *testing.F) {
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")
	f.Add("a.b")
	f.Add("..")
	f.Fuzz(func(t *testing.T, jwt string) {
		if _, claims, err := splitJWT(jwt); err == nil && claims == nil {
			t.Fatal("no error and no claims")
		}
		if toks, err := forgeTokens(jwt, 1); err == nil && len(toks) != 1 {
			t.Fatalf("%d tokens, want 1", len(toks))
		}
	})
}
