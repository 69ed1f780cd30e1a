package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// -install copies the binary under the plugin's name, executable by all
// whatever the umask, replaces an older copy, and returns the SHA-256 of
// what it wrote, leaving no temporary file behind.
func TestInstallSelf(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	src := filepath.Join(t.TempDir(), "some-other-name")
	writeFile(t, src, "new plugin bytes", 0o700)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, installName), "old plugin", 0o755)
	writeFile(t, filepath.Join(dir, "other-plugin"), "left alone", 0o755)

	sum, err := installSelf(src, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256([]byte("new plugin bytes"))
	if sum != hex.EncodeToString(want[:]) {
		t.Fatalf("sha256 %s, want %x", sum, want)
	}
	dst := filepath.Join(dir, installName)
	got, err := os.ReadFile(dst)
	if err != nil || string(got) != "new plugin bytes" {
		t.Fatalf("installed %q, %v", got, err)
	}
	info, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o755 {
		t.Fatalf("mode %v, want 0755", info.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("plugin directory holds %d files, want the plugin and other-plugin: %v", len(entries), entries)
	}
}

// A directory that is missing or not a directory is an error, and nothing
// is written.
func TestInstallSelfBadDirectory(t *testing.T) {
	src := filepath.Join(t.TempDir(), "bin")
	writeFile(t, src, "plugin", 0o755)
	parent := t.TempDir()
	notDir := filepath.Join(parent, "file")
	writeFile(t, notDir, "x", 0o644)
	for _, dir := range []string{filepath.Join(parent, "missing"), notDir} {
		if sum, err := installSelf(src, dir); err == nil {
			t.Errorf("%s: installed (sha256 %s)", dir, sum)
		}
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 1 {
		t.Fatalf("wrote into %s: %v", parent, entries)
	}
}

// runInstall installs the running binary itself and prints only the SHA-256
// on stdout, so `sha=$(plugin -install DIR)` captures what to register.
func TestRunInstallPrintsSHA(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(raw)
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if err := runInstall(dir, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if got := stdout.String(); got != hex.EncodeToString(want[:])+"\n" {
		t.Fatalf("stdout %q, want the sha256 %x alone", got, want)
	}
	if !strings.Contains(stderr.String(), filepath.Join(dir, installName)) {
		t.Fatalf("stderr %q does not say where the plugin went", stderr.String())
	}
	installed, err := os.ReadFile(filepath.Join(dir, installName))
	if err != nil || !bytes.Equal(installed, raw) {
		t.Fatalf("installed copy differs from the running binary (%v)", err)
	}
	if err := runInstall("", &stdout, &stderr); err == nil {
		t.Fatal("an empty directory was accepted")
	}
}
