package measure

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// parseVmRSS returns the resident set size, in bytes, that a
// /proc/<pid>/status text reports on its "VmRSS:" line (in kB).
func parseVmRSS(status string) (int64, error) {
	for line := range strings.Lines(status) {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("VmRSS line %q: want a number of kB", strings.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb < 0 || kb > 1<<40 {
			return 0, fmt.Errorf("VmRSS line %q: want a number of kB", strings.TrimSpace(line))
		}
		return kb << 10, nil
	}
	return 0, errors.New("no VmRSS line in /proc status")
}

// PluginRSS is the resident memory, in bytes, of Vault's child process
// that runs the plugin file named file.
func (s Procs) PluginRSS(file string) (int64, error) {
	pid, err := s.PluginPID(file)
	if err != nil {
		return 0, err
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmRSS(string(b))
}

// PluginPID is the PID of Vault's child process that runs file.
func (s Procs) PluginPID(file string) (int, error) {
	vaultPID, err := s.pidFromFile("vault")
	if err != nil {
		return 0, fmt.Errorf("vault's PID: %w", err)
	}
	pid := pluginChild(vaultPID, file)
	if pid == 0 {
		return 0, fmt.Errorf("no child of vault (PID %d) runs %s", vaultPID, file)
	}
	return pid, nil
}
