package kubeauth

import (
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// smallRSAPEM is a PEM public key of 1024 bits: FIPS 140-only mode refuses
// it, any other mode accepts it. Only its size matters, so its modulus is
// any odd number of that length.
func smallRSAPEM(t *testing.T) string {
	t.Helper()
	n := new(big.Int).Lsh(big.NewInt(1), 1023)
	n.Or(n, big.NewInt(1))
	der, err := x509.MarshalPKIXPublicKey(&rsa.PublicKey{N: n, E: 65537})
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

const fipsOnlyRefusal = "is not allowed in FIPS 140-only mode (GODEBUG=fips140=only)"

// In FIPS 140-only mode a config write with a key the module refuses is a
// 400 naming the entry and the setting, and nothing is stored; outside it
// the same write is accepted.
func TestFIPSOnlyRefusesPEMKeysOnWrite(t *testing.T) {
	e := configured(t)
	data := e.configData()
	data["pem_keys"] = []string{testkit.Testdata(t, "signer.pub"), smallRSAPEM(t)}
	e.b.fipsOnly = true
	e.requireBadWrite(configPath, data, "pem_keys[1]: an RSA key of 1024 bits (2048 or more are allowed) "+fipsOnlyRefusal)
	e.b.fipsOnly = false
	e.mustDo(logical.UpdateOperation, configPath, data)
}

// A stored config with such a key (written by a process outside FIPS
// 140-only mode) fails each login as a fault whose log line names the entry
// and the setting, never as a signature that does not verify.
func TestFIPSOnlyRefusesStoredPEMKeysAtLogin(t *testing.T) {
	e := configured(t)
	data := e.configData()
	data["pem_keys"] = []string{smallRSAPEM(t)}
	e.b.fipsOnly = false
	e.mustDo(logical.UpdateOperation, configPath, data)
	e.b.fipsOnly = true
	e.b.resetState(defaultCluster)
	resp, err := e.do(logical.UpdateOperation, "login", map[string]any{"role": testRole, "jwt": e.token()})
	e.requireFault(refusal.ErrInternalFault, resp, err, "the stored config of config is unusable: pem_keys[0]: an RSA key of 1024 bits", "GODEBUG=fips140=only")
	e.requireReviews(0, "logins with an unusable stored config")
}

// The reviewer's client certificate is held to the same rule.
func TestFIPSOnlyRefusesClientCertKey(t *testing.T) {
	n := new(big.Int).Lsh(big.NewInt(1), 1023)
	n.Or(n, big.NewInt(1))
	cert := &tls.Certificate{Leaf: &x509.Certificate{PublicKey: &rsa.PublicKey{N: n, E: 65537}}}
	if err := checkFIPSKeys(nil, cert, false); err != nil {
		t.Fatalf("outside FIPS 140-only mode: %v", err)
	}
	err := checkFIPSKeys(nil, cert, true)
	if err == nil || !strings.HasPrefix(err.Error(), "token_reviewer_client_cert: an RSA key of 1024 bits") || !strings.Contains(err.Error(), fipsOnlyRefusal) {
		t.Fatalf("in FIPS 140-only mode: %v", err)
	}
}
