package realstack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// VaultLogPath is the log of the stack's dev Vault, where stack-up.sh sends
// its output, and with it every line Vault relays from its plugins.
func (s *Stack) VaultLogPath() string { return filepath.Join(s.StackDir, "logs", "vault.log") }

// WaitForLog waits until one line of the log file at path holds every
// fragment (Vault relays a plugin's fields in no fixed order, so fragments
// are best one field each). A plugin's line reaches Vault's log through a
// pipe a moment after the reply the test saw, so one read right after the
// reply could miss it.
func WaitForLog(t testing.TB, path string, window time.Duration, fragments ...string) {
	t.Helper()
	deadline := time.Now().Add(window)
	for {
		if LogHasLine(t, path, fragments...) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line of %s holds all of %q after %v", path, fragments, window)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// LogHasLine reports whether one line of the log file at path holds every
// fragment.
func LogHasLine(t testing.TB, path string, fragments ...string) bool {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	for line := range strings.Lines(string(raw)) {
		all := true
		for _, f := range fragments {
			if !strings.Contains(line, f) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}
