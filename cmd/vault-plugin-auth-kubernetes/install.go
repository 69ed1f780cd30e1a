package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// installName is the file name -install writes: the name operators register
// the plugin under, whatever the running binary is called.
const installName = "vault-plugin-auth-kubernetes"

// installSelf copies the file at self into dir as installName and returns
// the copy's SHA-256, which Vault's catalog must record. It is how an image
// with no shell (an init container) puts the plugin into Vault's plugin
// directory. The copy is written to a temporary file in dir, synced and
// renamed over the old one: a Vault starting beside the init container never
// runs a half-written plugin, and a failed copy leaves the old one in place.
func installSelf(self, dir string) (string, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("plugin directory: %w", err)
	}
	if !info.IsDir() {
		return "", fmt.Errorf("plugin directory %s is not a directory", dir)
	}
	in, err := os.Open(self)
	if err != nil {
		return "", fmt.Errorf("reading this binary: %w", err)
	}
	defer in.Close()

	tmp, err := os.CreateTemp(dir, "."+installName+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("writing into the plugin directory: %w", err)
	}
	// Until the rename, the temporary file is ours to remove on any failure.
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), in); err != nil {
		return "", fmt.Errorf("copying the plugin: %w", err)
	}
	// CreateTemp makes the file 0600; Vault runs it as whatever user it is,
	// so it must be readable and executable by all, writable by none but
	// the owner, whatever the umask.
	if err := tmp.Chmod(0o755); err != nil {
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, installName)); err != nil {
		return "", fmt.Errorf("installing the plugin: %w", err)
	}
	done = true
	return hex.EncodeToString(h.Sum(nil)), nil
}

// runInstall installs the running binary into dir and prints the SHA-256 to
// stdout, alone on its line so a script can capture it; where it went goes
// to stderr.
func runInstall(dir string, stdout, stderr io.Writer) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this binary: %w", err)
	}
	if dir == "" {
		return errors.New("-install needs a directory")
	}
	sum, err := installSelf(self, dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "installed %s (sha256 %s)\n", filepath.Join(dir, installName), sum)
	fmt.Fprintln(stdout, sum)
	return nil
}
