// Command publickey writes the public half of the release signing key, for
// the maintainers to publish: PREFIX.asc (armored, for scripts/verify-release
// and gpg --import) and PREFIX.gpg (binary, the keyring gpgv reads), and
// prints the fingerprint to publish beside them. No gpg binary is needed.
//
//	go run ./cmd/publickey -signing-key key.asc -out vault-plugin-auth-kubernetes-release
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/pgp"
)

func main() {
	keyFile := flag.String("signing-key", "", "file with the armored OpenPGP private key")
	out := flag.String("out", "vault-plugin-auth-kubernetes-release", "prefix of the files to write")
	flag.Parse()
	if err := run(*keyFile, *out); err != nil {
		fmt.Fprintln(os.Stderr, "publickey:", err)
		os.Exit(1)
	}
}

func run(keyFile, out string) error {
	raw, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	e, err := pgp.ReadSigningKey(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", keyFile, err)
	}
	var bin bytes.Buffer
	if err := e.Serialize(&bin); err != nil {
		return err
	}
	var asc bytes.Buffer
	w, err := armor.Encode(&asc, openpgp.PublicKeyType, nil)
	if err != nil {
		return err
	}
	if _, err := w.Write(bin.Bytes()); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(out+".gpg", bin.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(out+".asc", asc.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("%s.asc and %s.gpg: key %X\n", out, out, e.PrimaryKey.Fingerprint)
	return nil
}
