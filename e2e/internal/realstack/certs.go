package realstack

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// The certificates and keys the suites issue for the API servers they start
// themselves. Every one is fresh and for loopback only. They live a year:
// config/check warns of a CA that expires within 30 days.
const certLifetime = 365 * 24 * time.Hour

// NewServingCert makes a CA and a serving certificate for 127.0.0.1 and
// localhost signed by it, all PEM.
func NewServingCert(caName, serverName string) (caPEM, certPEM, keyPEM []byte, err error) {
	return NewServingCertFor(caName, serverName, ServingNames{
		IPs:      []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default.svc"},
	})
}

// ServingNames are the names a serving certificate is valid for.
type ServingNames struct {
	IPs      []net.IP
	DNSNames []string
}

// NewServingCertFor makes a CA and a serving certificate for exactly the
// given names signed by it, all PEM: without 127.0.0.1 among them, a client
// dialing the loopback address verifies it only against one of the DNS
// names (a TLS server name).
func NewServingCertFor(caName, serverName string, names ServingNames) (caPEM, certPEM, keyPEM []byte, err error) {
	caKey, ca, err := newCA(caName)
	if err != nil {
		return nil, nil, nil, err
	}
	certPEM, keyPEM, err = newLeaf(caKey, ca, &x509.Certificate{
		Subject:     pkix.Name{CommonName: serverName},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: names.IPs,
		DNSNames:    names.DNSNames,
	})
	return pemCert(ca.Raw), certPEM, keyPEM, err
}

// NewClientCert makes a client CA and a client certificate signed by it for
// the user name in the groups, all PEM: with the group system:masters, what
// an API server that trusts the CA (--client-ca-file) takes as its admin.
func NewClientCert(caName, user string, groups ...string) (caPEM, certPEM, keyPEM []byte, err error) {
	caKey, ca, err := newCA(caName)
	if err != nil {
		return nil, nil, nil, err
	}
	certPEM, keyPEM, err = newLeaf(caKey, ca, clientTemplate(user, groups))
	return pemCert(ca.Raw), certPEM, keyPEM, err
}

// IssueClientCert signs a client certificate for the user name in the
// groups with an existing CA (its certificate and private key, PEM; the key
// PKCS #1, PKCS #8 or SEC 1, as openssl and Go write them): what an API
// server that trusts the CA authenticates as that user.
func IssueClientCert(caCertPEM, caKeyPEM []byte, user string, groups ...string) (certPEM, keyPEM []byte, err error) {
	block, _ := pem.Decode(caCertPEM)
	if block == nil {
		return nil, nil, errors.New("the CA certificate is not PEM")
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("the CA certificate: %w", err)
	}
	caKey, err := parseSigner(caKeyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("the CA key: %w", err)
	}
	return newLeaf(caKey, ca, clientTemplate(user, groups))
}

func clientTemplate(user string, groups []string) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: user, Organization: groups},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

// parseSigner reads a PEM private key of any of the usual encodings.
func parseSigner(keyPEM []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("not PEM")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T cannot sign", k)
	}
	return signer, nil
}

// NewSigningKey makes an RSA key pair for signing service-account tokens:
// the private key as PKCS #1 PEM (what kube-apiserver's
// --service-account-signing-key-file reads) and the public key as PKIX PEM
// (its --service-account-key-file, and a config's pem_keys).
func NewSigningKey() (key *rsa.PrivateKey, keyPEM, pubPEM []byte, err error) {
	key, err = rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, nil, nil, err
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), nil
}

func newCA(name string) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(der)
	return key, ca, err
}

// newLeaf signs tmpl (subject, usages, names) with the CA, for a fresh key.
func newLeaf(caKey crypto.Signer, ca *x509.Certificate, tmpl *x509.Certificate) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl.SerialNumber = serial()
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(certLifetime)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pemCert(der), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err)
	}
	return n
}
