package clusterkeys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/fips"
)

// Limits on what the API server may send. A kube-apiserver's JWKS holds one
// entry per service-account verification key (usually one or two, a few
// hundred bytes each), so these leave room for any real cluster and stop a
// broken or hostile endpoint from making the plugin hold megabytes.
const (
	maxJWKSBytes = 256 << 10
	maxJWKSKeys  = 64
	maxKeyIDLen  = 256
	// minRSABits: shorter RSA keys are skipped, as they are too weak to trust
	// for signatures (and Go's verifier refuses the shortest anyway).
	minRSABits = 2048
)

// privateMembers are the JWK members that carry secret material (RFC 7518
// section 6: RSA and EC "d" and the CRT values, "k" of a symmetric key, and
// "priv" of the newer key types). A set that names any of them was published
// by mistake; none of it is used.
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "k", "priv"}

// parseJWKS reads the API server's JSON Web Key Set into the public keys
// usable for checking signatures, by kid. Entries that are well formed but
// not for us (an encryption key, a key type or algorithm we do not verify
// with, a key too weak to trust) are skipped and described in the notes, as
// RFC 7517 section 5 asks; anything that makes the whole document suspect
// (private material, two different keys under one kid, no usable key at
// all) is an error so the caller keeps the keys it had.
func parseJWKS(body []byte) (map[string]crypto.PublicKey, []string, error) {
	if len(body) > maxJWKSBytes {
		return nil, nil, fmt.Errorf("key set is larger than %d bytes", maxJWKSBytes)
	}
	if !utf8.Valid(body) {
		return nil, nil, errors.New("key set is not a JSON Web Key Set: not valid UTF-8")
	}
	// go-jose's JSON decoder matches member names exactly and refuses
	// duplicate members, so the set is read as the verifier would read it.
	var doc struct {
		Keys []josejson.RawMessage `json:"keys"`
	}
	if err := josejson.Unmarshal(body, &doc); err != nil {
		return nil, nil, fmt.Errorf("key set is not a JSON Web Key Set: %w", err)
	}
	if len(doc.Keys) > maxJWKSKeys {
		return nil, nil, fmt.Errorf("key set holds %d keys, more than %d", len(doc.Keys), maxJWKSKeys)
	}
	keys := make(map[string]crypto.PublicKey, len(doc.Keys))
	var notes []string
	for i, raw := range doc.Keys {
		kid, key, skip, err := parseJWK(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("keys[%d]: %w", i, err)
		}
		if skip != "" {
			notes = append(notes, fmt.Sprintf("keys[%d] skipped: %s", i, skip))
			continue
		}
		if prev, ok := keys[kid]; ok {
			if !sameKey(prev, key) {
				return nil, nil, fmt.Errorf("keys[%d]: kid %q names two different keys", i, kid)
			}
			continue
		}
		keys[kid] = key
	}
	if len(keys) == 0 {
		return nil, notes, errors.New("key set holds no RSA or ECDSA signature key")
	}
	return keys, notes, nil
}

// jwkHead holds the members of one entry that decide whether it is used at
// all, read before go-jose parses the key material.
type jwkHead struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	Kid    string   `json:"kid"`
	Alg    string   `json:"alg"`
	KeyOps []string `json:"key_ops"`
}

