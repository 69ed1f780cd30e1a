package testkit

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// The service account most tests log in as, and the issuer of the projected
// tokens they mint (the one the unit tests' fake API server announces).
const (
	Namespace = "apps"
	SAName    = "web"
	SAUID     = "7f3c2a8e-0d7b-4c1e-9a55-3f1f0b6e2d11"
	Issuer    = "https://kubernetes.default.svc.cluster.local"
)

// testdataDir is the repository's testdata/, found from this file's place so
// that every package's tests read the same fixtures.
func testdataDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata")
}

// Testdata is the text of testdata/name.
func Testdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdataDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// PrivateKey loads a PKCS#8 or SEC 1 (EC) private key from testdata.
func PrivateKey(t testing.TB, name string) crypto.Signer {
	t.Helper()
	block, _ := pem.Decode([]byte(Testdata(t, name)))
	if block == nil {
		t.Fatalf("testdata/%s is not PEM", name)
	}
	if block.Type == "EC PRIVATE KEY" {
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(crypto.Signer)
}
