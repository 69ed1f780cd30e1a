package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	corev1 "k8s.io/api/core/v1"
)

// Tokens the apiserver cannot mint on request (already expired, signed with
// another key, unsigned) are written here by hand, with the same claims a
// TokenRequest token carries.

// saClaims are the claims of a projected service-account token.
type saClaims struct {
	jwt.Claims
	Kubernetes kubeClaims `json:"kubernetes.io"`
}

type kubeClaims struct {
	Namespace      string    `json:"namespace"`
	ServiceAccount claimsRef `json:"serviceaccount"`
}

type claimsRef struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// claimsFor describes sa with audience "vault": a token issued ten minutes
// before exp (the shortest a TokenRequest grants) and valid until exp.
func claimsFor(sa *corev1.ServiceAccount, exp time.Time) saClaims {
	issued := exp.Add(-10 * time.Minute)
	return saClaims{
		Claims: jwt.Claims{
			Issuer:    stk.SAIssuer,
			Subject:   "system:serviceaccount:" + sa.Namespace + ":" + sa.Name,
			Audience:  jwt.Audience{"vault"},
			Expiry:    jwt.NewNumericDate(exp),
			IssuedAt:  jwt.NewNumericDate(issued),
			NotBefore: jwt.NewNumericDate(issued),
		},
		Kubernetes: kubeClaims{
			Namespace:      sa.Namespace,
			ServiceAccount: claimsRef{Name: sa.Name, UID: string(sa.UID)},
		},
	}
}

// signRS256 signs claims with key (RS256, as the apiserver does). There is
// no kid header: the apiserver looks a kid up among its own key IDs and
// finds none for a made-up one, whereas without a kid it tries every key.
func signRS256(t *testing.T, key *rsa.PrivateKey, claims any) string {
	t.Helper()
	return signWith(t, jose.SigningKey{Algorithm: jose.RS256, Key: key}, claims)
}

// signHS256 signs claims with HMAC-SHA256 and secret.
func signHS256(t *testing.T, secret []byte, claims any) string {
	t.Helper()
	return signWith(t, jose.SigningKey{Algorithm: jose.HS256, Key: secret}, claims)
}

func signWith(t *testing.T, key jose.SigningKey, claims any) string {
	t.Helper()
	signer, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// unsignedJWT is claims with `alg: none` and an empty signature, the classic
// attempt to skip verification altogether.
func unsignedJWT(t *testing.T, claims any) string {
	t.Helper()
	enc := base64.RawURLEncoding
	header, err := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeToString(header) + "." + enc.EncodeToString(payload) + "."
}

func newRSAKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// privateKeyPEM is a private key in PEM: a plausible mistake for pem_keys.
func privateKeyPEM(t *testing.T) string {
	t.Helper()
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(newRSAKey(t))}))
}
