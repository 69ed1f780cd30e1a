package ops

import (
	"net/http"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// The plugin process dies (SIGKILL by its PID, as the OOM killer would):
// Vault starts a new one and logins succeed again; a token issued by the
// dead process renews through the new one.
func TestPluginProcessKilled(t *testing.T) {
	t.Parallel()
	e := installPlugin(t, ops.Vault, ops.PluginDir, "kubeauth-kill", ops.plugin)
	mount := realstack.UniqueName(t, "k")
	enableAuth(t, ops.Vault, mount, e.name, e.version)
	ops.Vault.Must(t, http.MethodPost, "auth/"+mount+"/config", ops.ReviewerConfig(nil))
	w := ops.NewWorkload(t, "app", nil)
	ops.Vault.Must(t, http.MethodPost, "auth/"+mount+"/role/app", realstack.BindRole(w, map[string]any{"token_ttl": "10m"}))
	jwt := token(t, w)
	issued := ops.Vault.MustLogin(t, mount, "app", jwt)

	pids := childrenRunning(ops.devPID, e.exe)
	if len(pids) != 1 {
		t.Fatalf("want one process of %s under the dev Vault (pid %d), found %v", e.exe, ops.devPID, pids)
	}
	victim := pids[0]
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for processRunning(victim) {
		if time.Now().After(deadline) {
			t.Fatalf("plugin process %d still running 10 s after SIGKILL", victim)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Vault restarts a plugin lazily, when a request finds it shut down. A
	// request that reaches Vault in the instant between the process dying
	// and Vault's plugin client noticing gets an "internal error" instead
	// (Vault restarts only on its own "plugin shut down" error), so the
	// login is retried for a while and the attempts are reported.
	killed := time.Now()
	_, attempts, first := ops.Vault.LoginEventually(t, mount, "app", jwt, time.Minute)
	t.Logf("plugin process %d killed; login succeeded at attempt %d, %v later (first failure: %q)",
		victim, attempts, time.Since(killed).Round(time.Millisecond), first)
	now := childrenRunning(ops.devPID, e.exe)
	if len(now) != 1 || slices.Contains(now, victim) {
		t.Fatalf("want one new process of %s after the kill, found %v (killed %d)", e.exe, now, victim)
	}
	t.Logf("Vault restarted the plugin as pid %d", now[0])
	expectRunning(t, ops.Vault, mount, e)
	renewSelf(t, ops.Vault, issued, 600)
}
