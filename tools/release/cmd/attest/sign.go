package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/names"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/pgp"
)

// signerKey is the release's signing key.
type signerKey struct {
	file   string
	entity *openpgp.Entity
}

func readKey(file string) (*signerKey, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("SIGNING_KEY: %w", err)
	}
	e, err := pgp.ReadSigningKey(raw)
	if err != nil {
		return nil, fmt.Errorf("SIGNING_KEY %s: %w", file, err)
	}
	return &signerKey{file, e}, nil
}

// sign writes each file's detached signature; without a key it removes
// signatures a previous run left, which would no longer match, and says in
// one line that the release is unsigned.
func (r *release) sign(key *signerKey, files ...string) error {
	for _, f := range files {
		sig := filepath.Join(r.dist, names.Signature(f))
		if key == nil {
			if err := os.Remove(sig); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			continue
		}
		raw, err := os.ReadFile(filepath.Join(r.dist, f))
		if err != nil {
			return err
		}
		s, err := pgp.Sign(key.entity, raw)
		if err != nil {
			return fmt.Errorf("signing %s: %w", f, err)
		}
		if err := os.WriteFile(sig, s, 0o644); err != nil {
			return err
		}
	}
	if key == nil {
		fmt.Printf("unsigned: no SIGNING_KEY given, so %s has no .sig and only its digests can be checked\n", files[0])
		return nil
	}
	fmt.Printf("signed %s with key %X\n", joinNames(files), key.entity.PrimaryKey.Fingerprint)
	return nil
}

func joinNames(files []string) string {
	out := ""
	for i, f := range files {
		if i > 0 {
			out += " and "
		}
		out += f
	}
	return out
}
