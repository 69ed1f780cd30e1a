package pgp

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gpgvPath is Debian's gpgv, with which an operator checks the signature.
// The tests that need it fail, naming it, when it is missing: a skipped
// signature check is not a passed one.
func gpgvPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("gpgv")
	if err != nil {
		t.Fatal("gpgv is not installed: this test checks the signature as an operator does, with Debian's gpgv " +
			"(apt-get install -y gpgv; apt itself depends on it, so a Debian or Ubuntu machine with apt has it)")
	}
	return p
}

// gpgv runs gpgv with the armored public key as its keyring (gpgv reads
// binary keyrings only) and reports whether it accepted the signature.
func gpgv(t *testing.T, public, sig, data []byte) (bool, string) {
	t.Helper()
	dir := t.TempDir()
	ring, err := Dearmor(public)
	if err != nil {
		t.Fatal(err)
	}
	for name, raw := range map[string][]byte{"key.gpg": ring, "file.sig": sig, "file": data} {
		if err := os.WriteFile(filepath.Join(dir, name), raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(gpgvPath(t), "--keyring", filepath.Join(dir, "key.gpg"), filepath.Join(dir, "file.sig"), filepath.Join(dir, "file"))
	cmd.Env = append(os.Environ(), "GNUPGHOME="+dir)
	out, err := cmd.CombinedOutput()
	return err == nil, string(out)
}

func testKey(t *testing.T, name string) (priv, pub []byte) {
	t.Helper()
	priv, pub, err := NewTestKey(name)
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

// A signature made here is one gpgv and Verify accept for the same bytes
// and refuse for any other bytes or another key: every case of the table
// is held to both, so the two verifiers never disagree.
func TestSignatureAgreesWithGpgv(t *testing.T) {
	priv, pub := testKey(t, "release")
	_, otherPub := testKey(t, "someone else")
	key, err := ReadSigningKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("0123  vault-plugin-auth-kubernetes_0.1.0_linux_amd64.zip\n")
	sig, err := Sign(key, data)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		public  []byte
		data    []byte
		wantErr error
	}{
		{"as signed", pub, data, nil},
		{"a byte changed", pub, bytes.Replace(data, []byte("0123"), []byte("0124"), 1), ErrBadSignature},
		{"a line added", pub, append(bytes.Clone(data), "4567  evil\n"...), ErrBadSignature},
		{"truncated", pub, data[:len(data)-1], ErrBadSignature},
		{"empty", pub, nil, ErrBadSignature},
		{"another key", otherPub, data, ErrUnknownKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := ReadPublicKeys(tc.public)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Verify(keys, tc.data, sig)
			if !errors.Is(err, tc.wantErr) && (err != nil || tc.wantErr != nil) {
				t.Errorf("Verify: %v, want %v", err, tc.wantErr)
			}
			ok, out := gpgv(t, tc.public, sig, tc.data)
			if ok != (tc.wantErr == nil) {
				t.Errorf("gpgv accepted=%v, want %v:\n%s", ok, tc.wantErr == nil, out)
			}
		})
	}
}

// Verify reads the public key armored or binary, and the signature binary
// or armored.
func TestVerifyReadsBothEncodings(t *testing.T) {
	priv, pub := testKey(t, "release")
	key, err := ReadSigningKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("data\n")
	sig, err := Sign(key, data)
	if err != nil {
		t.Fatal(err)
	}
	binPub, err := Dearmor(pub)
	if err != nil {
		t.Fatal(err)
	}
	for _, public := range [][]byte{pub, binPub} {
		keys, err := ReadPublicKeys(public)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(keys, data, sig); err != nil {
			t.Errorf("binary signature: %v", err)
		}
	}
}

// A signing key must be one private key usable without a passphrase.
func TestReadSigningKeyRefuses(t *testing.T) {
	_, pub1 := testKey(t, "one")
	for name, tc := range map[string]struct {
		raw  []byte
		want string
	}{
		"public key": {pub1, "public key only"},
		"not a key":  {[]byte("hello"), "not an armored OpenPGP key"},
		"empty":      {nil, "not an armored OpenPGP key"},
	} {
		if _, err := ReadSigningKey(tc.raw); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, tc.want)
		}
	}
}
