package satoken

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

func TestParseTokenAlgorithms(t *testing.T) {
	claims := testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault")
	rsaKey, ecKey := testkit.PrivateKey(t, "signer.key"), testkit.PrivateKey(t, "ec-signer.key")
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS512} {
		if _, err := Parse(testkit.SignJWT(t, rsaKey, alg, claims)); err != nil {
			t.Errorf("%s: %v", alg, err)
		}
	}
	if _, err := Parse(testkit.SignJWT(t, ecKey, jose.ES256, claims)); err != nil {
		t.Errorf("ES256: %v", err)
	}
	var ref *refusal.Refusal
	if _, err := Parse(testkit.HMACToken(t)); !errors.As(err, &ref) || ref.Reason != refusal.ReasonAlgorithm {
		t.Errorf("HS256 not refused: %v", err)
	}
	var bad *refusal.InputError
	if _, err := Parse("not.a-jwt"); !errors.As(err, &bad) {
		t.Errorf("garbage is not bad input: %v", err)
	}
}

func TestVerifySignature(t *testing.T) {
	claims := testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault")
	keys, err := ParsePEMKeys([]string{testkit.Testdata(t, "other.pub"), testkit.Testdata(t, "ec-signer.pub"), testkit.Testdata(t, "signer.crt")}, Strict)
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
			raw := testkit.SignJWT(t, testkit.PrivateKey(t, tc.key), tc.alg, claims)
			tok, err := jose.ParseSignedCompact(raw, append(AllowedAlgorithms, jose.EdDSA))
			if err != nil {
				t.Fatal(err)
			}
			err = VerifySignature(tok, keys)
			if (err == nil) != tc.ok {
				t.Fatalf("verify: %v, want ok=%v", err, tc.ok)
			}
		})
	}
	// Without keys the TokenReview alone decides.
	tok, _ := jose.ParseSignedCompact(testkit.SignJWT(t, testkit.PrivateKey(t, "other.key"), jose.RS256, claims), AllowedAlgorithms)
	if err := VerifySignature(tok, nil); err != nil {
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
		{"expired", jwt.Claims{Expiry: at(-61 * time.Second)}, refusal.ReasonExpired},
		{"nbf within skew", jwt.Claims{NotBefore: at(30 * time.Second)}, ""},
		{"not yet valid", jwt.Claims{NotBefore: at(2 * time.Minute)}, refusal.ReasonNotYetValid},
		{"issued in the future", jwt.Claims{IssuedAt: at(2 * time.Minute)}, refusal.ReasonNotYetValid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckTimes(&tc.claims, now)
			var ref *refusal.Refusal
			switch {
			case tc.reason == "" && err != nil:
				t.Fatal(err)
			case tc.reason != "" && (!errors.As(err, &ref) || ref.Reason != tc.reason):
				t.Fatalf("got %v, want %s", err, tc.reason)
			}
		})
	}
}

func TestServiceAccountFromClaims(t *testing.T) {
	projected := Claims{Kubernetes: &ProjectedClaims{
		Namespace: "apps", ServiceAccount: ObjectRef{Name: "web", UID: "u1"}, Pod: &ObjectRef{Name: "web-0", UID: "p1"},
	}}
	sa, err := IdentityFromClaims(&projected)
	if err != nil || sa != (Identity{Namespace: "apps", Name: "web", UID: "u1", PodName: "web-0", PodUID: "p1"}) {
		t.Fatalf("projected: %+v %v", sa, err)
	}
	legacy := Claims{LegacyNamespace: "apps", LegacyName: "web", LegacyUID: "u1", LegacySecretName: "web-token"}
	legacy.Subject = "system:serviceaccount:apps:web"
	sa, err = IdentityFromClaims(&legacy)
	if err != nil || sa.SecretName != "web-token" || sa.UID != "u1" {
		t.Fatalf("legacy: %+v %v", sa, err)
	}
	legacy.Subject = "system:serviceaccount:apps:admin"
	if _, err := IdentityFromClaims(&legacy); err == nil || !strings.Contains(err.Error(), "subject") {
		t.Fatalf("subject mismatch accepted: %v", err)
	}
}

