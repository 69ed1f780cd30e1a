package ops

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// ops is the running suite every test reaches its stack through; TestMain
// sets it before any test runs and nothing writes it afterwards.
var ops *suite

// suite is the stack and what this suite adds to it: the state of the
// processes it starts itself, and facts about the stack's own processes.
type suite struct {
	*realstack.Stack
	runDir string // $OPS_STACK_DIR/ops: the files of the suite's own processes

	devPID       int
	apiserverCmd []string // how the stack started its apiserver (from /proc)
	plugin       pluginBuild

	loadClients  int
	loadDuration time.Duration
}

// pluginBuild is one plugin binary and the version it reports.
type pluginBuild struct {
	path    string
	version string
}

func TestMain(m *testing.M) {
	ops = &suite{}
	realstack.Suite{
		Name:     "ops",
		Stopping: "everything",
		Parallel: 12,
		Margin:   time.Minute,
	}.Main(m, ops.setUp, ops.tearDown)
}

// Ports of the processes the suite starts itself, derived from the base
// ports so that moving OPS_VAULT_PORT or OPS_KUBE_PORT moves all of them:
// the stack's dev Vault has VaultPort and +1, its apiserver KubePort.
func (s *suite) persistentVaultPort() int   { return s.VaultPort + 2 }
func (s *suite) clusterVaultPort(i int) int { return s.VaultPort + 4 + 2*i }
func (s *suite) privateKubePort(i int) int  { return s.KubePort + 1 + i }

func (s *suite) setUp() error {
	// Default ports sit below Linux's ephemeral range (32768-60999), where
	// any outgoing connection may hold a port for a while, and apart from
	// the demo (2379, 6443, 8200), e2e (1xxxx) and the benchmark (2xxxx).
	set, err := realstack.SettingsFromEnv("ops", realstack.Ports{Etcd: 30379, Kube: 30443, Vault: 30200})
	if err != nil {
		return err
	}
	if s.loadClients, err = realstack.EnvPositiveInt("OPS_LOAD_CLIENTS", 16); err != nil {
		return err
	}
	if s.loadDuration, err = time.ParseDuration(realstack.EnvOr("OPS_LOAD_DURATION", "20s")); err != nil || s.loadDuration <= 0 {
		return fmt.Errorf("OPS_LOAD_DURATION=%q: want a positive Go duration such as 20s", os.Getenv("OPS_LOAD_DURATION"))
	}
	s.Stack = realstack.NewStack(set)
	s.runDir = filepath.Join(set.StackDir, "ops")

	if err := s.checkPlugin(); err != nil {
		return err
	}
	// What a killed run left running (a Vault node, a private apiserver)
	// would hold the ports checked below.
	s.Procs.Reap()
	if err := os.RemoveAll(s.runDir); err != nil {
		return err
	}
	if err := os.MkdirAll(s.runDir, 0o755); err != nil {
		return err
	}
	if err := s.checkOwnPorts(); err != nil {
		return err
	}
	if err := s.Start(); err != nil {
		return err
	}
	return s.readStackProcs()
}

// tearDown stops the suite's own processes, then the stack; OPS_KEEP_STACK=1
// leaves all of it up to look at after a failure.
func (s *suite) tearDown() {
	if s.Stack == nil {
		return // the settings were wrong: nothing was started
	}
	if s.KeepStack {
		fmt.Fprintf(os.Stderr, "ops: OPS_KEEP_STACK=1: left running; PIDs in %s, stack: STACK_DIR=%s scripts/stack-down.sh\n",
			s.Procs.Dir(), s.StackDir)
		return
	}
	s.Stop() // the suite's own processes (Procs) first, then the stack
}

// checkPlugin finds the plugin binary (building it when missing) and asks it
// for its version, which is what the catalog must record.
func (s *suite) checkPlugin() error {
	if err := realstack.EnsurePlugin(s.RepoRoot, s.PluginBin); err != nil {
		return err
	}
	v, err := binaryVersion(s.PluginBin)
	if err != nil {
		return err
	}
	s.plugin = pluginBuild{path: s.PluginBin, version: v}
	return nil
}

func binaryVersion(bin string) (string, error) {
	out, err := exec.Command(bin, "-version").Output()
	if err != nil {
		return "", fmt.Errorf("%s -version: %w", bin, err)
	}
	v := strings.TrimSpace(string(out))
	if !strings.HasPrefix(v, "v") {
		return "", fmt.Errorf("%s -version printed %q, want a v-prefixed version", bin, v)
	}
	return v, nil
}

// checkOwnPorts fails early, naming the port, when one the suite's own
// processes need is taken; stack-up.sh checks the stack's ports itself.
func (s *suite) checkOwnPorts() error {
	var busy []string
	check := func(port int, what string) {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			busy = append(busy, fmt.Sprintf("%d (%s)", port, what))
			return
		}
		l.Close()
	}
	check(s.persistentVaultPort(), "persistent Vault")
	check(s.persistentVaultPort()+1, "persistent Vault cluster")
	for i := range 3 {
		check(s.clusterVaultPort(i), fmt.Sprintf("Raft node %d", i+1))
		check(s.clusterVaultPort(i)+1, fmt.Sprintf("Raft node %d cluster", i+1))
	}
	for i := range 3 {
		check(s.privateKubePort(i), "private kube-apiserver")
	}
	if len(busy) > 0 {
		return fmt.Errorf("ports in use: %s (choose others with OPS_VAULT_PORT / OPS_KUBE_PORT)", strings.Join(busy, ", "))
	}
	return nil
}

// readStackProcs reads what the running stack itself tells: the dev Vault's
// PID (its plugin processes are its children) and the apiserver's exact
// command line (private apiservers reuse it).
func (s *suite) readStackProcs() error {
	var err error
	if s.devPID, err = realstack.RecordedPID(filepath.Join(s.StackDir, "vault.pid")); err != nil {
		return err
	}
	s.apiserverCmd = s.APIServerArgv
	return nil
}
