package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// stk is the running stack every test talks to; TestMain sets it before any
// test runs and nothing writes it afterwards.
var stk *suite

// pluginName is the catalog name the suite registers the binary under.
const pluginName = realstack.PluginName

// suite is the stack and what this suite adds to it: Vault's Go client with
// the root token, and the plugin as registered in the catalog.
type suite struct {
	*realstack.Stack
	root          *vault.Client
	pluginVersion string // PLUGIN_VERSION, or what `make print-version` says
	pluginSHA     string
	// prometheusPort is where the scrape test's Prometheus listens
	// (E2E_PROMETHEUS_PORT).
	prometheusPort int
	// clusterPorts are the ports free for a second cluster's API server
	// (E2E_KUBE_PORT+2 to +4): a test takes one for as long as its
	// cluster runs, so at most three run at a time.
	clusterPorts chan int
}

// TestMain starts a stack of its own (its own state directory and ports, so
// it runs beside `make demo`, the ops suite and a benchmark's stack),
// registers the plugin, runs the tests and stops the stack whatever happened.
func TestMain(m *testing.M) {
	s := &suite{}
	realstack.Suite{
		Name:     "e2e",
		Stopping: "the stack",
		Parallel: 8,
		Margin:   30 * time.Second,
		Hint:     "its state is in E2E_STACK_DIR, its ports are E2E_ETCD_PORT, E2E_KUBE_PORT and E2E_VAULT_PORT (see e2e/README.md)",
	}.Main(m, s.setUp, s.tearDown)
}

func (s *suite) setUp() error {
	set, err := realstack.SettingsFromEnv("e2e", realstack.Ports{Etcd: 12379, Kube: 16443, Vault: 18200})
	if err != nil {
		return err
	}
	if err := realstack.EnsurePlugin(set.RepoRoot, set.PluginBin); err != nil {
		return err
	}
	if s.pluginVersion = os.Getenv("PLUGIN_VERSION"); s.pluginVersion == "" {
		out, err := exec.Command("make", "-s", "-C", set.RepoRoot, "--no-print-directory", "print-version").Output()
		if err != nil {
			return fmt.Errorf("make print-version: %w", err)
		}
		s.pluginVersion = strings.TrimSpace(string(out))
	}
	if s.prometheusPort, err = realstack.EnvPositiveInt("E2E_PROMETHEUS_PORT", 19090); err != nil {
		return err
	}
	s.clusterPorts = make(chan int, clusterSlots)
	for i := range clusterSlots {
		s.clusterPorts <- set.KubePort + 2 + i
	}
	s.Stack = realstack.NewStack(set)
	// The scrape test runs a real Prometheus and promtool: built once
	// (10 to 20 minutes cold), cached by version like the stack.
	if err := s.Script(os.Stderr, "build-stack.sh", "prometheus", "promtool"); err != nil {
		return err
	}
	if err := s.Start(); err != nil {
		return err
	}
	if s.root, err = s.Vault.Client(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.registerPlugin(ctx); err != nil {
		return err
	}
	stk = s
	return nil
}

// tearDown stops the stack; E2E_KEEP_STACK=1 leaves it up to poke at after
// a failure.
func (s *suite) tearDown() {
	if s.Stack != nil && s.KeepStack {
		fmt.Fprintf(os.Stderr, "e2e: E2E_KEEP_STACK=1: stack left up; source %s/env, stop with STACK_DIR=%s scripts/stack-down.sh\n",
			s.StackDir, s.StackDir)
		return
	}
	s.Stop()
}

// registerPlugin copies the binary into Vault's plugin directory and records
// it in the catalog with its sha256 and version, the way an operator does.
func (s *suite) registerPlugin(ctx context.Context) error {
	sha, err := realstack.InstallPlugin(s.PluginBin, s.PluginDir, pluginName)
	if err != nil {
		return err
	}
	s.pluginSHA = sha
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
