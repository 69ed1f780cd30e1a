package ops

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// A production Vault (integrated storage on disk, not dev mode) is
// restarted: it comes back sealed, and once unsealed the mount, its config
// and roles are all there, logins work and tokens issued before the restart
// are still valid and renew, with nothing reconfigured.
func TestPersistenceAcrossRestart(t *testing.T) {
	t.Parallel()
	n := newVaultNode(t, "persist", ops.persistentVaultPort())
	n.start(t)
	rootToken, key := n.initialize(t)
	n.api = n.api.WithToken(rootToken)
	n.unseal(t, key)
	n.waitFor(t, "active", 2*time.Minute, health.active)

	e := installPlugin(t, n.api, n.pluginDir, realstack.PluginName, ops.plugin)
	const mount = "kubernetes"
	enableAuth(t, n.api, mount, e.name, e.version)
	n.api.Must(t, http.MethodPost, "auth/"+mount+"/config",
		ops.ReviewerConfig(map[string]any{"disable_iss_validation": false, "issuer": ops.SAIssuer}))
	app := ops.NewWorkload(t, "app", nil)
	team := ops.NewWorkload(t, "worker", map[string]string{"team": "blue"})
	n.api.Must(t, http.MethodPost, "auth/"+mount+"/role/app",
		realstack.BindRole(app, map[string]any{"token_policies": []string{"app"}, "token_ttl": "10m", "token_max_ttl": "1h"}))
	n.api.Must(t, http.MethodPost, "auth/"+mount+"/role/team", map[string]any{
		"bound_service_account_names":              []string{"worker"},
		"bound_service_account_namespace_selector": `{"matchLabels":{"team":"blue"}}`,
		"audience":       "vault",
		"token_policies": []string{"team"},
	})
	appJWT := token(t, app)
	before := n.api.MustLogin(t, mount, "app", appJWT)
	n.api.MustLogin(t, mount, "team", token(t, team))
	snap := snapshot(t, n.api, mount, "app", "team")

	stopped := time.Now()
	n.stop()
	n.start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	h, err := n.health(ctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if !h.Initialized || !h.Sealed {
		t.Fatalf("after a restart Vault is %s, want initialized and sealed (state on disk)", h)
	}
	n.unseal(t, key)
	n.waitFor(t, "active", 2*time.Minute, health.active)
	t.Logf("restarted and unsealed in %v", time.Since(stopped).Round(100*time.Millisecond))

	expectRunning(t, n.api, mount, e)
	expectSameSnapshot(t, "the restart", snap, snapshot(t, n.api, mount, "app", "team"))
	n.api.MustLogin(t, mount, "app", appJWT)
	n.api.MustLogin(t, mount, "team", token(t, team))
	if got := lookupSelf(t, n.api, before).Strs("policies"); len(got) != 2 || got[0] != "app" || got[1] != "default" {
		t.Errorf("token issued before the restart has policies %q, want [app default]", got)
	}
	renewSelf(t, n.api, before, 600)
}
