package e2e

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// fipsPluginName is the catalog name the FIPS 140-3 build is registered
// under, beside the standard build.
const fipsPluginName = pluginName + "-fips"

// fipsBinary is the FIPS 140-3 build beside the standard binary (`make
// build-fips`, a prerequisite of `make e2e-test`), built here when missing
// so the test runs on its own too.
func fipsBinary(t *testing.T) string {
	t.Helper()
	bin := stk.PluginBin + "-fips"
	if _, err := os.Stat(bin); errors.Is(err, os.ErrNotExist) {
		cmd := exec.Command("make", "-C", stk.RepoRoot, "--no-print-directory", "build-fips")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make build-fips: %v\n%s", err, out)
		}
	}
	return bin
}

// rsa1024PEM is a PEM public key of 1024 bits, which FIPS 140-only mode
// refuses and any other mode accepts; only its size matters.
func rsa1024PEM(t *testing.T) string {
	t.Helper()
	n := new(big.Int).Lsh(big.NewInt(1), 1023)
	n.Or(n, big.NewInt(1))
	der, err := x509.MarshalPKIXPublicKey(&rsa.PublicKey{N: n, E: 65537})
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// The FIPS 140-3 build in a real Vault, run in FIPS 140-only mode: its
// -version names the module; registered with -env GODEBUG=fips140=only it
// logs that mode at start, a workload logs in with a real token through a
// real TokenReview, and a pem_keys entry the module refuses is a 400 naming
// the setting (which the standard build's mount accepts).
func TestFIPSBuildLogsInFIPSOnlyMode(t *testing.T) {
	t.Parallel()
	bin := fipsBinary(t)
	out, err := exec.Command(bin, "-version").Output()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || len(lines) != 2 || lines[0] != stk.pluginVersion || !strings.Contains(lines[1], "FIPS 140-3 module v1.0.0") {
		t.Fatalf("%s -version: %q, %v; want %s and the FIPS 140-3 module", bin, out, err, stk.pluginVersion)
	}

	sha, err := realstack.InstallPlugin(bin, stk.PluginDir, fipsPluginName)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = stk.root.Sys().RegisterPluginWithContext(ctx, &vault.RegisterPluginInput{
		Name:    fipsPluginName,
		Type:    vault.PluginTypeCredential,
		Command: fipsPluginName,
		SHA256:  sha,
		Version: stk.pluginVersion,
		Env:     []string{"GODEBUG=fips140=only"},
	})
	if err != nil {
		t.Fatalf("registering %s: %v", fipsPluginName, err)
	}

	path := realstack.UniqueName(t, "fips")
	expectOK(t, root(t, http.MethodPost, "sys/auth/"+path, map[string]any{
		"type":   fipsPluginName,
		"config": map[string]any{"plugin_version": stk.pluginVersion},
	}))
	t.Cleanup(func() { root(t, http.MethodDelete, "sys/auth/"+path, nil) })
	r := root(t, http.MethodGet, "sys/auth/"+path, nil)
	expectStatus(t, r, http.StatusOK)
	if d := r.Data(); d.Str("type") != fipsPluginName || d.Str("running_sha256") != sha {
		t.Fatalf("auth/%s is not served by the FIPS build (sha256 %s): %s", path, sha, r)
	}
	m := &mount{path: path, accessor: r.Data().Str("accessor")}
	m.configure(t, nil)
	realstack.WaitForLog(t, stk.VaultLogPath(), 10*time.Second, "FIPS 140-3 mode", "fips140=only", "gofips140=v1.0.0")

	w := stk.NewWorkload(t, "fips", nil)
	m.bindRole(t, "fips", w, map[string]any{"token_policies": "fips-read"})
	a := m.mustLogin(t, "fips", vaultToken(t, w))
	if got := a.StringMap("metadata")["service_account_uid"]; got != string(w.SA.UID) {
		t.Errorf("the FIPS build's login is for %q, want the workload %s", got, w.SA.UID)
	}

	small := stk.ReviewerConfig(map[string]any{"pem_keys": []string{rsa1024PEM(t)}})
	expectBadRequest(t, root(t, http.MethodPost, "auth/"+path+"/config", small),
		"pem_keys[0]", "RSA key of 1024 bits", "GODEBUG=fips140=only")
	std := newMount(t)
	expectOK(t, root(t, http.MethodPost, "auth/"+std.path+"/config", small))
}
