package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// vaultAPI is one Vault server's HTTP API and the token to call it with.
type vaultAPI struct {
	addr  string
	token string
}

// reply is one HTTP exchange with Vault, what a curl user would see.
type reply struct {
	req     string
	status  int
	raw     []byte
	body    map[string]any
	elapsed time.Duration
}

func (r *reply) String() string {
	return fmt.Sprintf("%s -> HTTP %d %s (%v)", r.req, r.status, bytes.TrimSpace(r.raw), r.elapsed.Round(time.Millisecond))
}

func (r *reply) errorText() string {
	var out []string
	list, _ := r.body["errors"].([]any)
	for _, e := range list {
		out = append(out, fmt.Sprint(e))
	}
	return strings.Join(out, "\n")
}

func (r *reply) data() map[string]any {
	d, _ := r.body["data"].(map[string]any)
	return d
}

func (r *reply) auth() map[string]any {
	a, _ := r.body["auth"].(map[string]any)
	return a
}

func (r *reply) ok() bool { return r.status == http.StatusOK || r.status == http.StatusNoContent }

var httpClient = &http.Client{Timeout: 60 * time.Second}

// do sends one request and returns Vault's answer; a 4xx or 5xx is an
// answer, not an error. Errors are transport failures only.
func (v vaultAPI) do(ctx context.Context, client *http.Client, method, path string, body any) (*reply, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, v.addr+"/v1/"+path, rd)
	if err != nil {
		return nil, err
	}
	if v.token != "" {
		req.Header.Set("X-Vault-Token", v.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s%s: %w", method, v.addr, "/v1/"+path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("%s /v1/%s: reading the reply: %w", method, path, err)
	}
	r := &reply{req: method + " " + v.addr + "/v1/" + path, status: resp.StatusCode, raw: raw, elapsed: time.Since(start)}
	if len(bytes.TrimSpace(raw)) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			return nil, fmt.Errorf("%s: reply is not JSON: %w", r, err)
		}
	}
	return r, nil
}