// parseJWK reads one entry of the set: its kid and public key, or a reason
// to skip it, or an error for an entry that spoils the whole set.
func parseJWK(raw []byte) (kid string, key crypto.PublicKey, skip string, err error) {
	var members map[string]josejson.RawMessage
	if err := josejson.Unmarshal(raw, &members); err != nil {
		return "", nil, "", fmt.Errorf("is not a JSON object: %w", err)
	}
	for _, m := range privateMembers {
		if _, ok := members[m]; ok {
			return "", nil, "", fmt.Errorf("holds private key material (member %q); a published key set must hold public keys only", m)
		}
	}
	var head jwkHead
	if err := josejson.Unmarshal(raw, &head); err != nil {
		return "", nil, "", fmt.Errorf("has a malformed member: %w", err)
	}
	if head.Kty != "RSA" && head.Kty != "EC" {
		return "", nil, fmt.Sprintf("key type %q is not RSA or EC", head.Kty), nil
	}
	if head.Use != "" && head.Use != "sig" {
		return "", nil, fmt.Sprintf("use %q is not sig", head.Use), nil
	}
	if head.KeyOps != nil && !slices.Contains(head.KeyOps, "verify") {
		return "", nil, "key_ops does not include verify", nil
	}
	if len(head.Kid) > maxKeyIDLen {
		return "", nil, fmt.Sprintf("kid is longer than %d bytes", maxKeyIDLen), nil
	}

	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		return "", nil, fmt.Sprintf("cannot be read: %v", err), nil
	}
	if !jwk.Valid() || !jwk.IsPublic() {
		return "", nil, "is not a valid public key", nil
	}
	if reason := unusable(jwk.Key, head.Alg); reason != "" {
		return "", nil, reason, nil
	}
	kid = head.Kid
	if kid == "" {
		// The API server names each key by a digest of the key itself, and
		// stamps that name in the tokens it signs; a set entry without a kid
		// is looked up by the same name.
		if kid, err = keyID(jwk.Key); err != nil {
			return "", nil, fmt.Sprintf("cannot derive a kid: %v", err), nil
		}
	}
	return kid, jwk.Key, "", nil
}

// unusable says why a public key cannot verify the service-account tokens
// this plugin accepts (the RS*, PS* and ES* families), or "" when it can.
// A declared alg must fit the key: an EC key announced for RS256 is a
// mistake in the set, not a key to guess about.
func unusable(key crypto.PublicKey, alg string) string {
	return unusableIn(key, alg, fips.Current().Enforced)
}

// unusableIn is unusable with FIPS 140-only mode given: there, a key the
// FIPS 140-3 module refuses to verify with is skipped too, naming the
// setting.
func unusableIn(key crypto.PublicKey, alg string, fipsOnly bool) string {
	if why := unfit(key, alg); why != "" {
		return why
	}
	if err := fips.CheckKey(key, fipsOnly); err != nil {
		return err.Error()
	}
	return ""
}

// unfit says why a key cannot verify the accepted algorithms in any mode.
func unfit(key crypto.PublicKey, alg string) string {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < minRSABits {
			return fmt.Sprintf("RSA key of %d bits is shorter than %d", n, minRSABits)
		}
		switch jose.SignatureAlgorithm(alg) {
		case "", jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512:
			return ""
		}
		return fmt.Sprintf("alg %q does not fit an RSA key", alg)
	case *ecdsa.PublicKey:
		var want jose.SignatureAlgorithm
		switch k.Curve {
		case elliptic.P256():
			want = jose.ES256
		case elliptic.P384():
			want = jose.ES384
		case elliptic.P521():
			want = jose.ES512
		default:
			return "EC key on an unsupported curve"
		}
		if alg != "" && jose.SignatureAlgorithm(alg) != want {
			return fmt.Sprintf("alg %q does not fit an EC key on %s", alg, k.Curve.Params().Name)
		}
		return ""
	default:
		return fmt.Sprintf("key type %T is not RSA or ECDSA", key)
	}
}

// keyID names a public key as the kube-apiserver does: the unpadded base64url
// SHA-256 of its PKIX (SubjectPublicKeyInfo) DER encoding.
func keyID(key crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// sameKey reports whether two parsed public keys are the same key.
func sameKey(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	ea, ok := a.(equaler)
	return ok && ea.Equal(b)
}

// KeySetKids reads a JSON Web Key Set as the key set reads it and returns
// the kids of its usable keys, sorted, and the notes on the entries it
// skips; for config/check, which reports a jwks_url that holds no usable key.
func KeySetKids(body []byte) (kids, notes []string, err error) {
	keys, notes, err := parseJWKS(body)
	if err != nil {
		return nil, notes, err
	}
	for kid := range keys {
		kids = append(kids, kid)
	}
	slices.Sort(kids)
	return kids, notes, nil
}
