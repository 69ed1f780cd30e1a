package realstack

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// PluginName is the catalog name operators use for this plugin, and the one
// both suites register it under unless a test needs a name of its own. It is
// not "kubernetes", so Vault's built-in method stays available beside it and
// no test can pass by reaching the built-in one by mistake.
const PluginName = "vault-plugin-auth-kubernetes"

// EnsurePlugin builds the plugin binary with `make build` when bin does not
// exist yet, so a suite run on its own (go test, not make) still has one.
func EnsurePlugin(repoRoot, bin string) error {
	if _, err := os.Stat(bin); !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	cmd := exec.Command("make", "-C", repoRoot, "--no-print-directory", "build")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building the plugin: %w", err)
	}
	return nil
}

// InstallPlugin copies the plugin binary bin into a Vault plugin directory
// as file and returns its sha256, what the catalog must record. The copy is
// written beside and renamed: Vault must never exec a half-written file.
func InstallPlugin(bin, dir, file string) (string, error) {
	raw, err := os.ReadFile(bin)
	if err != nil {
		return "", fmt.Errorf("reading the plugin binary: %w", err)
	}
	sum := sha256.Sum256(raw)
	dst := filepath.Join(dir, file)
	if err := os.WriteFile(dst+".tmp", raw, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(dst+".tmp", dst); err != nil {
		return "", err
	}
	return hex.EncodeToString(sum[:]), nil
}
