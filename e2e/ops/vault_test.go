package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// expectFault checks an HTTP 500 with the generic fault message, and that
// Vault's log, never the reply, names every given fragment.
func expectFault(t *testing.T, r *realstack.Reply, fragments ...string) {
	t.Helper()
	if r.Status != http.StatusInternalServerError || r.Auth() != nil {
		t.Fatalf("want HTTP 500, got %s", r)
	}
	// The login path is unauthenticated: the caller is told only that
	// Kubernetes could not be reached or refused the check; what happened
	// (the API's address, the TLS or permission problem) is in Vault's log.
	if !strings.Contains(r.ErrorText(), "the Kubernetes API could not be reached or refused the check") {
		t.Fatalf("the error of %s is not the generic one", r)
	}
	for _, f := range fragments {
		if strings.Contains(r.ErrorText(), f) {
			t.Fatalf("the error of %s reveals %q to the unauthenticated caller", r, f)
		}
	}
	realstack.WaitForLog(t, ops.VaultLogPath(), 10*time.Second, fragments...)
}

// ---------------------------------------------------------------------------
// Plugins and mounts.

// catalogEntry is one registration of the plugin: its own catalog name so
// that Vault runs it in a process of its own (Vault shares a plugin process
// only between mounts of the same name, version, command and env), and its
// own file so that process can be told apart from the others by its
// executable.
type catalogEntry struct {
	name    string
	version string
	command string // file name in the plugin directory
	exe     string // absolute path of that file
	sha256  string
	env     []string
}

// installPlugin copies bin into pluginDir and registers it in v's catalog
// under name, with bin's version and the given environment:
// `vault plugin register -sha256 -version -command -env auth NAME`.
func installPlugin(t *testing.T, v realstack.Vault, pluginDir, name string, bin pluginBuild, env ...string) catalogEntry {
	t.Helper()
	e := catalogEntry{
		name:    name,
		version: bin.version,
		command: name + "-" + bin.version,
		env:     env,
	}
	e.exe = filepath.Join(pluginDir, e.command)
	sha, err := realstack.InstallPlugin(bin.path, pluginDir, e.command)
	if err != nil {
		t.Fatal(err)
	}
	e.sha256 = sha
	args := []string{"plugin", "register", "-sha256=" + e.sha256, "-version=" + e.version, "-command=" + e.command}
	for _, kv := range env {
		args = append(args, "-env="+kv)
	}
	vaultCLI(t, v, append(args, "auth", name)...)
	return e
}

// vaultCLI runs Vault's own command line against v, for the steps an
// operator types (plugin register, auth tune, plugin reload, operator
// step-down), and returns its output.
func vaultCLI(t *testing.T, v realstack.Vault, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ops.VaultBin, args...)
	cmd.Env = append(realstack.CleanEnv(), "VAULT_ADDR="+v.Addr, "VAULT_TOKEN="+v.Token, "VAULT_FORMAT=json")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("vault %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// enableAuth mounts a method (a catalog name, or "kubernetes" for Vault's
// built-in one when version is "") at path.
func enableAuth(t *testing.T, v realstack.Vault, path, typ, version string) {
	t.Helper()
	body := map[string]any{"type": typ}
	if version != "" {
		body["config"] = map[string]any{"plugin_version": version}
	}
	v.Must(t, http.MethodPost, "sys/auth/"+path, body)
}

// mountInfo is what Vault says runs a mount: type, version and sha256.
func mountInfo(t *testing.T, v realstack.Vault, path string) (typ, version, sha string) {
	t.Helper()
	d := v.Must(t, http.MethodGet, "sys/auth/"+path, nil).Data()
	return d.Str("type"), d.Str("running_plugin_version"), d.Str("running_sha256")
}

// expectRunning fails unless the mount runs exactly this catalog entry.
func expectRunning(t *testing.T, v realstack.Vault, path string, e catalogEntry) {
	t.Helper()
	typ, version, sha := mountInfo(t, v, path)
	if typ != e.name || version != e.version || sha != e.sha256 {
		t.Fatalf("auth/%s runs %s %s (sha256 %s), want %s %s (sha256 %s)", path, typ, version, sha, e.name, e.version, e.sha256)
	}
}

// snapshot reads a mount's config and the given roles, to compare before
// and after an event that must not change them.
func snapshot(t *testing.T, v realstack.Vault, mount string, roles ...string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{"config": v.Must(t, http.MethodGet, "auth/"+mount+"/config", nil).Data()}
	for _, r := range roles {
		out["role/"+r] = v.Must(t, http.MethodGet, "auth/"+mount+"/role/"+r, nil).Data()
	}
	list := v.Must(t, "LIST", "auth/"+mount+"/role", nil).Data()
	got := list.Strs("keys")
	slices.Sort(got)
	want := slices.Clone(roles)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("auth/%s lists roles %q, want %q", mount, got, want)
	}
	return out
}

// expectSameSnapshot fails on any difference, naming the key and field.
func expectSameSnapshot(t *testing.T, what string, before, after map[string]map[string]any) {
	t.Helper()
	for key, b := range before {
		a := after[key]
		bj, _ := json.Marshal(b)
		aj, _ := json.Marshal(a)
		if !bytes.Equal(bj, aj) {
			t.Errorf("%s changed %s:\nbefore: %s\nafter:  %s", what, key, bj, aj)
		}
	}
}

// renewSelf renews a token with itself and checks the lease it got back.
func renewSelf(t *testing.T, v realstack.Vault, token string, wantTTL int64) {
	t.Helper()
	r := v.WithToken(token).Call(t, http.MethodPost, "auth/token/renew-self", map[string]any{})
	if r.Status != http.StatusOK || r.Auth().Str("client_token") != token || r.Auth().Num("lease_duration") != wantTTL {
		t.Fatalf("renew-self: want HTTP 200 renewing the same token for %d s, got %s", wantTTL, r)
	}
}

// lookupSelf checks a token is still known and valid, and returns its data.
func lookupSelf(t *testing.T, v realstack.Vault, token string) realstack.Object {
	t.Helper()
	r := v.WithToken(token).Call(t, http.MethodGet, "auth/token/lookup-self", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("lookup-self: want HTTP 200, got %s", r)
	}
	return r.Data()
}
