package realstack

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Settings say where one suite's stack lives and which plugin binary it
// tests. They come from the suite's own variables (E2E_*, OPS_*), never from
// STACK_DIR or the *_PORT variables: the root Makefile exports those for the
// demo's stack, which a suite must not touch.
type Settings struct {
	Suite     string // "e2e" or "ops": names the variables, the state directory and messages
	RepoRoot  string
	StackDir  string
	EtcdPort  int // etcd also takes EtcdPort+1 (peer)
	KubePort  int
	VaultPort int // the dev Vault also takes VaultPort+1 (cluster)
	PluginBin string
	KeepStack bool
}

// Ports are a suite's default base ports. Each suite has its own so that
// suites, the demo and the benchmark can run side by side.
type Ports struct {
	Etcd, Kube, Vault int
}

// SettingsFromEnv reads <SUITE>_STACK_DIR (default $TMPDIR/kubeauth-<suite>),
// <SUITE>_ETCD_PORT, <SUITE>_KUBE_PORT and <SUITE>_VAULT_PORT (default
// ports), <SUITE>_KEEP_STACK=1 and PLUGIN_BIN (default the repository's
// bin/vault-plugin-auth-kubernetes).
func SettingsFromEnv(suite string, ports Ports) (Settings, error) {
	root, err := repoRoot()
	if err != nil {
		return Settings{}, err
	}
	prefix := strings.ToUpper(suite) + "_"
	s := Settings{
		Suite:     suite,
		RepoRoot:  root,
		StackDir:  EnvOr(prefix+"STACK_DIR", filepath.Join(os.TempDir(), "kubeauth-"+suite)),
		PluginBin: EnvOr("PLUGIN_BIN", filepath.Join(root, "bin", "vault-plugin-auth-kubernetes")),
		KeepStack: os.Getenv(prefix+"KEEP_STACK") == "1",
	}
	for _, p := range []struct {
		key string
		def int
		dst *int
	}{
		{prefix + "ETCD_PORT", ports.Etcd, &s.EtcdPort},
		{prefix + "KUBE_PORT", ports.Kube, &s.KubePort},
		{prefix + "VAULT_PORT", ports.Vault, &s.VaultPort},
	} {
		if *p.dst, err = EnvPositiveInt(p.key, p.def); err != nil {
			return s, err
		}
	}
	return s, nil
}

// EnvOr is the variable's value, or def when it is unset or empty.
func EnvOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// EnvPositiveInt reads a variable that must hold a positive integer, so a
// typo fails the run at once, naming the variable.
func EnvPositiveInt(key string, def int) (int, error) {
	n, err := strconv.Atoi(EnvOr(key, strconv.Itoa(def)))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive integer", key, os.Getenv(key))
	}
	return n, nil
}

// repoRoot is the nearest folder at or above the working directory that
// holds scripts/stack-up.sh: go test runs in the package's folder, which is
// e2e/ for one suite and e2e/ops/ for the other.
func repoRoot() (string, error) {
	start, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := start; ; {
		if _, err := os.Stat(filepath.Join(dir, "scripts", "stack-up.sh")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no scripts/stack-up.sh in %s or above it", start)
		}
		dir = parent
	}
}
