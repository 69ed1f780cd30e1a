package ops

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

var semver = regexp.MustCompile(`^v(\d+)\.(\d+)\.(\d+)`)

// nextMinor is the version an upgrade goes to: vX.Y.Z -> vX.(Y+1).0.
func nextMinor(v string) (string, error) {
	m := semver.FindStringSubmatch(v)
	if m == nil {
		return "", fmt.Errorf("%q is not a vX.Y.Z version", v)
	}
	minor, _ := strconv.Atoi(m[2])
	return fmt.Sprintf("v%s.%d.0", m[1], minor+1), nil
}

// buildVersion builds the plugin from the repository with another version
// stamped in, through the Makefile's own build recipe, into the run
// directory (never over bin/, which other suites may be reading).
func buildVersion(t *testing.T, version string) pluginBuild {
	t.Helper()
	out := filepath.Join(ops.runDir, "build", "vault-plugin-auth-kubernetes-"+version)
	cmd := exec.Command("make", "-s", "-C", ops.RepoRoot, "--no-print-directory", "build",
		"VERSION="+version, "BINARY="+out)
	cmd.Env = os.Environ()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build VERSION=%s: %v\n%s", version, err, b)
	}
	got, err := binaryVersion(out)
	if err != nil {
		t.Fatal(err)
	}
	if got != version {
		t.Fatalf("built %s reports version %s", version, got)
	}
	return pluginBuild{path: out, version: version}
}

// The plugin is upgraded in place with Vault's own commands: a new version
// registered beside the old (`vault plugin register -version`), the mount
// pinned to it (`vault auth tune -plugin-version`) and reloaded (`vault
// plugin reload -type=auth -plugin=NAME`). Config and roles are untouched,
// tokens issued by the old version renew through the new one, and logins
// work.
func TestUpgradeInPlace(t *testing.T) {
	t.Parallel()
	nextVersion, err := nextMinor(ops.plugin.version)
	if err != nil {
		t.Fatal(err)
	}
	next := buildVersion(t, nextVersion)

	const name = "kubeauth-upgrade"
	old := installPlugin(t, ops.Vault, ops.PluginDir, name, ops.plugin)
	mount := realstack.UniqueName(t, "k")
	enableAuth(t, ops.Vault, mount, old.name, old.version)
	expectRunning(t, ops.Vault, mount, old)
	ops.Vault.Must(t, http.MethodPost, "auth/"+mount+"/config", ops.ReviewerConfig(nil))
	w := ops.NewWorkload(t, "app", nil)
	ops.Vault.Must(t, http.MethodPost, "auth/"+mount+"/role/app",
		realstack.BindRole(w, map[string]any{"token_policies": []string{"app"}, "token_ttl": "5m", "token_max_ttl": "1h"}))
	ops.Vault.Must(t, http.MethodPost, "auth/"+mount+"/role/anyone", map[string]any{
		"bound_service_account_names":      []string{"*"},
		"bound_service_account_namespaces": []string{w.Namespace},
		"audience":                         "vault",
		"alias_name_source":                "serviceaccount_name",
		"token_type":                       "batch",
	})
	jwt := token(t, w)
	issued := ops.Vault.MustLogin(t, mount, "app", jwt)
	ops.Vault.MustLogin(t, mount, "anyone", jwt)
	snap := snapshot(t, ops.Vault, mount, "app", "anyone")

	upgraded := installPlugin(t, ops.Vault, ops.PluginDir, name, next)
	catalog := ops.Vault.Must(t, http.MethodGet, "sys/plugins/catalog/auth/"+name+"?version="+old.version, nil)
	if catalog.Data().Str("sha256") != old.sha256 {
		t.Fatalf("registering %s replaced %s in the catalog: %s", next.version, old.version, catalog)
	}
	vaultCLI(t, ops.Vault, "auth", "tune", "-plugin-version="+upgraded.version, mount)
	// Tuning only pins the version; the running backend changes on reload.
	expectRunning(t, ops.Vault, mount, old)
	// `vault plugin reload -mounts=...` of Vault 1.21.1 sends a root-namespace
	// reload to sys/plugins/reload/unknown (404) and ignores -mounts; the
	// by-name form works, and only this test's mount uses this name.
	vaultCLI(t, ops.Vault, "plugin", "reload", "-type=auth", "-plugin="+name)
	expectRunning(t, ops.Vault, mount, upgraded)

	expectSameSnapshot(t, "the upgrade", snap, snapshot(t, ops.Vault, mount, "app", "anyone"))
	renewSelf(t, ops.Vault, issued, 300)
	ops.Vault.MustLogin(t, mount, "app", jwt)
	ops.Vault.MustLogin(t, mount, "anyone", jwt)
	if running := childrenRunning(ops.devPID, upgraded.exe); len(running) != 1 {
		t.Errorf("want one process of %s under the dev Vault (pid %d), found %v", upgraded.exe, ops.devPID, running)
	}
	// Vault's business, not the plugin's: reported, not asserted.
	t.Logf("processes of the old version %s after the reload: %v", old.version, childrenRunning(ops.devPID, old.exe))
}
