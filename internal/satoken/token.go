package satoken

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	stdjson "encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"
	"github.com/go-jose/go-jose/v4/jwt"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/logcut"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
)

// AllowedAlgorithms are the asymmetric algorithms Kubernetes can sign with.
// "none" and HMAC are never accepted: a token must be provably issued by
// whoever holds the signing key, not by anyone who knows a shared secret.
var AllowedAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.ES256, jose.ES384, jose.ES512,
	jose.PS256, jose.PS384, jose.PS512,
}

// MaxJWTBytes caps the login JWT, checked before any parsing. Service-account
// tokens are one to two KiB; the cap is far above any real one and keeps a
// huge forged token from costing parse time or being forwarded to
// Kubernetes.
const MaxJWTBytes = 64 << 10

// ClockSkew tolerates clocks of Vault and the API server that disagree a
// little; the TokenReview enforces the API server's own view of time anyway.
const ClockSkew = 60 * time.Second

// Claims are the claims of both token kinds Kubernetes issues:
// legacy Secret-based tokens use flat "kubernetes.io/serviceaccount/..."
// keys, projected (TokenRequest) tokens a nested "kubernetes.io" object.
type Claims struct {
	jwt.Claims

	Kubernetes *ProjectedClaims `json:"kubernetes.io,omitempty"`

	LegacyNamespace  string `json:"kubernetes.io/serviceaccount/namespace,omitempty"`
	LegacyName       string `json:"kubernetes.io/serviceaccount/service-account.name,omitempty"`
	LegacyUID        string `json:"kubernetes.io/serviceaccount/service-account.uid,omitempty"`
	LegacySecretName string `json:"kubernetes.io/serviceaccount/secret.name,omitempty"`
}

type ProjectedClaims struct {
	Namespace      string           `json:"namespace"`
	ServiceAccount ObjectRef        `json:"serviceaccount"`
	Pod            *ObjectRef       `json:"pod,omitempty"`
	Secret         *ObjectRef       `json:"secret,omitempty"`
	Node           *ObjectRef       `json:"node,omitempty"`
	WarnAfter      *jwt.NumericDate `json:"warnafter,omitempty"`
}

type ObjectRef struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// Identity is a workload's identity: what a token's claims say, or what
// a TokenReview (or the cluster's signing keys) vouches for. A TokenReview's
// answer names no Secret, so secretName stays empty there.
type Identity struct {
	Namespace, Name, UID string
	SecretName           string
	PodName, PodUID      string
	NodeName             string
}

// Token is a structurally valid JWT whose claims are not yet trusted.
type Token struct {
	JWS    *jose.JSONWebSignature
	Claims Claims
}

// Parse accepts only a compact JWS with an allowed algorithm and JSON
// claims. Something that is not a JWT at all is bad input; a JWT signed
// with an algorithm we never accept is refused, and so is one whose claims
// are JSON that cannot be read unambiguously (see decodeClaims).
func Parse(raw string) (*Token, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, refusal.Invalid("jwt: is required")
	}
	tok, err := jose.ParseSignedCompact(raw, AllowedAlgorithms)
	if err != nil {
		var algErr *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &algErr) {
			// A well-formed token we will not trust ("none", HMAC) is a
			// failed authentication, not bad input: it is how forgeries look.
			return nil, refusal.New(refusal.ReasonAlgorithm, "signing algorithm %.64q is not allowed; want one of RS256/384/512, ES256/384/512, PS256/384/512", string(algErr.Got))
		}
		return nil, refusal.Invalid("jwt: is not a signed JWT in compact form (header.payload.signature)")
	}
	p := &Token{JWS: tok}
	if err := decodeClaims(tok.UnsafePayloadWithoutVerification(), &p.Claims); err != nil {
		return nil, err
	}
	return p, nil
}

