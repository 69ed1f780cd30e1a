package clusterkeys

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"

	josejson "github.com/go-jose/go-jose/v4/json"
)

const (
	maxDiscoveryBytes = 64 << 10
	maxIssuerLen      = 2048
)

// parseDiscovery reads the issuer from the API server's OpenID discovery
// document. Only the issuer is used: tokens are checked against it, and the
// keys are fetched from the API server itself (or the jwks_url the operator
// configured), never from the document's jwks_uri, which in a real cluster often names an address that a
// Vault outside the cluster cannot reach (and which, if followed, would let
// whoever controls the document choose where the keys come from).
func parseDiscovery(body []byte) (string, error) {
	if len(body) > maxDiscoveryBytes {
		return "", fmt.Errorf("discovery document is larger than %d bytes", maxDiscoveryBytes)
	}
	// JSON is UTF-8 (RFC 8259); the decoder would quietly turn stray bytes
	// into U+FFFD, changing the issuer instead of refusing it.
	if !utf8.Valid(body) {
		return "", errors.New("discovery document is not valid UTF-8")
	}
	var doc struct {
		Issuer *string `json:"issuer"`
	}
	// Exact member names and no duplicates: a document with two issuers
	// has no single answer.
	if err := josejson.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("discovery document is not a JSON object with a string issuer: %w", err)
	}
	if doc.Issuer == nil {
		return "", errors.New("discovery document has no issuer")
	}
	if err := checkIssuerValue(*doc.Issuer); err != nil {
		return "", fmt.Errorf("discovery document issuer: %w", err)
	}
	return *doc.Issuer, nil
}

// checkIssuerValue refuses issuers no token could sensibly carry. The value
// is compared exactly with each token's iss, so nothing is normalized here.
func checkIssuerValue(iss string) error {
	switch {
	case iss == "":
		return errors.New("is empty")
	case len(iss) > maxIssuerLen:
		return fmt.Errorf("is longer than %d bytes", maxIssuerLen)
	case !utf8.ValidString(iss):
		return errors.New("is not valid UTF-8")
	}
	for _, r := range iss {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return errors.New("holds white space or a control character")
		}
	}
	return nil
}
