package realstack

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// CleanEnv is this process's environment without the plugin's own settings
// and Vault's variables (VAULT_API_ADDR and the like override a server's
// config file), so what a developer exported in their shell cannot change
// what the stack, Vault or its plugins do under test.
func CleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "KUBEAUTH_REQUEST_TIMEOUT" || k == "KUBEAUTH_LOCAL_SA_DIR" || strings.HasPrefix(k, "VAULT_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// RecordedPID reads a PID file the stack scripts wrote.
func RecordedPID(file string) (int, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", file, err)
	}
	return pid, nil
}
