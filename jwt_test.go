package kubeauth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func TestParseTokenAlgorithms(t *testing.T) {
	claims := tokenClaims(testNamespace, testSAName, testSAUID, "vault")
	rsaKey, ecKey := privateKey(t, "signer.key"), privateKey(t, "ec-signer.key")
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS512} {
		if _, err := parseToken(signJWT(t, rsaKey, alg, claims)); err != nil {
			t.Errorf("%s: %v", alg, err)
		}
	}
	if _, err := parseToken(signJWT(t, ecKey, jose.ES256, claims)); err != nil {
		t.Errorf("ES256: %v", err)
	}
	var ref *refusal
	if _, err := parseToken(hmacToken(t)); !errors.As(err, &ref) || ref.reason != reasonAlgorithm {
		t.Errorf("HS256 not refused: %v", err)
	}
	var bad *inputError
	if _, err := parseToken("not.a-jwt"); !errors.As(err, &bad) {
		t.Errorf("garbage is not bad input: %v", err)
	}
}

func TestVerifySignature(t *testing.T) {
	claims := tokenClaims(testNamespace, testSAName, testSAUID, "vault")
	keys, err := parsePEMKeys([]string{readTestdata(t, "other.pub"), readTestdata(t, "ec-signer.pub"), readTestdata(t, "signer.crt")}, parseStrict)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		key  string
		alg  jose.SignatureAlgorithm
		ok   bool
	}{
		{"rsa key via certificate", "signer.key", jose.RS256, true},
		{"ec key", "ec-signer.key", jose.ES256, true},
		{"key not configured", "ed25519.key", jose.EdDSA, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := signJWT(t, privateKey(t, tc.key), tc.alg, claims)
			tok, err := jwt.ParseSigned(raw, append(allowedAlgorithms, jose.EdDSA))
			if err != nil {
				t.Fatal(err)
			}
			err = verifySignature(tok, keys)
			if (err == nil) != tc.ok {
				t.Fatalf("verify: %v, want ok=%v", err, tc.ok)
			}
		})
	}
	// Without keys the TokenReview alone decides.
	tok, _ := jwt.ParseSigned(signJWT(t, privateKey(t, "other.key"), jose.RS256, claims), allowedAlgorithms)
	if err := verifySignature(tok, nil); err != nil {
		t.Fatal(err)
	}
}

func TestCheckTimes(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	at := func(d time.Duration) *jwt.NumericDate { return jwt.NewNumericDate(now.Add(d)) }
	cases := []struct {
		name   string
		claims jwt.Claims
		reason string
	}{
		{"valid", jwt.Claims{Expiry: at(time.Minute), NotBefore: at(-time.Minute), IssuedAt: at(-time.Minute)}, ""},
		{"no exp (legacy)", jwt.Claims{}, ""},
		{"expired within skew", jwt.Claims{Expiry: at(-30 * time.Second)}, ""},
		{"expired", jwt.Claims{Expiry: at(-61 * time.Second)}, reasonExpired},
		{"nbf within skew", jwt.Claims{NotBefore: at(30 * time.Second)}, ""},
		{"not yet valid", jwt.Claims{NotBefore: at(2 * time.Minute)}, reasonNotYetValid},
		{"issued in the future", jwt.Claims{IssuedAt: at(2 * time.Minute)}, reasonNotYetValid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := checkTimes(&tc.claims, now)
			var ref *refusal
			switch {
			case tc.reason == "" && err != nil:
				t.Fatal(err)
			case tc.reason != "" && (!errors.As(err, &ref) || ref.reason != tc.reason):
				t.Fatalf("got %v, want %s", err, tc.reason)
			}
		})
	}
}

func TestServiceAccountFromClaims(t *testing.T) {
	projected := serviceAccountClaims{Kubernetes: &projectedClaims{
		Namespace: "apps", ServiceAccount: objectRef{Name: "web", UID: "u1"}, Pod: &objectRef{Name: "web-0", UID: "p1"},
	}}
	sa, err := serviceAccountFromClaims(&projected)
	if err != nil || sa != (serviceAccount{namespace: "apps", name: "web", uid: "u1", podName: "web-0", podUID: "p1"}) {
		t.Fatalf("projected: %+v %v", sa, err)
	}
	legacy := serviceAccountClaims{LegacyNamespace: "apps", LegacyName: "web", LegacyUID: "u1", LegacySecretName: "web-token"}
	legacy.Subject = "system:serviceaccount:apps:web"
	sa, err = serviceAccountFromClaims(&legacy)
	if err != nil || sa.secretName != "web-token" || sa.uid != "u1" {
		t.Fatalf("legacy: %+v %v", sa, err)
	}
	legacy.Subject = "system:serviceaccount:apps:admin"
	if _, err := serviceAccountFromClaims(&legacy); err == nil || !strings.Contains(err.Error(), "subject") {
		t.Fatalf("subject mismatch accepted: %v", err)
	}
}

func TestCheckIssuerAndAudience(t *testing.T) {
	if err := checkIssuer("a", ""); err != nil {
		t.Error("issuer checked while disabled")
	}
	if err := checkIssuer("a", "b"); err == nil {
		t.Error("wrong issuer accepted")
	}
	if err := checkAudienceClaim(jwt.Audience{"x", "vault"}, "vault"); err != nil {
		t.Error(err)
	}
	if err := checkAudienceClaim(jwt.Audience{"x"}, "vault"); err == nil {
		t.Error("wrong audience accepted")
	}
	if err := checkAudienceClaim(nil, ""); err != nil {
		t.Error("audience checked without a role audience")
	}
}
