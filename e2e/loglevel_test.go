package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// The plugin's log follows the level Vault runs at: a Vault started with
// -log-level=debug shows the plugin's debug line for a successful login, one
// at info does not (while it does show the plugin's info lines). Each runs
// as a dev Vault of its own on the suite's Vault port +2 (+3 for its
// cluster listener), one after the other, with this stack's apiserver.
func TestPluginLogFollowsVaultLevel(t *testing.T) {
	t.Parallel()
	w := stk.NewWorkload(t, "app", nil)
	for _, level := range []string{"debug", "info"} {
		// Not parallel: both use the same port.
		t.Run(level, func(t *testing.T) {
			v, logPath := startDevVault(t, level, stk.VaultPort+2)
			installIn(t, v, filepath.Join(filepath.Dir(logPath), "plugins"))
			v.Must(t, http.MethodPost, "auth/k/config", stk.ReviewerConfig(nil))
			v.Must(t, http.MethodPost, "auth/k/role/app", realstack.BindRole(w, nil))

			v.MustLogin(t, "k", "app", vaultToken(t, w))
			// Then a refusal, logged at info: once its line is in Vault's
			// log, so is any line the plugin wrote before it.
			realstack.ExpectDenied(t, v.Login(t, "k", "app", signRS256(t, newRSAKey(t), claimsFor(w.SA, time.Now().Add(5*time.Minute)))))
			realstack.WaitForLog(t, logPath, 20*time.Second, "login refused", "role=app", "reason=token_review_rejected")

			passed := realstack.LogHasLine(t, logPath, "[DEBUG]", "login passed", "role=app", "service_account="+w.Namespace+"/"+w.SA.Name, "token_review_duration=")
			if want := level == "debug"; passed != want {
				t.Fatalf("Vault at %s: the plugin's debug line \"login passed\" in its log: %v, want %v (log: %s)", level, passed, want, logPath)
			}
		})
	}
}

// startDevVault runs a dev Vault at the given log level on 127.0.0.1:port
// (and port+1), with its output in the returned log file and an empty
// plugin directory beside it, and stops it (by its PID) when the test ends.
func startDevVault(t *testing.T, level string, port int) (realstack.Vault, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "vault.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	cmd := exec.Command(stk.VaultBin, "server", "-dev",
		"-dev-root-token-id=root",
		fmt.Sprintf("-dev-listen-address=127.0.0.1:%d", port),
		"-dev-plugin-dir="+filepath.Join(dir, "plugins"),
		"-dev-no-store-token",
		"-log-level="+level)
	cmd.Env = realstack.CleanEnv()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// A session of its own: a Ctrl-C aimed at go test reaches only the test
	// binary, which then stops it here.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting a dev Vault at %s: %v", level, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	v := realstack.Vault{Addr: fmt.Sprintf("http://127.0.0.1:%d", port), Token: "root"}
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("the dev Vault at %s exited during startup; see %s", level, logPath)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		r, err := v.Do(ctx, realstack.HTTPClient, http.MethodGet, "sys/health", nil)
		cancel()
		if err == nil && r.Status == http.StatusOK {
			return v, logPath
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dev Vault at %s did not become ready; see %s", level, logPath)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// installIn registers the plugin binary in Vault v's catalog, as the suite
// does for the stack's Vault, and enables it at auth/k.
func installIn(t *testing.T, v realstack.Vault, pluginDir string) {
	t.Helper()
	sha, err := realstack.InstallPlugin(stk.PluginBin, pluginDir, pluginName)
	if err != nil {
		t.Fatal(err)
	}
	v.Must(t, http.MethodPost, "sys/plugins/catalog/auth/"+pluginName, map[string]any{
		"sha256": sha, "command": pluginName, "version": stk.pluginVersion,
	})
	v.Must(t, http.MethodPost, "sys/auth/k", map[string]any{
		"type": pluginName, "config": map[string]any{"plugin_version": stk.pluginVersion},
	})
	if r := v.Must(t, http.MethodGet, "sys/auth/k", nil); r.Data().Str("running_plugin_version") != stk.pluginVersion {
		t.Fatalf("auth/k does not run the plugin %s: %s", stk.pluginVersion, r)
	}
}
