package ops

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// loginOutcome is what a login grants, to compare the built-in method's
// answer with the plugin's for the same role and service account.
type loginOutcome struct {
	Policies  []string          `json:"policies"`
	Metadata  map[string]string `json:"metadata"`
	EntityID  string            `json:"entity_id"`
	TokenType string            `json:"token_type"`
	Lease     int64             `json:"lease_duration"`
	Renewable bool              `json:"renewable"`
}

func outcomeOf(t *testing.T, r *realstack.Reply) (loginOutcome, string) {
	t.Helper()
	if r.Status != http.StatusOK || r.Auth().Str("client_token") == "" {
		t.Fatalf("want HTTP 200 with a client token, got %s", r)
	}
	b, _ := json.Marshal(r.Auth())
	var o loginOutcome
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	return o, r.Auth().Str("client_token")
}

// A mount created with Vault's built-in kubernetes method, configured and
// given roles through it, is switched to this plugin the way Vault upgrades
// a built-in plugin to an external one: the plugin registered under the
// built-in's name with a version, the mount tuned to that version and
// reloaded. Every role then logs in with the same policies, metadata,
// entity and token shape, and a token the built-in method issued renews.
func TestSwitchOverFromBuiltin(t *testing.T) {
	t.Parallel()
	mount := realstack.UniqueName(t, "k")
	enableAuth(t, ops.Vault, mount, "kubernetes", "")
	typ, version, _ := mountInfo(t, ops.Vault, mount)
	if typ != "kubernetes" || !strings.HasSuffix(version, "+builtin") {
		t.Fatalf("auth/%s runs %s %s, want Vault's built-in kubernetes method", mount, typ, version)
	}

	ops.Vault.Must(t, http.MethodPost, "auth/"+mount+"/config",
		ops.ReviewerConfig(map[string]any{"disable_iss_validation": false, "issuer": ops.SAIssuer}))
	app := ops.NewWorkload(t, "app", nil)
	blue := ops.NewWorkload(t, "worker", map[string]string{"team": "blue"})
	roles := map[string]map[string]any{
		"by-name": realstack.BindRole(app, map[string]any{
			"token_policies": []string{"app"}, "token_ttl": "10m", "token_max_ttl": "1h",
		}),
		"any-name": {
			"bound_service_account_names":      []string{"*"},
			"bound_service_account_namespaces": []string{app.Namespace},
			"audience":                         "vault",
			"alias_name_source":                "serviceaccount_name",
			"token_policies":                   []string{"any"},
		},
		"selector": {
			"bound_service_account_names":              []string{"worker"},
			"bound_service_account_namespace_selector": `{"matchLabels":{"team":"blue"}}`,
			"audience":       "vault",
			"token_policies": []string{"team"},
		},
		// The deprecated field names, as roles written years ago have them.
		"legacy": realstack.BindRole(app, map[string]any{
			"policies": []string{"legacy"}, "ttl": "5m", "max_ttl": "30m", "bound_cidrs": []string{"127.0.0.0/8"},
		}),
		"batch": realstack.BindRole(app, map[string]any{
			"token_type": "batch", "token_ttl": "2m", "token_bound_cidrs": []string{"127.0.0.1/32"},
		}),
		// No audience: the TokenReview checks the API server's own audience.
		"no-audience": {
			"bound_service_account_names":      []string{"app"},
			"bound_service_account_namespaces": []string{app.Namespace},
			"token_policies":                   []string{"plain"},
		},
	}
	for name, body := range roles {
		ops.Vault.Must(t, http.MethodPost, "auth/"+mount+"/role/"+name, body)
	}
	appVault := token(t, app)
	plainTok, err := ops.RequestToken(realstack.KubeCtx(t), app.Namespace, app.SA.Name, realstack.TokenOptions{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	jwts := map[string]string{
		"by-name": appVault, "any-name": appVault, "selector": token(t, blue),
		"legacy": appVault, "batch": appVault, "no-audience": plainTok,
	}

	builtin := map[string]loginOutcome{}
	var builtinToken string
	for name := range roles {
		o, tok := outcomeOf(t, ops.Vault.Login(t, mount, name, jwts[name]))
		// Empty fields on both sides would compare equal and prove nothing.
		if o.EntityID == "" || o.Metadata["service_account_uid"] == "" || len(o.Policies) == 0 {
			t.Fatalf("role %s: the built-in method's login lacks an entity, metadata or policies: %+v", name, o)
		}
		builtin[name] = o
		if name == "by-name" {
			builtinToken = tok
		}
	}

	e := installPlugin(t, ops.Vault, ops.PluginDir, "kubernetes", ops.plugin)
	vaultCLI(t, ops.Vault, "auth", "tune", "-plugin-version="+e.version, mount)
	// `vault plugin reload -mounts=...` of Vault 1.21.1 sends a root-namespace
	// reload to sys/plugins/reload/unknown (404) and ignores -mounts; the
	// by-name form works, and only this test's mount uses this name.
	vaultCLI(t, ops.Vault, "plugin", "reload", "-type=auth", "-plugin="+"kubernetes")
	expectRunning(t, ops.Vault, mount, e)

	for name := range roles {
		t.Run(name, func(t *testing.T) {
			got, _ := outcomeOf(t, ops.Vault.Login(t, mount, name, jwts[name]))
			want := builtin[name]
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(want)
			if string(gb) != string(wb) {
				t.Errorf("role %s: the plugin grants\n  %s\nthe built-in method granted\n  %s", name, gb, wb)
			}
		})
	}
	renewSelf(t, ops.Vault, builtinToken, 600)
}
