package realstack

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"slices"
	"testing"
	"time"
)

func parsePEMCert(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pool(t *testing.T, caPEM []byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA in the PEM")
	}
	return p
}

// A serving certificate for DNS names only verifies for those names and
// not for the loopback address a client dials.
func TestServingCertForNamesOnlyThose(t *testing.T) {
	ca, cert, _, err := NewServingCertFor("test CA", "server", ServingNames{DNSNames: []string{"kubernetes.internal"}})
	if err != nil {
		t.Fatal(err)
	}
	leaf, roots := parsePEMCert(t, cert), pool(t, ca)
	for name, wantOK := range map[string]bool{"kubernetes.internal": true, "127.0.0.1": false, "localhost": false} {
		_, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots})
		if (err == nil) != wantOK {
			t.Errorf("verified for %s: %v, want ok=%v", name, err, wantOK)
		}
	}
}

// A client certificate issued by an existing CA whose key openssl wrote
// (RSA, PKCS #8) chains to it as a client certificate for the user in the
// groups.
func TestIssueClientCertWithAnExistingCA(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "client CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	caPEM := pemCert(der)
	certPEM, keyPEM, err := IssueClientCert(caPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), "reviewer", "team")
	if err != nil {
		t.Fatal(err)
	}
	leaf := parsePEMCert(t, certPEM)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool(t, caPEM), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("the client certificate does not chain to its CA: %v", err)
	}
	if leaf.Subject.CommonName != "reviewer" || !slices.Equal(leaf.Subject.Organization, []string{"team"}) {
		t.Errorf("subject %s", leaf.Subject)
	}
	if _, err := parseSigner(keyPEM); err != nil {
		t.Errorf("its key: %v", err)
	}
	if _, _, err := IssueClientCert(caPEM, []byte("not a key"), "x"); err == nil {
		t.Error("a CA key that is not PEM was taken")
	}
}

func TestFlagValue(t *testing.T) {
	argv := []string{"kube-apiserver", "--secure-port", "6443", "--client-ca-file=/pki/ca.crt", "--last"}
	for _, tc := range []struct {
		name, want string
		ok         bool
	}{
		{"--secure-port", "6443", true},
		{"--client-ca-file", "/pki/ca.crt", true},
		{"--last", "", false},
		{"--cert-dir", "", false},
		{"kube-apiserver", "", false},
	} {
		if got, ok := FlagValue(argv, tc.name); got != tc.want || ok != tc.ok {
			t.Errorf("FlagValue(%s) = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
