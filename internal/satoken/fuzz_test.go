package satoken

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// Fuzz targets for the parsers of untrusted and stored input: the login
// JWT and its claims, pem_keys, CA bundles, a TokenReview's username.
// Seeds: the f.Add calls below, and testdata/fuzz/<Target>/ (tokens, keys
// and CAs minted by a real kube-apiserver with scripts/fuzz-seeds.sh, plus
// every crasher found).

// FuzzParseToken: any string is either a parsed token or a 400/403, never a
// panic, and the claims of a parsed one are safe to check.
func FuzzParseToken(f *testing.F) {
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0." + testkit.B64(`{"sub":"x"}`) + ".")
	f.Add(testkit.B64(`{"alg":"RS256"}`) + "." + testkit.B64(`{"kubernetes.io":{"namespace":"a/b"}}`) + ".c2ln")
	f.Add(testkit.B64(`{"alg":"RS256"}`) + "." + testkit.B64(`{"exp":"soon","aud":7}`) + ".c2ln")
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := Parse(raw)
		if err != nil {
			requireLoginError(t, err)
			return
		}
		_ = CheckTimes(&tok.Claims.Claims, time.Now())
		if sa, err := IdentityFromClaims(&tok.Claims); err != nil {
			requireLoginError(t, err)
		} else if sa.Namespace == "" || sa.Name == "" || sa.UID == "" {
			t.Fatalf("identity accepted with an empty part: %+v", sa)
		}
	})
}

// FuzzSignedClaims signs arbitrary payload bytes with a key the backend
// trusts: whatever the payload holds, a correct signature is never reported
// as a bad one (decode problems are claims problems).
func FuzzSignedClaims(f *testing.F) {
	key := testkit.PrivateKey(f, "ec-signer.key")
	keys, err := ParsePEMKeys([]string{testkit.Testdata(f, "ec-signer.pub")}, Strict)
	if err != nil {
		f.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"sub":"system:serviceaccount:apps:web","kubernetes.io":{"namespace":"apps","serviceaccount":{"name":"web","uid":"u"}}}`))
	f.Add([]byte(`{"kubernetes.io":{"namespace":"apps","namespace":"other"}}`))
	f.Add([]byte(`{"a":1,"a":2}`))
	// Duplicate keys in a nested object the claims struct does not decode.
	f.Add([]byte(`{"sub":"system:serviceaccount:apps:web","x":{"y":1,"y":2}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"exp":1e400}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		jws, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := jws.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		tok, err := Parse(raw)
		if err != nil {
			requireLoginError(t, err)
			return
		}
		if err := VerifySignature(tok.JWS, keys); err != nil {
			var ref *refusal.Refusal
			if errors.As(err, &ref) && ref.Reason == refusal.ReasonSignature {
				t.Fatalf("a correctly signed token was refused as %s: %v", refusal.ReasonSignature, err)
			}
			requireLoginError(t, err)
		}
	})
}

// FuzzPEMKeys: a pem_keys entry gives exactly one RSA or ECDSA key or an
// error, in both modes; whatever a write accepts, stored data reads as the
// same key (a config this plugin wrote never becomes unusable).
func FuzzPEMKeys(f *testing.F) {
	for _, name := range []string{"signer.pub", "signer-pkcs1.pub", "signer.crt", "ec-signer.pub", "ed25519.pub"} {
		f.Add(testkit.Testdata(f, name))
	}
	f.Add(testkit.Testdata(f, "signer.pub") + testkit.Testdata(f, "other.pub"))
	f.Add(testkit.Testdata(f, "signer.pub") + "trailing text\n")
	f.Add("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n")
	f.Fuzz(func(t *testing.T, entry string) {
		strict, strictErr := ParsePEMKeys([]string{entry}, Strict)
		stored, storedErr := ParsePEMKeys([]string{entry}, Stored)
		if strictErr == nil && len(strict) != 1 || storedErr == nil && len(stored) != 1 {
			t.Fatalf("one entry gave %d keys (write) and %d (stored)", len(strict), len(stored))
		}
		if strictErr == nil && (storedErr != nil || !reflect.DeepEqual(strict, stored)) {
			t.Fatalf("a key accepted on write reads differently from storage: %v", storedErr)
		}
	})
}

// FuzzCABundle: a CA bundle gives at least one certificate or an error, in
// both modes; what a write accepts, stored data trusts alike.
func FuzzCABundle(f *testing.F) {
	f.Add(testkit.Testdata(f, "signer.crt"))
	f.Add(testkit.Testdata(f, "signer.crt") + testkit.Testdata(f, "signer.crt"))
	f.Add(testkit.Testdata(f, "signer.crt") + "# trailing comment\n")
	f.Add(testkit.Testdata(f, "signer.pub"))
	f.Add("")
	f.Fuzz(func(t *testing.T, bundle string) {
		strict, strictErr := ParseCABundle(bundle, Strict)
		stored, storedErr := ParseCABundle(bundle, Stored)
		if strictErr == nil && len(strict) == 0 || storedErr == nil && len(stored) == 0 {
			t.Fatal("a bundle without certificates was accepted")
		}
		if strictErr == nil && (storedErr != nil || len(stored) != len(strict)) {
			t.Fatalf("a bundle accepted on write reads differently from storage: %d vs %d certificates, %v", len(strict), len(stored), storedErr)
		}
	})
}

// FuzzServiceAccountUsername: only system:serviceaccount:<ns>:<name> is a
// service account, and the parts put back together give the input.
func FuzzServiceAccountUsername(f *testing.F) {
	f.Add("system:serviceaccount:apps:web")
	f.Add("system:serviceaccount:apps:web:extra")
	f.Add("system:node:n1")
	f.Add("system:serviceaccount::")
	f.Fuzz(func(t *testing.T, username string) {
		ns, name, ok := ParseUsername(username)
		if ok && "system:serviceaccount:"+ns+":"+name != username {
			t.Fatalf("%q split into %q and %q", username, ns, name)
		}
	})
}

// requireLoginError fails unless err is one of the two answers a caller may
// get for a bad token: a 400 naming the field, or a refusal (403).
func requireLoginError(t *testing.T, err error) {
	t.Helper()
	var ref *refusal.Refusal
	var bad *refusal.InputError
	if !errors.As(err, &ref) && !errors.As(err, &bad) {
		t.Fatalf("want a refusal or an input error, got %T: %v", err, err)
	}
}