// decodeClaims reads the payload with go-jose's strict decoder, the one
// Kubernetes itself reads tokens with. A payload that is not a JSON object
// is bad input. A JSON object the strict decoder refuses (a duplicate key at
// any depth, a claim of the wrong type) is refused as claims_invalid: two
// parsers could read such claims differently, and it is a claims problem,
// not a signature problem, whatever the signature says.
func decodeClaims(payload []byte, out *Claims) error {
	trimmed := bytes.TrimSpace(payload)
	if !stdjson.Valid(trimmed) || len(trimmed) == 0 || trimmed[0] != '{' {
		return refusal.Invalid("jwt: claims are not a valid JSON object of JWT claims")
	}
	// The struct decode skips objects it has no field for; decoding the
	// whole payload generically as well finds duplicates anywhere.
	var all map[string]any
	if err := josejson.Unmarshal(payload, &all); err != nil {
		return refusal.New(refusal.ReasonClaims, "claims cannot be read unambiguously: %s", joseErrorText(err))
	}
	if err := josejson.Unmarshal(payload, out); err != nil {
		return refusal.New(refusal.ReasonClaims, "claims cannot be read: %s", joseErrorText(err))
	}
	return nil
}

// CheckTimes enforces exp, nbf and iat with a small allowance for skew.
// Legacy Secret-based tokens have no exp; the TokenReview decides for them.
func CheckTimes(c *jwt.Claims, now time.Time) error {
	err := c.ValidateWithLeeway(jwt.Expected{Time: now}, ClockSkew)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jwt.ErrExpired):
		return refusal.New(refusal.ReasonExpired, "token expired at %s", c.Expiry.Time().UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrNotValidYet):
		return refusal.New(refusal.ReasonNotYetValid, "token not valid before %s", c.NotBefore.Time().UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return refusal.New(refusal.ReasonNotYetValid, "token issued in the future at %s", c.IssuedAt.Time().UTC().Format(time.RFC3339))
	default:
		return refusal.New(refusal.ReasonClaims, "%s", joseErrorText(err))
	}
}

// joseErrorText is the JOSE library's account of a token it could not
// read, cut: it quotes the token's own keys and values (a duplicate key's
// name, a claim of the wrong type), which the token's author chose.
func joseErrorText(err error) string { return logcut.String(err.Error(), 2*logcut.ValueMax) }

// VerifySignature checks the token against the configured keys; with no
// keys configured the TokenReview alone vouches for the signature. Only the
// signature over the raw payload is checked here: the claims were decoded,
// and any decoding problem reported, when the token was parsed.
func VerifySignature(tok *jose.JSONWebSignature, keys []crypto.PublicKey) error {
	if len(keys) == 0 {
		return nil
	}
	for _, key := range keys {
		if _, err := tok.Verify(key); err == nil {
			return nil
		}
	}
	return refusal.New(refusal.ReasonSignature, "signature does not verify with any of the %d pem_keys", len(keys))
}

// CheckIssuer enforces the issuer when issuer validation is on (want != "").
func CheckIssuer(iss, want string) error {
	if want != "" && iss != want {
		return refusal.New(refusal.ReasonIssuer, "issuer %.64q, want %q", iss, want)
	}
	return nil
}

// CheckAudience requires one of the role's audiences, when it has any,
// among the token's own audiences: a cheap refusal before any network call.
func CheckAudience(aud jwt.Audience, want []string) error {
	switch {
	case len(want) == 0 || slices.ContainsFunc(want, aud.Contains):
		return nil
	case len(want) == 1:
		return refusal.New(refusal.ReasonAudienceMismatch, "token audiences %s do not include the role's audience %q", logcut.Quote(aud), want[0])
	}
	return refusal.New(refusal.ReasonAudienceMismatch, "token audiences %s include none of the role's audiences %q", logcut.Quote(aud), want)
}

// IdentityFromClaims reads the identity from projected claims, else
// legacy ones, and cross-checks it with the subject when one is present.
func IdentityFromClaims(c *Claims) (Identity, error) {
	var sa Identity
	if k := c.Kubernetes; k != nil {
		sa = Identity{Namespace: k.Namespace, Name: k.ServiceAccount.Name, UID: k.ServiceAccount.UID}
		if k.Pod != nil {
			sa.PodName, sa.PodUID = k.Pod.Name, k.Pod.UID
		}
		if k.Node != nil {
			sa.NodeName = k.Node.Name
		}
		if k.Secret != nil {
			sa.SecretName = k.Secret.Name
		}
	} else {
		sa = Identity{
			Namespace:  c.LegacyNamespace,
			Name:       c.LegacyName,
			UID:        c.LegacyUID,
			SecretName: c.LegacySecretName,
		}
	}
	switch {
	case sa.Namespace == "":
		return sa, refusal.New(refusal.ReasonClaims, "token has no service-account namespace claim")
	case sa.Name == "":
		return sa, refusal.New(refusal.ReasonClaims, "token has no service-account name claim")
	case sa.UID == "":
		return sa, refusal.New(refusal.ReasonClaims, "token has no service-account UID claim")
	}
	if err := ValidateNames(sa.Namespace, sa.Name); err != nil {
		return sa, err
	}
	if c.Subject != "" {
		if want := "system:serviceaccount:" + sa.Namespace + ":" + sa.Name; c.Subject != want {
			return sa, refusal.New(refusal.ReasonClaims, "subject %.64q does not match the service-account claims %q", c.Subject, want)
		}
	}
	return sa, nil
}

