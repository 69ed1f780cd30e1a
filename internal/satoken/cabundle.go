package satoken

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// ParseCABundle parses a PEM bundle of CA certificates.
//
// A write (Strict) must be certificates only, each usable, so a
// bundle never quietly trusts less than it shows; the error says which
// block to fix. Stored data (Stored) yields exactly the certificates
// Vault's built-in method trusts from the same text (those Go's
// CertPool.AppendCertsFromPEM adds: CERTIFICATE blocks without headers that
// parse), skipping other blocks and surrounding text; it fails only when
// none is left, where Vault's method would fail every TLS handshake.
func ParseCABundle(bundle string, mode Mode) ([]*x509.Certificate, error) {
	rest := []byte(bundle)
	var certs []*x509.Certificate
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		cert, err := caCertFromBlock(block)
		if err != nil {
			if mode == Strict {
				return nil, fmt.Errorf("PEM block %d %w", n, err)
			}
			continue
		}
		certs = append(certs, cert)
	}
	switch {
	case mode == Strict && len(certs) == 0:
		return nil, errors.New("holds no PEM certificate; send the CA certificates as -----BEGIN CERTIFICATE----- blocks")
	case mode == Strict && len(bytes.TrimSpace(rest)) > 0:
		return nil, errors.New("has text after its last PEM block (a certificate cut short?); remove it")
	case len(certs) == 0:
		return nil, errors.New("holds no usable CERTIFICATE block")
	}
	return certs, nil
}

// caCertFromBlock is the certificate of one bundle block, or why it is not
// one; the error reads after "PEM block N".
func caCertFromBlock(block *pem.Block) (*x509.Certificate, error) {
	if block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("is a %q, not a CERTIFICATE; remove it", block.Type)
	}
	if len(block.Headers) != 0 {
		// TLS clients skip a certificate block with headers altogether.
		return nil, errors.New("has PEM headers, so the certificate would be ignored; remove the header lines")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("is not a valid certificate: %w", err)
	}
	return cert, nil
}

// EncodeCertificates is certs as a PEM bundle.
func EncodeCertificates(certs []*x509.Certificate) string {
	var b strings.Builder
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.String()
}
