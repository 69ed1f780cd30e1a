package kubeauth

import (
	"crypto"
	"crypto/tls"
	"fmt"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/fips"
)

// checkFIPSKeys refuses, in FIPS 140-only mode (fipsOnly), a config whose
// pem_keys or reviewer client certificate hold a key the FIPS 140-3 module
// refuses, naming the field and the setting. Without it a refused pem_keys
// entry would fail every login as a signature that does not verify, and a
// refused client key every TokenReview as a TLS failure. A write gets it as
// a 400, a stored config as the fault of each login that loads it.
func checkFIPSKeys(keys []crypto.PublicKey, clientCert *tls.Certificate, fipsOnly bool) error {
	for i, key := range keys {
		if err := fips.CheckKey(key, fipsOnly); err != nil {
			return fmt.Errorf("pem_keys[%d]: %w", i, err)
		}
	}
	if clientCert != nil && clientCert.Leaf != nil {
		if err := fips.CheckKey(clientCert.Leaf.PublicKey, fipsOnly); err != nil {
			return fmt.Errorf("token_reviewer_client_cert: %w", err)
		}
	}
	return nil
}
