package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The flood's tokens are made from one real workload token: its header
// (kid and algorithm) and claims, with a fresh jti each, so that no two are
// alike and any cache keyed by the token would see a new key every time.
//   - forged: the claims say they are valid, the signature is random bytes;
//   - expired: signed with the API server's own key (the signature is good),
//     but exp lies an hour in the past.

var b64 = base64.RawURLEncoding

// splitJWT returns the decoded header and claims of a compact JWS; the
// claims must be a JSON object.
func splitJWT(jwt string) (header []byte, claims map[string]any, err error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, nil, errors.New("not a compact JWS of three parts")
	}
	if header, err = b64.DecodeString(parts[0]); err != nil {
		return nil, nil, fmt.Errorf("header: %w", err)
	}
	body, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, nil, fmt.Errorf("claims: %w", err)
	}
	if err := json.Unmarshal(body, &claims); err != nil || claims == nil {
		return nil, nil, errors.New("claims: not a JSON object")
	}
	return header, claims, nil
}

// signingInput is header.claims, each base64url-encoded, with claims as
// given plus the overrides.
func signingInput(header []byte, claims map[string]any, set map[string]any) (string, error) {
	c := make(map[string]any, len(claims)+len(set))
	for k, v := range claims {
		c[k] = v
	}
	for k, v := range set {
		c[k] = v
	}
	body, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	return b64.EncodeToString(header) + "." + b64.EncodeToString(body), nil
}

// forgeTokens makes n tokens from model whose signature is random.
func forgeTokens(model string, n int) ([]string, error) {
	header, claims, err := splitJWT(model)
	if err != nil {
		return nil, err
	}
	out := make([]string, n)
	sig := make([]byte, 256) // an RSA-2048 signature's length
	for i := range out {
		in, err := signingInput(header, claims, map[string]any{"jti": fmt.Sprintf("costcurves-forged-%d", i)})
		if err != nil {
			return nil, err
		}
		_, _ = rand.Read(sig)
		out[i] = in + "." + b64.EncodeToString(sig)
	}
	return out, nil
}

// expireTokens makes n tokens from model, signed with key, that expired an
// hour before now.
func expireTokens(model string, n int, key *rsa.PrivateKey, now time.Time) ([]string, error) {
	header, claims, err := splitJWT(model)
	if err != nil {
		return nil, err
	}
	exp := now.Add(-time.Hour).Unix()
	out := make([]string, n)
	for i := range out {
		in, err := signingInput(header, claims, map[string]any{
			"jti": fmt.Sprintf("costcurves-expired-%d", i), "exp": exp, "iat": exp - 3600, "nbf": exp - 3600,
		})
		if err != nil {
			return nil, err
		}
		digest := sha256.Sum256([]byte(in))
		sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
		if err != nil {
			return nil, err
		}
		out[i] = in + "." + b64.EncodeToString(sig)
	}
	return out, nil
}

// parseRSAKey reads the API server's service-account signing key: PEM,
// PKCS #1 (openssl genrsa -traditional) or PKCS #8.
func parseRSAKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("neither PKCS #1 nor PKCS #8: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA key")
	}
	return rk, nil
}
