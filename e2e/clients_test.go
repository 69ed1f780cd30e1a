package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
	k8sauth "github.com/hashicorp/vault/api/auth/kubernetes"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// Clients we did not write log in through the plugin: Vault's own Go
// package for this method, Vault's agent, and the vault CLI.

func TestClientVaultAPIAuthKubernetes(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "sdk", nil)
	m.bindRole(t, "sdk", w, map[string]any{"token_policies": "sdk-policy"})
	jwtFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(jwtFile, []byte(vaultToken(t, w)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for name, opt := range map[string]k8sauth.LoginOption{
		"token":      k8sauth.WithServiceAccountToken(vaultToken(t, w)),
		"token file": k8sauth.WithServiceAccountTokenPath(jwtFile),
	} {
		c := client(t, "")
		method, err := k8sauth.NewKubernetesAuth("sdk", opt, k8sauth.WithMountPath(m.path))
		if err != nil {
			t.Fatal(err)
		}
		secret, err := c.Auth().Login(ctx, method)
		if err != nil {
			t.Fatalf("%s: login: %v", name, err)
		}
		if secret.Auth == nil || c.Token() != secret.Auth.ClientToken {
			t.Fatalf("%s: the client did not take the login's token: %+v", name, secret)
		}
		expectLookup(t, c, "sdk", w, []string{"default", "sdk-policy"})
	}

	// A refusal reaches the package's caller as Vault's 403.
	other := stk.NewWorkload(t, "sdk", nil)
	method, err := k8sauth.NewKubernetesAuth("sdk", k8sauth.WithServiceAccountToken(vaultToken(t, other)), k8sauth.WithMountPath(m.path))
	if err != nil {
		t.Fatal(err)
	}
	_, err = client(t, "").Auth().Login(ctx, method)
	var re *vault.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
		t.Fatalf("login of an unbound service account: want a 403 ResponseError, got %v", err)
	}
}

// expectLookup checks, through the API package, that the client's token is
// one of role for workload w with the policies.
func expectLookup(t *testing.T, c *vault.Client, role string, w realstack.Workload, policies []string) {
	t.Helper()
	s, err := c.Auth().Token().LookupSelf()
	if err != nil {
		t.Fatalf("token lookup: %v", err)
	}
	meta := realstack.Object(s.Data).StringMap("meta")
	if meta["role"] != role || meta["service_account_uid"] != string(w.SA.UID) ||
		meta["service_account_namespace"] != w.Namespace {
		t.Errorf("token metadata %v is not role %s for %s/%s", meta, role, w.Namespace, w.SA.Name)
	}
	got, err := s.TokenPolicies()
	if err != nil || strings.Join(got, ",") != strings.Join(policies, ",") {
		t.Errorf("token policies %q (%v), want %q", got, err, policies)
	}
}

// Vault's agent with auto_auth method "kubernetes" reads the projected token
// from a file, logs in, and writes the Vault token to its file sink.
func TestClientVaultAgent(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "agent", nil)
	m.bindRole(t, "agent", w, map[string]any{"token_policies": "agent-policy", "token_ttl": "10m"})

	dir := t.TempDir()
	jwtFile := filepath.Join(dir, "token")
	sink := filepath.Join(dir, "sink")
	cfgFile := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(jwtFile, []byte(vaultToken(t, w)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
vault {
  address = %q
}
auto_auth {
  method "kubernetes" {
    mount_path = %q
    config = {
      role       = "agent"
      token_path = %q
    }
  }
  sink "file" {
    config = {
      path = %q
    }
  }
}
`, stk.Vault.Addr, "auth/"+m.path, jwtFile, sink)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	var log bytes.Buffer
	agent := exec.Command(stk.VaultBin, "agent", "-config="+cfgFile)
	// No VAULT_TOKEN from the environment: the agent must authenticate.
	agent.Env = append(os.Environ(), "VAULT_TOKEN=", "VAULT_ADDR="+stk.Vault.Addr)
	// One writer for both: exec then never calls it from two goroutines.
	agent.Stdout, agent.Stderr = &log, &log
	if err := agent.Start(); err != nil {
		t.Fatalf("starting vault agent: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- agent.Wait() }()
	t.Cleanup(func() {
		// Only the agent this test started, by its PID.
		_ = agent.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = agent.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("vault agent output:\n%s", log.String())
		}
	})

	deadline := time.Now().Add(time.Minute)
	var tok []byte
	for {
		tok, _ = os.ReadFile(sink)
		if len(bytes.TrimSpace(tok)) > 0 {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("vault agent exited before writing its sink: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("vault agent wrote no token to its sink within a minute")
		}
	}
	expectLookup(t, client(t, strings.TrimSpace(string(tok))), "agent", w, []string{"agent-policy", "default"})
}

// The README's path: the plugin mounted at auth/kubernetes and a login with
// `vault write auth/kubernetes/login role=... jwt=...`.
func TestClientVaultCLIAtAuthKubernetes(t *testing.T) {
	// Not parallel with itself only; the mount path is fixed, so it is
	// made and removed here and no other test uses it.
	t.Parallel()
	const path = "kubernetes"
	expectOK(t, root(t, http.MethodPost, "sys/auth/"+path, map[string]any{
		"type":   pluginName,
		"config": map[string]any{"plugin_version": stk.pluginVersion},
	}))
	t.Cleanup(func() { root(t, http.MethodDelete, "sys/auth/"+path, nil) })
	m := &mount{path: path}
	m.configure(t, nil)
	w := stk.NewWorkload(t, "cli", nil)
	m.bindRole(t, "cli", w, map[string]any{"token_policies": "cli-policy"})

	out := vaultCLI(t, stk.root.Token(), "write", "-field=token", "auth/kubernetes/login", "role=cli", "jwt="+vaultToken(t, w))
	expectLookup(t, client(t, strings.TrimSpace(out)), "cli", w, []string{"cli-policy", "default"})

	// The CLI shows a refusal as Vault's 403.
	other := stk.NewWorkload(t, "cli", nil)
	cmd := exec.Command(stk.VaultBin, "write", "auth/kubernetes/login", "role=cli", "jwt="+vaultToken(t, other))
	cmd.Env = append(os.Environ(), "VAULT_ADDR="+stk.Vault.Addr, "VAULT_TOKEN=")
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "Code: 403") || !strings.Contains(string(b), "permission denied") {
		t.Fatalf("vault write login for an unbound account: want code 403 permission denied, got %v:\n%s", err, b)
	}
}

// vaultCLI runs the stack's vault binary against the stack.
func vaultCLI(t *testing.T, token string, args ...string) string {
	t.Helper()
	cmd := exec.Command(stk.VaultBin, args...)
	cmd.Env = append(os.Environ(), "VAULT_ADDR="+stk.Vault.Addr, "VAULT_TOKEN="+token)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("vault %s: %v\n%s", args[0], err, stderr.String())
	}
	return string(out)
}
