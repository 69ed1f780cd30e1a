package fips

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/fips140"
	"crypto/rsa"
	"crypto/sha256"
	"math/big"
	"strings"
	"testing"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// modulus is an odd number of the given bit length: the rules read only a
// key's size and exponent, so no real key of each shape is needed.
func modulus(bits int) *big.Int {
	n := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
	return n.Or(n, big.NewInt(1))
}

type keyCase struct {
	name string
	key  crypto.PublicKey
	// refused: a fragment of KeyRefusal's answer; "" when the key is allowed.
	refused string
}

func keyCases(t *testing.T) []keyCase {
	signer := testkit.PrivateKey(t, "signer.key").Public().(*rsa.PublicKey)
	ec := testkit.PrivateKey(t, "ec-signer.key").Public().(*ecdsa.PublicKey)
	ed := testkit.PrivateKey(t, "ed25519.key").Public().(ed25519.PublicKey)
	return []keyCase{
		{"RSA 2048 e=65537 (the test signer)", signer, ""},
		{"RSA 4096 e=65537", &rsa.PublicKey{N: modulus(4096), E: 65537}, ""},
		{"RSA 1024", &rsa.PublicKey{N: modulus(1024), E: 65537}, "RSA key of 1024 bits"},
		{"RSA 3071", &rsa.PublicKey{N: modulus(3071), E: 65537}, "odd size (3071 bits)"},
		{"RSA e=3", &rsa.PublicKey{N: modulus(2048), E: 3}, "public exponent 3 "},
		{"RSA e=65536+2", &rsa.PublicKey{N: modulus(2048), E: 65538}, "even public exponent (65538)"},
		{"ECDSA P-256", ec, ""},
		{"Ed25519", ed, ""},
		{"unknown type", struct{}{}, "key of type struct {}"},
	}
}

func TestKeyRefusal(t *testing.T) {
	for _, tc := range keyCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			got := KeyRefusal(tc.key)
			if tc.refused == "" && got != "" || !strings.Contains(got, tc.refused) {
				t.Fatalf("KeyRefusal = %q, want %q", got, tc.refused)
			}
			if err := CheckKey(tc.key, false); err != nil {
				t.Fatalf("not enforced, CheckKey = %v", err)
			}
			err := CheckKey(tc.key, true)
			if (err != nil) != (tc.refused != "") {
				t.Fatalf("enforced, CheckKey = %v, want refused %v", err, tc.refused != "")
			}
			if err != nil && !strings.Contains(err.Error(), "is not allowed in FIPS 140-only mode (GODEBUG=fips140=only)") {
				t.Fatalf("the refusal does not name the setting: %v", err)
			}
		})
	}
}

// Under GODEBUG=fips140=only (make test-fips) the module itself is asked:
// every RSA key KeyRefusal refuses, the module refuses to verify with, and
// every one it allows, the module only finds the (wrong) signature bad.
// Outside that mode there is no module to ask and the test says so.
func TestKeyRefusalAgreesWithTheModule(t *testing.T) {
	if !fips140.Enforced() {
		t.Skip("needs GODEBUG=fips140=only: run by make test-fips")
	}
	digest := sha256.Sum256([]byte("payload"))
	for _, tc := range keyCases(t) {
		pub, ok := tc.key.(*rsa.PublicKey)
		if !ok {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], make([]byte, (pub.N.BitLen()+7)/8))
			if err == nil {
				t.Fatal("a zero signature verified")
			}
			byModule := strings.Contains(err.Error(), "not allowed in FIPS 140-only mode")
			if byModule != (tc.refused != "") {
				t.Fatalf("the module says %q; KeyRefusal says %q", err, KeyRefusal(pub))
			}
		})
	}
}

func TestModeDescribe(t *testing.T) {
	for _, tc := range []struct {
		m    Mode
		want string
	}{
		{Mode{}, "no frozen FIPS 140-3 module (GOFIPS140 not set at build), fips140=off"},
		{Mode{Module: "v1.0.0-c2097c7c", Enabled: true}, "FIPS 140-3 module v1.0.0-c2097c7c (GOFIPS140), fips140=on"},
		{Mode{Module: "v1.0.0-c2097c7c", Enabled: true, Enforced: true}, "FIPS 140-3 module v1.0.0-c2097c7c (GOFIPS140), fips140=only"},
		{Mode{Enabled: true}, "no frozen FIPS 140-3 module (GOFIPS140 not set at build), fips140=on"},
	} {
		if got := tc.m.Describe(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.m, got, tc.want)
		}
	}
}

// Current reads the runtime: the mode the process runs in.
func TestCurrentIsTheRuntime(t *testing.T) {
	m := Current()
	if m.Enabled != fips140.Enabled() || m.Enforced != fips140.Enforced() {
		t.Fatalf("Current() = %+v; the runtime says enabled %v, enforced %v", m, fips140.Enabled(), fips140.Enforced())
	}
}
