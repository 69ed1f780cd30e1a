package realstack

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
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
	caKey, caDER, err := newCA(caName)
	if err != nil {
		return nil, nil, nil, err
	}
	certPEM, keyPEM, err = newLeaf(caKey, caDER, &x509.Certificate{
		Subject:     pkix.Name{CommonName: serverName},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default.svc"},
	})
	return pemCert(caDER), certPEM, keyPEM, err
}

// NewClientCert makes a client CA and a client certificate signed by it for
// the user name in the groups, all PEM: with the group system:masters, what
// an API server that trusts the CA (--client-ca-file) takes as its admin.
func NewClientCert(caName, user string, groups ...string) (caPEM, certPEM, keyPEM []byte, err error) {
	caKey, caDER, err := newCA(caName)
	if err != nil {
		return nil, nil, nil, err
	}
	certPEM, keyPEM, err = newLeaf(caKey, caDER, &x509.Certificate{
		Subject:     pkix.Name{CommonName: user, Organization: groups},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return pemCert(caDER), certPEM, keyPEM, err
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

func newCA(name string) (*ecdsa.PrivateKey, []byte, error) {
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
	return key, der, err
}

// newLeaf signs tmpl (subject, usages, names) with the CA, for a fresh key.
func newLeaf(caKey *ecdsa.PrivateKey, caDER []byte, tmpl *x509.Certificate) (certPEM, keyPEM []byte, err error) {
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, err
	}
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
