package clusterkeys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/fips140"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func TestParseJWKS(t *testing.T) {
	apiserverKey := pemKey(t, "apiserver-sa.pub").(*rsa.PublicKey)
	rsaPriv := pemKey(t, "rsa.key").(*rsa.PrivateKey)
	otherRSA := pemKey(t, "rsa-other.pub").(*rsa.PublicKey)
	ecPriv := pemKey(t, "ec.key").(*ecdsa.PrivateKey)
	p384 := ecKey(t, elliptic.P384())
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// Only its public half is published; FIPS 140-only mode (make
	// test-fips) refuses to generate a key this small, so it is made
	// outside enforcement.
	var small *rsa.PrivateKey
	fips140.WithoutEnforcement(func() { small, err = rsa.GenerateKey(rand.Reader, 1024) })
	if err != nil {
		t.Fatal(err)
	}
	derived, err := keyID(ecPriv.Public())
	if err != nil {
		t.Fatal(err)
	}

	sig := func(key any, kid string, extra map[string]any) string {
		return jwkJSON(t, jwkOf(key, kid), extra)
	}
	set := func(entries ...string) string { return `{"keys":[` + strings.Join(entries, ",") + `]}` }
	ecSig := sig(ecPriv.Public(), "ec", map[string]any{"alg": "ES256"})

	for _, tc := range []struct {
		name    string
		body    string
		want    map[string]crypto.PublicKey // nil: an error is expected
		wantErr string
		notes   int
	}{
		{
			name: "API server shape",
			body: string(apiserverSeed(t)),
			want: map[string]crypto.PublicKey{"cWhvLxcHQ6ZKhI2gEkPcBNvtlPWd3DngbdEvEoKXS2k": apiserverKey},
		},
		{
			name: "RSA and EC keys",
			body: set(sig(otherRSA, "r", map[string]any{"alg": "PS256"}), ecSig, sig(p384.Public(), "p384", map[string]any{"alg": "ES384"})),
			want: map[string]crypto.PublicKey{"r": otherRSA, "ec": ecPriv.Public(), "p384": p384.Public()},
		},
		{
			name: "no use and verify in key_ops",
			body: set(sig(ecPriv.Public(), "ec", map[string]any{"use": nil, "key_ops": []string{"verify"}})),
			want: map[string]crypto.PublicKey{"ec": ecPriv.Public()},
		},
		{
			name: "missing kid: named as the API server names keys",
			body: set(sig(ecPriv.Public(), "", nil)),
			want: map[string]crypto.PublicKey{derived: ecPriv.Public()},
		},
		{
			name: "the same key twice under one kid",
			body: set(ecSig, ecSig),
			want: map[string]crypto.PublicKey{"ec": ecPriv.Public()},
		},
		{
			name:  "encryption key skipped",
			body:  set(jwkJSON(t, jwkOfPub(otherRSA, "enc", "enc"), nil), ecSig),
			want:  map[string]crypto.PublicKey{"ec": ecPriv.Public()},
			notes: 1,
		},
		{
			name:  "key_ops without verify skipped",
			body:  set(sig(otherRSA, "r", map[string]any{"key_ops": []string{"encrypt"}}), ecSig),
			want:  map[string]crypto.PublicKey{"ec": ecPriv.Public()},
			notes: 1,
		},
		{
			name:  "unsupported key types skipped",
			body:  set(sig(edPub, "ed", nil), `{"kty":"AKP","kid":"pq","alg":"ML-DSA-44","pub":"AAAA"}`, `{"kty":"XYZ","kid":"x"}`, ecSig),
			want:  map[string]crypto.PublicKey{"ec": ecPriv.Public()},
			notes: 3,
		},
		{
			name:  "weak RSA key skipped",
			body:  set(sig(&small.PublicKey, "small", nil), ecSig),
			want:  map[string]crypto.PublicKey{"ec": ecPriv.Public()},
			notes: 1,
		},
		{
			name: "alg that does not fit the key skipped",
			body: set(sig(otherRSA, "r", map[string]any{"alg": "ES256"}), sig(p384.Public(), "p", map[string]any{"alg": "ES256"}),
				sig(ecPriv.Public(), "h", map[string]any{"alg": "HS256"}), ecSig),
			want:  map[string]crypto.PublicKey{"ec": ecPriv.Public()},
			notes: 3,
		},
		{
			name:  "point off the curve skipped",
			body:  set(sig(ecPriv.Public(), "bad", map[string]any{"y": jwkField(t, p384.Public(), "x")}), ecSig),
			want:  map[string]crypto.PublicKey{"ec": ecPriv.Public()},
			notes: 1,
		},
		{
			name:  "overlong kid skipped",
			body:  set(sig(otherRSA, strings.Repeat("k", maxKeyIDLen+1), nil), ecSig),
			want:  map[string]crypto.PublicKey{"ec": ecPriv.Public()},
			notes: 1,
		},
		{name: "RSA private key", body: set(ecSig, sig(rsaPriv, "r", nil)), wantErr: "private key material"},
		{name: "EC private key", body: set(sig(ecPriv, "e", nil)), wantErr: "private key material"},
		{name: "private key marked enc", body: set(jwkJSON(t, jwkOfPub(ecPriv, "e", "enc"), nil), ecSig), wantErr: "private key material"},
		{name: "symmetric key", body: set(`{"kty":"oct","kid":"s","k":"c2VjcmV0"}`, ecSig), wantErr: `member "k"`},
		{name: "two keys under one kid", body: set(ecSig, sig(p384.Public(), "ec", nil)), wantErr: "two different keys"},
		{name: "only skipped keys", body: set(jwkJSON(t, jwkOfPub(otherRSA, "enc", "enc"), nil)), wantErr: "no RSA or ECDSA"},
		{name: "no keys", body: `{"keys":[]}`, wantErr: "no RSA or ECDSA"},
		{name: "no keys member", body: `{}`, wantErr: "no RSA or ECDSA"},
		{name: "keys member in another case", body: `{"Keys":[` + ecSig + `]}`, wantErr: "no RSA or ECDSA"},
		{name: "keys twice", body: `{"keys":[` + ecSig + `],"keys":[]}`, wantErr: "not a JSON Web Key Set"},
		{name: "member twice in a key", body: set(strings.Replace(ecSig, `"kid":"ec"`, `"kid":"ec","kid":"other"`, 1)), wantErr: "not a JSON object"},
		{name: "keys not an array", body: `{"keys":"x"}`, wantErr: "not a JSON Web Key Set"},
		{name: "entry not an object", body: `{"keys":[1]}`, wantErr: "not a JSON object"},
		{name: "kid not a string", body: set(`{"kty":"EC","kid":7}`), wantErr: "malformed member"},
		{name: "array", body: `[]`, wantErr: "not a JSON Web Key Set"},
		{name: "garbage", body: "<html>503</html>", wantErr: "not a JSON Web Key Set"},
		{name: "invalid UTF-8", body: set(strings.Replace(ecSig, `"kid":"ec"`, "\"kid\":\"e\xff\"", 1)), wantErr: "UTF-8"},
		{name: "empty body", body: "", wantErr: "not a JSON Web Key Set"},
		{name: "too many keys", body: set(slices.Repeat([]string{ecSig}, maxJWKSKeys+1)...), wantErr: "more than"},
		{name: "too large", body: set(ecSig) + strings.Repeat(" ", maxJWKSBytes), wantErr: "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, notes, err := parseJWKS([]byte(tc.body))
			if tc.want == nil {
				if err == nil {
					t.Fatalf("parseJWKS accepted %d keys, want an error with %q", len(got), tc.wantErr)
				}
				mustContain(t, err.Error(), tc.wantErr)
				if got != nil {
					t.Fatalf("keys returned with the error: %v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseJWKS: %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got kids %v, want %d keys", describeKeys(got), len(tc.want))
			}
			for kid, want := range tc.want {
				if !sameKey(got[kid], want) {
					t.Fatalf("kid %q: got another key (kids %v)", kid, describeKeys(got))
				}
			}
			if len(notes) != tc.notes {
				t.Fatalf("notes %q, want %d", notes, tc.notes)
			}
		})
	}
}

