// Package pgp signs a release's files with an OpenPGP key and checks those
// signatures, as HashiCorp's releases are signed: a detached, binary
// signature beside the file (<file>.sig), which `gpgv` checks, so no gpg
// binary is needed to sign.
package pgp

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// config is what signing and checking share: SHA-256 signatures, the
// hash a verifier of SHA256SUMS expects.
var config = &packet.Config{DefaultHash: crypto.SHA256}

// ReadSigningKey reads an armored private key (one key, not protected by a
// passphrase: the key file is the secret, as in a CI secret store).
func ReadSigningKey(armored []byte) (*openpgp.Entity, error) {
	ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armored))
	if err != nil {
		return nil, fmt.Errorf("not an armored OpenPGP key: %w", err)
	}
	if len(ring) != 1 {
		return nil, fmt.Errorf("holds %d keys, want exactly one", len(ring))
	}
	e := ring[0]
	if e.PrivateKey == nil {
		return nil, errors.New("holds a public key only; signing needs the private key")
	}
	if e.PrivateKey.Encrypted {
		return nil, errors.New("the private key is protected by a passphrase, which this tool does not ask for")
	}
	return e, nil
}

// Sign is a detached binary signature of data.
func Sign(key *openpgp.Entity, data []byte) ([]byte, error) {
	var sig bytes.Buffer
	if err := openpgp.DetachSign(&sig, key, bytes.NewReader(data), config); err != nil {
		return nil, err
	}
	return sig.Bytes(), nil
}

// ReadPublicKeys reads the verifier's keys, armored or binary.
func ReadPublicKeys(raw []byte) (openpgp.EntityList, error) {
	ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(raw))
	if err != nil {
		ring, err = openpgp.ReadKeyRing(bytes.NewReader(raw))
	}
	if err != nil {
		return nil, fmt.Errorf("not an OpenPGP public key: %w", err)
	}
	if len(ring) == 0 {
		return nil, errors.New("holds no key")
	}
	return ring, nil
}

// ErrUnknownKey is a signature made by a key not among the verifier's.
var ErrUnknownKey = errors.New("made by a key other than the given public key")

// ErrBadSignature is a signature by a known key that does not match the
// data: the file changed after it was signed.
var ErrBadSignature = errors.New("does not match the file")

// Verify checks a detached signature (binary or armored) of data against
// the keys and returns the signer's fingerprint in hex.
func Verify(keys openpgp.EntityList, data, sig []byte) (string, error) {
	if bytes.HasPrefix(bytes.TrimSpace(sig), []byte("-----BEGIN")) {
		block, err := armor.Decode(bytes.NewReader(sig))
		if err != nil {
			return "", fmt.Errorf("not an OpenPGP signature: %w", err)
		}
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(block.Body); err != nil {
			return "", fmt.Errorf("not an OpenPGP signature: %w", err)
		}
		sig = buf.Bytes()
	}
	_, signer, err := openpgp.VerifyDetachedSignature(keys, bytes.NewReader(data), bytes.NewReader(sig), config)
	switch {
	case err == nil:
		return fmt.Sprintf("%X", signer.PrimaryKey.Fingerprint), nil
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		return "", fmt.Errorf("%w (%s)", ErrUnknownKey, Fingerprints(keys))
	case isBadSignature(err):
		return "", ErrBadSignature
	default:
		return "", fmt.Errorf("not a valid OpenPGP signature: %w", err)
	}
}

func isBadSignature(err error) bool {
	var se pgperrors.SignatureError
	return errors.As(err, &se) || errors.Is(err, pgperrors.ErrSignatureExpired)
}

// Fingerprints lists the keys' fingerprints, for messages.
func Fingerprints(keys openpgp.EntityList) string {
	fps := make([]string, 0, len(keys))
	for _, e := range keys {
		fps = append(fps, fmt.Sprintf("%X", e.PrimaryKey.Fingerprint))
	}
	return strings.Join(fps, ", ")
}

// NewTestKey makes a throwaway Ed25519 key for tests and dry runs, and
// returns it armored, private and public.
func NewTestKey(name string) (private, public []byte, err error) {
	e, err := openpgp.NewEntity(name, "throwaway test key", "", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, DefaultHash: crypto.SHA256})
	if err != nil {
		return nil, nil, err
	}
	var priv, pub bytes.Buffer
	w, err := armor.Encode(&priv, openpgp.PrivateKeyType, nil)
	if err != nil {
		return nil, nil, err
	}
	if err := e.SerializePrivate(w, nil); err != nil {
		return nil, nil, err
	}
	if err := w.Close(); err != nil {
		return nil, nil, err
	}
	if w, err = armor.Encode(&pub, openpgp.PublicKeyType, nil); err != nil {
		return nil, nil, err
	}
	if err := e.Serialize(w); err != nil {
		return nil, nil, err
	}
	if err := w.Close(); err != nil {
		return nil, nil, err
	}
	return priv.Bytes(), pub.Bytes(), nil
}

// Dearmor is the binary form of an armored key, the keyring format gpgv
// reads.
func Dearmor(armored []byte) ([]byte, error) {
	block, err := armor.Decode(bytes.NewReader(armored))
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	_, err = buf.ReadFrom(block.Body)
	return buf.Bytes(), err
}