func TestCheckIssuerAndAudience(t *testing.T) {
	if err := CheckIssuer("a", ""); err != nil {
		t.Error("issuer checked while disabled")
	}
	if err := CheckIssuer("a", "b"); err == nil {
		t.Error("wrong issuer accepted")
	}
	// Any of the role's audiences among the token's passes; none fails.
	cases := []struct {
		token jwt.Audience
		role  []string
		ok    bool
	}{
		{jwt.Audience{"x", "vault"}, []string{"vault"}, true},
		{jwt.Audience{"x"}, []string{"vault"}, false},
		{nil, nil, true},
		{jwt.Audience{"x"}, nil, true},
		{jwt.Audience{"b"}, []string{"a", "b"}, true},
		{jwt.Audience{"c", "a"}, []string{"a", "b"}, true},
		{jwt.Audience{"c"}, []string{"a", "b"}, false},
		{nil, []string{"a", "b"}, false},
	}
	for _, c := range cases {
		if err := CheckAudience(c.token, c.role); (err == nil) != c.ok {
			t.Errorf("CheckAudience(%q, %q) = %v, want ok %v", c.token, c.role, err, c.ok)
		}
	}
}

func TestValidateServiceAccountNames(t *testing.T) {
	cases := []struct {
		namespace, name string
		ok              bool
	}{
		{"apps", "web", true},
		{"kube-system", "system.reader-1", true},
		{"a", "a", true},
		{strings.Repeat("a", 63), strings.Repeat("b", 253), true},
		{strings.Repeat("a", 64), "web", false},
		{"apps", strings.Repeat("b", 254), false},
		{"a/b", "web", false},
		{"apps", "a/b", false},
		{"apps.x", "web", false},
		{"-apps", "web", false},
		{"apps", "web-", false},
		{"Apps", "web", false},
		{"apps", "Web", false},
		{"apps", "..", false},
		{"apps", "web\n", false},
	}
	for _, tc := range cases {
		err := ValidateNames(tc.namespace, tc.name)
		var ref *refusal.Refusal
		switch {
		case tc.ok && err != nil:
			t.Errorf("%q/%q refused: %v", tc.namespace, tc.name, err)
		case !tc.ok && (!errors.As(err, &ref) || ref.Reason != refusal.ReasonClaims):
			t.Errorf("%q/%q: got %v, want a claims_invalid refusal", tc.namespace, tc.name, err)
		}
	}
}

// Decoding problems and signature problems are told apart: a payload that
// is not a JSON object is bad input, a JSON object with a duplicate key is a
// claims refusal, and the signature of either is checked over the raw bytes.
func TestParseTokenClaimsDecoding(t *testing.T) {
	key := testkit.PrivateKey(t, "signer.key")
	keys, err := ParsePEMKeys([]string{testkit.Testdata(t, "signer.pub")}, Strict)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, payload string
		bad           bool   // 400
		reason        string // else a refusal with this reason, or "" for none
	}{
		{"not JSON", "not json", true, ""},
		{"a JSON array", "[1,2]", true, ""},
		{"a JSON string", `"x"`, true, ""},
		{"duplicate nested key", `{"sub":"x","extra":{"a":1,"a":1}}`, false, refusal.ReasonClaims},
		{"duplicate top-level key", `{"sub":"x","sub":"x"}`, false, refusal.ReasonClaims},
		{"claim of the wrong type", `{"exp":"tomorrow"}`, false, refusal.ReasonClaims},
		{"unknown claims", `{"sub":"x","extra":{"a":1,"b":[1,2]}}`, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := testkit.SignPayload(t, key, tc.payload)
			tok, err := Parse(raw)
			var bad *refusal.InputError
			var ref *refusal.Refusal
			switch {
			case tc.bad:
				if !errors.As(err, &bad) {
					t.Fatalf("got %v, want bad input", err)
				}
				return
			case tc.reason != "":
				if !errors.As(err, &ref) || ref.Reason != tc.reason {
					t.Fatalf("got %v, want reason %s", err, tc.reason)
				}
			case err != nil:
				t.Fatalf("parse: %v", err)
			default:
				if err := VerifySignature(tok.JWS, keys); err != nil {
					t.Fatalf("signature: %v", err)
				}
			}
			// Whatever the claims, the signature itself is good.
			sig, err := jose.ParseSignedCompact(raw, AllowedAlgorithms)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifySignature(sig, keys); err != nil {
				t.Fatalf("signature over the raw payload: %v", err)
			}
		})
	}
}