// The API server names each key by a digest of the key and stamps the name
// in the tokens it signs: a real token's kid names the real signing key, and
// the real token verifies with the key parsed from the set it would serve.
func TestKeyIDAndSignatureMatchTheAPIServer(t *testing.T) {
	pub := pemKey(t, "apiserver-sa.pub")
	tok, err := jose.ParseSignedCompact(strings.TrimSpace(string(readTestdata(t, "apiserver-token.jwt"))), []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	kid := tok.Signatures[0].Header.KeyID
	if got, err := keyID(pub); err != nil || got != kid {
		t.Fatalf("keyID = %q, %v; the API server's token names %q", got, err, kid)
	}
	keys, _, err := parseJWKS(apiserverSeed(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tok.Verify(keys[kid]); err != nil {
		t.Fatalf("the API server's token does not verify with its published key: %v", err)
	}
}

// apiserverSeed is the fuzz seed shaped as the kube-apiserver's JWKS for its
// real signing key.
func apiserverSeed(t testing.TB) []byte {
	t.Helper()
	return seedBytes(t, "FuzzParseJWKS", "apiserver-rsa")
}

// jwkField is one member of a key's JWK form.
func jwkField(t testing.TB, key any, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(jwkJSON(t, jwkOf(key, "x"), nil)), &m); err != nil {
		t.Fatal(err)
	}
	s, ok := m[name].(string)
	if !ok {
		t.Fatalf("no member %q", name)
	}
	return s
}

// In FIPS 140-only mode a key the FIPS 140-3 module refuses is skipped,
// naming the setting; a key unfit in any mode keeps its own reason.
func TestUnusableInFIPSOnlyMode(t *testing.T) {
	rsa2048 := pemKey(t, "apiserver-sa.pub").(*rsa.PublicKey)
	exp3 := &rsa.PublicKey{N: rsa2048.N, E: 3}
	for _, tc := range []struct {
		name     string
		key      crypto.PublicKey
		alg      string
		fipsOnly bool
		want     string
	}{
		{"allowed key, off", rsa2048, "RS256", false, ""},
		{"allowed key, only", rsa2048, "RS256", true, ""},
		{"exponent 3, off", exp3, "RS256", false, ""},
		{"exponent 3, only", exp3, "RS256", true, "public exponent 3 (it must be above 65536) is not allowed in FIPS 140-only mode (GODEBUG=fips140=only)"},
		{"wrong alg, only", exp3, "ES256", true, `alg "ES256" does not fit an RSA key`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := unusableIn(tc.key, tc.alg, tc.fipsOnly)
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Fatalf("unusableIn = %q, want %q", got, tc.want)
			}
		})
	}
}