// ValidateNames requires the namespace and name claims to be
// names Kubernetes could have given: a namespace is a DNS-1123 label, a
// service-account name a DNS-1123 subdomain. Before any lookup uses them a
// forged claim such as "a/b" is refused here, cheaply, instead of reaching
// a request path or a log line as something else. Details are cut short: a
// hostile claim can be long.
func ValidateNames(namespace, name string) error {
	if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
		return refusal.New(refusal.ReasonClaims, "service-account namespace claim %.64q is not a valid namespace name: %s", namespace, errs[0])
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return refusal.New(refusal.ReasonClaims, "service-account name claim %.64q is not a valid service-account name: %s", name, errs[0])
	}
	return nil
}

// ParsePEMKeys parses pem_keys: each entry a PEM public key (PKIX or PKCS#1)
// or a certificate whose key is used. Only RSA and ECDSA keys can verify the
// allowed algorithms.
//
// A write (Strict) takes exactly one PEM block per entry, so a second
// key pasted into the same entry is refused rather than silently ignored.
// Stored data (Stored) is read as Vault's built-in method reads it: the
// first PEM block of each entry is the key and anything after it is
// ignored, so a config it accepted keeps working, with the same keys.
func ParsePEMKeys(entries []string, mode Mode) ([]crypto.PublicKey, error) {
	var keys []crypto.PublicKey
	for i, entry := range entries {
		block, rest := pem.Decode([]byte(entry))
		if block == nil {
			return nil, fmt.Errorf("pem_keys[%d]: is not PEM-encoded; send a -----BEGIN PUBLIC KEY----- block or a certificate", i)
		}
		if mode == Strict {
			if err := onlyBlock(rest); err != nil {
				return nil, fmt.Errorf("pem_keys[%d]: %w", i, err)
			}
		}
		key, err := publicKeyFromPEM(block, mode)
		if err != nil {
			return nil, fmt.Errorf("pem_keys[%d]: %w", i, err)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// onlyBlock checks that nothing but white space follows an entry's PEM
// block, and says what to change when something does.
func onlyBlock(rest []byte) error {
	if len(bytes.TrimSpace(rest)) == 0 {
		return nil
	}
	blocks := 1
	for {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		blocks++
	}
	if blocks > 1 {
		return fmt.Errorf("holds %d PEM blocks; send each key as its own entry", blocks)
	}
	return errors.New("has text after its PEM block; remove it")
}

// publicKeyFromPEM reads the key of one block according to its label.
// Stored data falls back to what Vault's built-in method does, which ignores
// the label and tries the bytes as a PKIX public key, then as a certificate.
func publicKeyFromPEM(block *pem.Block, mode Mode) (crypto.PublicKey, error) {
	key, err := labeledPublicKey(block)
	if err != nil && mode == Stored {
		if k, lerr := unlabeledPublicKey(block.Bytes); lerr == nil {
			key, err = k, nil
		}
	}
	if err != nil {
		return nil, err
	}
	switch key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
		return key, nil
	default:
		return nil, fmt.Errorf("key type %T is not RSA or ECDSA", key)
	}
}

func labeledPublicKey(block *pem.Block) (crypto.PublicKey, error) {
	var key any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	default:
		return nil, fmt.Errorf("PEM type %q is not a public key or certificate", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot parse the %s: %w", strings.ToLower(block.Type), err)
	}
	return key, nil
}

func unlabeledPublicKey(der []byte) (crypto.PublicKey, error) {
	if key, err := x509.ParsePKIXPublicKey(der); err == nil {
		return key, nil
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return cert.PublicKey, nil
}
