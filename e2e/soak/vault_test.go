package soak

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// soakVault is a Vault server with file storage, so that stopping and
// starting it (the vault-restart fault) keeps the mount, its config, roles
// and the tokens it issued, as a production Vault does. It is initialized
// with one unseal key, which the soak keeps to unseal it after a restart.
type soakVault struct {
	api       realstack.Vault
	cfgPath   string
	logPath   string
	unsealKey string
	proc      *realstack.Process
}

// newSoakVault writes the server's config into dir.
func newSoakVault(dir, pluginDir string, port int) (*soakVault, error) {
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, err
	}
	v := &soakVault{
		api:     realstack.Vault{Addr: fmt.Sprintf("http://127.0.0.1:%d", port)},
		cfgPath: filepath.Join(dir, "vault.hcl"),
		logPath: filepath.Join(dir, "vault.log"),
	}
	cfg := fmt.Sprintf(`storage "file" { path = %q }
listener "tcp" {
  address     = "127.0.0.1:%d"
  tls_disable = true
}
api_addr         = "http://127.0.0.1:%d"
cluster_addr     = "http://127.0.0.1:%d"
plugin_directory = %q
disable_mlock    = true
log_level        = "info"
`, filepath.Join(dir, "data"), port, port, port+1, pluginDir)
	return v, os.WriteFile(v.cfgPath, []byte(cfg), 0o600)
}

// start runs the server and waits until its API answers (sealed or not).
func (v *soakVault) start(ctx context.Context) error {
	p, err := stk.Procs.Start("vault-soak", v.logPath, []string{stk.VaultBin, "server", "-config", v.cfgPath}, realstack.CleanEnv())
	if err != nil {
		return err
	}
	v.proc = p
	return v.waitHealth(ctx, func(int) bool { return true })
}

// initialize is `vault operator init -key-shares=1 -key-threshold=1`; the
// root token becomes the soak's.
func (v *soakVault) initialize(ctx context.Context) error {
	r, err := v.api.WithToken("").Do(ctx, realstack.HTTPClient, http.MethodPut, "sys/init", map[string]any{"secret_shares": 1, "secret_threshold": 1})
	if err != nil {
		return err
	}
	keys := r.Body.Strs("keys_base64")
	if !r.OK() || len(keys) != 1 || r.Body.Str("root_token") == "" {
		return fmt.Errorf("sys/init: %s", r)
	}
	v.unsealKey, v.api.Token = keys[0], r.Body.Str("root_token")
	return nil
}

// unseal unseals it with the kept key and waits until it is active.
func (v *soakVault) unseal(ctx context.Context) error {
	r, err := v.api.WithToken("").Do(ctx, realstack.HTTPClient, http.MethodPut, "sys/unseal", map[string]any{"key": v.unsealKey})
	if err != nil {
		return err
	}
	if !r.OK() {
		return fmt.Errorf("sys/unseal: %s", r)
	}
	return v.waitHealth(ctx, func(status int) bool { return status == http.StatusOK })
}

// stop is an operator's restart's first half: SIGTERM, and wait.
func (v *soakVault) stop() {
	if v.proc != nil {
		v.proc.Stop(30 * time.Second)
	}
}

// waitHealth polls sys/health until its status satisfies ok (200 active,
// 501 not initialized, 503 sealed), for up to 90 s.
func (v *soakVault) waitHealth(ctx context.Context, ok func(status int) bool) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 3 * time.Second}
	last := "no answer"
	for {
		if !v.proc.Running() {
			return fmt.Errorf("vault exited\n%s", v.proc.LogTail(30))
		}
		r, err := v.api.WithToken("").Do(ctx, client, http.MethodGet, "sys/health", nil)
		if err == nil {
			if ok(r.Status) {
				return nil
			}
			last = r.String()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for vault's health (last: %s): %w\n%s", last, ctx.Err(), v.proc.LogTail(30))
		case <-time.After(200 * time.Millisecond):
		}
	}
}
