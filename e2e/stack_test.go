package e2e

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	vault "github.com/hashicorp/vault/api"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// settings say where the suite's own stack lives. They are read from E2E_*
// variables, never from STACK_DIR or the *_PORT variables: `make` exports
// those for the demo's stack, which the suite must not touch.
type settings struct {
	repoRoot      string
	stackDir      string
	etcdPort      string
	kubePort      string
	vaultPort     string
	pluginBin     string
	pluginVersion string
	keepStack     bool
}

func settingsFromEnv() settings {
	root, err := filepath.Abs("..")
	if err != nil {
		root = ".."
	}
	s := settings{
		repoRoot:      root,
		stackDir:      envOr("E2E_STACK_DIR", filepath.Join(os.TempDir(), "kubeauth-e2e")),
		etcdPort:      envOr("E2E_ETCD_PORT", "12379"),
		kubePort:      envOr("E2E_KUBE_PORT", "16443"),
		vaultPort:     envOr("E2E_VAULT_PORT", "18200"),
		pluginBin:     envOr("PLUGIN_BIN", filepath.Join(root, "bin", "vault-plugin-auth-kubernetes")),
		pluginVersion: os.Getenv("PLUGIN_VERSION"),
		keepStack:     os.Getenv("E2E_KEEP_STACK") == "1",
	}
	return s
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// pluginName is the catalog name the suite registers the binary under: not
// "kubernetes", so Vault's built-in method stays available beside it and no
// test can pass by reaching the built-in one by mistake.
const pluginName = "vault-plugin-auth-kubernetes"

// stack is a running stack and what the tests need to reach it.
type stack struct {
	settings
	env map[string]string // the stack's env file (VAULT_ADDR, KUBECONFIG, ...)

	vaultAddr string
	vaultBin  string
	root      *vault.Client // root token
	kube      *kubernetes.Clientset
	kubeHost  string
	kubeCA    string // PEM of the apiserver's serving CA
	saIssuer  string
	saKey     *rsa.PrivateKey // the apiserver's service-account signing key
	saPubPEM  string

	pluginSHA   string
	reviewerJWT string
}

// startStack builds what is missing, starts a fresh stack, registers the
// plugin and creates the token reviewer. A non-nil stack is returned as soon
// as processes may have been started, so the caller can always stop it.
func startStack(set settings) (*stack, error) {
	s := &stack{settings: set}
	if err := s.ensurePlugin(); err != nil {
		return nil, err
	}
	// A no-op (a second) when the binaries are cached; the first build on a
	// fresh machine takes a while and says so.
	if err := s.script(os.Stderr, "build-stack.sh"); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := s.script(&out, "stack-up.sh", "--restart"); err != nil {
		os.Stderr.Write(out.Bytes())
		return s, err
	}
	if err := s.loadEnv(); err != nil {
		return s, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.registerPlugin(ctx); err != nil {
		return s, err
	}
	if err := s.createReviewer(ctx); err != nil {
		return s, err
	}
	return s, nil
}

// stop runs stack-down.sh for the suite's state directory; E2E_KEEP_STACK=1
// leaves the stack up to poke at after a failure.
func (s *stack) stop() {
	if s.keepStack {
		fmt.Fprintf(os.Stderr, "e2e: E2E_KEEP_STACK=1: stack left up; source %s/env, stop with STACK_DIR=%s scripts/stack-down.sh\n",
			s.stackDir, s.stackDir)
		return
	}
	var out bytes.Buffer
	if err := s.script(&out, "stack-down.sh"); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: stopping the stack: %v\n%s", err, out.Bytes())
	}
}

// script runs scripts/<name> with the suite's stack settings.
func (s *stack) script(out io.Writer, name string, args ...string) error {
	cmd := exec.Command(filepath.Join(s.repoRoot, "scripts", name), args...)
	cmd.Env = append(os.Environ(),
		"STACK_DIR="+s.stackDir,
		"ETCD_PORT="+s.etcdPort,
		"ETCD_PEER_PORT=",
		"KUBE_PORT="+s.kubePort,
		"VAULT_PORT="+s.vaultPort,
	)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("scripts/%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// ensurePlugin finds the plugin binary (building it when missing) and the
// version it reports, which is the version the catalog must record.
func (s *stack) ensurePlugin() error {
	if _, err := os.Stat(s.pluginBin); errors.Is(err, os.ErrNotExist) {
		cmd := exec.Command("make", "-C", s.repoRoot, "--no-print-directory", "build")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building the plugin: %w", err)
		}
	}
	if s.pluginVersion == "" {
		out, err := exec.Command("make", "-s", "-C", s.repoRoot, "--no-print-directory", "print-version").Output()
		if err != nil {
			return fmt.Errorf("make print-version: %w", err)
		}
		s.pluginVersion = strings.TrimSpace(string(out))
	}
	return nil
}

// loadEnv reads the env file stack-up.sh wrote by letting bash source it,
// so its quoting rules are bash's own.
func (s *stack) loadEnv() error {
	keys := []string{"VAULT_ADDR", "VAULT_TOKEN", "VAULT_BIN", "VAULT_PLUGIN_DIR", "KUBECONFIG",
		"KUBE_HOST", "KUBE_CA_FILE", "KUBE_SA_ISSUER", "KUBE_SA_SIGNING_KEY", "KUBE_SA_PUBLIC_KEY"}
	script := `. "$1" || exit 1; shift; for k in "$@"; do printf '%s=%s\0' "$k" "${!k}"; done`
	out, err := exec.Command("bash", append([]string{"-c", script, "env", filepath.Join(s.stackDir, "env")}, keys...)...).Output()
	if err != nil {
		return fmt.Errorf("reading %s/env: %w", s.stackDir, err)
	}
	s.env = map[string]string{}
	for _, kv := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		if v == "" {
			return fmt.Errorf("%s/env does not set %s", s.stackDir, k)
		}
		s.env[k] = v
	}

	s.vaultAddr, s.vaultBin = s.env["VAULT_ADDR"], s.env["VAULT_BIN"]
	s.kubeHost, s.saIssuer = s.env["KUBE_HOST"], s.env["KUBE_SA_ISSUER"]
	if s.root, err = newVaultClient(s.vaultAddr, s.env["VAULT_TOKEN"]); err != nil {
		return err
	}
	ca, err := os.ReadFile(s.env["KUBE_CA_FILE"])
	if err != nil {
		return err
	}
	s.kubeCA = string(ca)
	pub, err := os.ReadFile(s.env["KUBE_SA_PUBLIC_KEY"])
	if err != nil {
		return err
	}
	s.saPubPEM = string(pub)
	if s.saKey, err = loadRSAKey(s.env["KUBE_SA_SIGNING_KEY"]); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", s.env["KUBECONFIG"])
	if err != nil {
		return fmt.Errorf("loading %s: %w", s.env["KUBECONFIG"], err)
	}
	// Many parallel tests share one client; client-go's default of 5 QPS
	// would make them queue behind each other for no reason.
	cfg.QPS, cfg.Burst = 200, 400
	s.kube, err = kubernetes.NewForConfig(cfg)
	return err
}

// registerPlugin copies the binary into Vault's plugin directory and records
// it in the catalog with its sha256 and version, the way an operator does.
func (s *stack) registerPlugin(ctx context.Context) error {
	bin, err := os.ReadFile(s.pluginBin)
	if err != nil {
		return fmt.Errorf("reading the plugin binary: %w", err)
	}
	sum := sha256.Sum256(bin)
	s.pluginSHA = hex.EncodeToString(sum[:])
	dst := filepath.Join(s.env["VAULT_PLUGIN_DIR"], pluginName)
	if err := os.WriteFile(dst, bin, 0o755); err != nil {
		return err
	}
	err = s.root.Sys().RegisterPluginWithContext(ctx, &vault.RegisterPluginInput{
		Name:    pluginName,
		Type:    vault.PluginTypeCredential,
		Command: pluginName,
		SHA256:  s.pluginSHA,
		Version: s.pluginVersion,
	})
	if err != nil {
		return fmt.Errorf("registering %s %s: %w", pluginName, s.pluginVersion, err)
	}
	return nil
}