// call is do for a test: a transport failure fails the test.
func (v vaultAPI) call(t *testing.T, method, path string, body any) *reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := v.do(ctx, httpClient, method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// must calls and fails the test unless Vault answers 200 or 204.
func (v vaultAPI) must(t *testing.T, method, path string, body any) *reply {
	t.Helper()
	r := v.call(t, method, path, body)
	if !r.ok() {
		t.Fatalf("want HTTP 200/204, got %s", r)
	}
	return r
}

func (v vaultAPI) withToken(token string) vaultAPI { return vaultAPI{addr: v.addr, token: token} }

// client is Vault's own Go client for the sys calls it covers well.
func (v vaultAPI) client(t *testing.T) *vault.Client {
	t.Helper()
	cfg := vault.DefaultConfig()
	cfg.Address = v.addr
	cfg.MaxRetries = 0
	c, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(v.token)
	return c
}

// login is `vault write auth/<mount>/login role=... jwt=...`: no token.
func (v vaultAPI) login(t *testing.T, mount, role, jwt string) *reply {
	t.Helper()
	return v.withToken("").call(t, http.MethodPost, "auth/"+mount+"/login", map[string]any{"role": role, "jwt": jwt})
}

// mustLogin logs in and returns the client token.
func (v vaultAPI) mustLogin(t *testing.T, mount, role, jwt string) string {
	t.Helper()
	r := v.login(t, mount, role, jwt)
	tok := str(r.auth(), "client_token")
	if r.status != http.StatusOK || tok == "" {
		t.Fatalf("login with role %q: want HTTP 200 with a client token, got %s", role, r)
	}
	return tok
}

// loginEventually retries a login until it succeeds or the window closes:
// for the moments when Vault itself is still recovering (a new leader, a
// restarted plugin). It returns the token, the attempts made and the first
// failure seen.
func (v vaultAPI) loginEventually(t *testing.T, mount, role, jwt string, window time.Duration) (string, int, string) {
	t.Helper()
	deadline := time.Now().Add(window)
	var first, last string
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		r, err := v.withToken("").do(ctx, httpClient, http.MethodPost, "auth/"+mount+"/login", map[string]any{"role": role, "jwt": jwt})
		cancel()
		switch {
		case err != nil:
			last = err.Error()
		case r.status == http.StatusOK && str(r.auth(), "client_token") != "":
			return str(r.auth(), "client_token"), attempt, first
		default:
			last = r.String()
		}
		if first == "" {
			first = last
		}
		if time.Now().After(deadline) {
			t.Fatalf("login with role %q through %s still failing after %v and %d attempts; last: %s", role, v.addr, window, attempt, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// expectDenied checks the answer to a failed authentication.
func expectDenied(t *testing.T, r *reply) {
	t.Helper()
	if r.status != http.StatusForbidden || r.errorText() != "permission denied" || r.auth() != nil {
		t.Fatalf(`want HTTP 403 {"errors":["permission denied"]}, got %s`, r)
	}
}

// expectFault checks an HTTP 500 whose error names every given fragment.
func expectFault(t *testing.T, r *reply, fragments ...string) {
	t.Helper()
	if r.status != http.StatusInternalServerError || r.auth() != nil {
		t.Fatalf("want HTTP 500, got %s", r)
	}
	for _, f := range fragments {
		if !strings.Contains(r.errorText(), f) {
			t.Fatalf("the error of %s does not say %q", r, f)
		}
	}
}

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func strs(m map[string]any, key string) []string {
	var out []string
	list, _ := m[key].([]any)
	for _, v := range list {
		out = append(out, fmt.Sprint(v))
	}
	return out
}

func num(m map[string]any, key string) int64 {
	f, _ := m[key].(float64)
	return int64(f)
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
func installPlugin(t *testing.T, v vaultAPI, pluginDir, name string, bin pluginBuild, env ...string) catalogEntry {
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
func vaultCLI(t *testing.T, v vaultAPI, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ops.VaultBin, args...)
	cmd.Env = append(realstack.CleanEnv(), "VAULT_ADDR="+v.addr, "VAULT_TOKEN="+v.token, "VAULT_FORMAT=json")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("vault %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// enableAuth mounts a method (a catalog name, or "kubernetes" for Vault's
// built-in one when version is "") at path.
func enableAuth(t *testing.T, v vaultAPI, path, typ, version string) {
	t.Helper()
	body := map[string]any{"type": typ}
	if version != "" {
		body["config"] = map[string]any{"plugin_version": version}
	}
	v.must(t, http.MethodPost, "sys/auth/"+path, body)
}

// mountInfo is what Vault says runs a mount: type, version and sha256.
func mountInfo(t *testing.T, v vaultAPI, path string) (typ, version, sha string) {
	t.Helper()
	d := v.must(t, http.MethodGet, "sys/auth/"+path, nil).data()
	return str(d, "type"), str(d, "running_plugin_version"), str(d, "running_sha256")
}

// expectRunning fails unless the mount runs exactly this catalog entry.
func expectRunning(t *testing.T, v vaultAPI, path string, e catalogEntry) {
	t.Helper()
	typ, version, sha := mountInfo(t, v, path)
	if typ != e.name || version != e.version || sha != e.sha256 {
		t.Fatalf("auth/%s runs %s %s (sha256 %s), want %s %s (sha256 %s)", path, typ, version, sha, e.name, e.version, e.sha256)
	}
}

// reviewerConfig is a complete config for the stack's apiserver.
func reviewerConfig(extra map[string]any) map[string]any {
	cfg := map[string]any{
		"kubernetes_host":    ops.KubeHost,
		"kubernetes_ca_cert": ops.KubeCA,
		"token_reviewer_jwt": ops.ReviewerJWT,
	}
	maps.Copy(cfg, extra)
	return cfg
}

// bindRole is a role body binding exactly this service account, for the
// audience "vault", with extra fields added or replaced.
func bindRole(w workload, extra map[string]any) map[string]any {
	r := map[string]any{
		"bound_service_account_names":      []string{w.sa},
		"bound_service_account_namespaces": []string{w.namespace},
		"audience":                         "vault",
	}
	maps.Copy(r, extra)
	return r
}

// snapshot reads a mount's config and the given roles, to compare before
// and after an event that must not change them.
func snapshot(t *testing.T, v vaultAPI, mount string, roles ...string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{"config": v.must(t, http.MethodGet, "auth/"+mount+"/config", nil).data()}
	for _, r := range roles {
		out["role/"+r] = v.must(t, http.MethodGet, "auth/"+mount+"/role/"+r, nil).data()
	}
	list := v.must(t, "LIST", "auth/"+mount+"/role", nil).data()
	got := strs(list, "keys")
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
func renewSelf(t *testing.T, v vaultAPI, token string, wantTTL int64) {
	t.Helper()
	r := v.withToken(token).call(t, http.MethodPost, "auth/token/renew-self", map[string]any{})
	if r.status != http.StatusOK || str(r.auth(), "client_token") != token || num(r.auth(), "lease_duration") != wantTTL {
		t.Fatalf("renew-self: want HTTP 200 renewing the same token for %d s, got %s", wantTTL, r)
	}
}

// lookupSelf checks a token is still known and valid, and returns its data.
func lookupSelf(t *testing.T, v vaultAPI, token string) map[string]any {
	t.Helper()
	r := v.withToken(token).call(t, http.MethodGet, "auth/token/lookup-self", nil)
	if r.status != http.StatusOK {
		t.Fatalf("lookup-self: want HTTP 200, got %s", r)
	}
	return r.data()
}
