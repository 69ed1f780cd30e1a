package testkit

import (
	"crypto"
	"encoding/base64"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Claims are the claims of a projected service-account token, as a map so
// that tests can remove or alter any of them.
func Claims(namespace, name, uid string, audience ...string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": Issuer,
		"sub": "system:serviceaccount:" + namespace + ":" + name,
		"aud": audience,
		"exp": now.Add(time.Hour).Unix(),
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"kubernetes.io": map[string]any{
			"namespace":      namespace,
			"serviceaccount": map[string]any{"name": name, "uid": uid},
		},
	}
}

// LegacyClaims are the claims of a Secret-based service-account token.
func LegacyClaims(namespace, name, uid, secret string) map[string]any {
	return map[string]any{
		"iss":                                    "kubernetes/serviceaccount",
		"sub":                                    "system:serviceaccount:" + namespace + ":" + name,
		"kubernetes.io/serviceaccount/namespace": namespace,
		"kubernetes.io/serviceaccount/service-account.name": name,
		"kubernetes.io/serviceaccount/service-account.uid":  uid,
		"kubernetes.io/serviceaccount/secret.name":          secret,
	}
}

// SignJWT signs claims with key and alg, without a kid.
func SignJWT(t testing.TB, key crypto.Signer, alg jose.SignatureAlgorithm, claims map[string]any) string {
	t.Helper()
	return sign(t, jose.SigningKey{Algorithm: alg, Key: key}, claims)
}

// SignJWTWithKid signs claims (RS256) with a kid header, as the API server does.
func SignJWTWithKid(t testing.TB, key crypto.Signer, kid string, claims map[string]any) string {
	t.Helper()
	return sign(t, jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, claims)
}

func sign(t testing.TB, key jose.SigningKey, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// HMACToken is a well-formed token for the default service account signed
// with a shared secret (HS256), which no login may accept.
func HMACToken(t testing.TB) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(Claims(Namespace, SAName, SAUID, "vault")).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// B64 is s in unpadded base64url, a JWT segment.
func B64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// SignPayload signs payload bytes exactly as given (RS256), so tests can make
// tokens whose JSON no claims encoder would produce.
func SignPayload(t testing.TB, key any, payload string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := signer.Sign([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sig.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
