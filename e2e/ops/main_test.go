package ops

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// ops is the running suite every test reaches its stack through; TestMain
// sets it before any test runs and nothing writes it afterwards.
var ops *suite

// settings come from OPS_* variables, never from STACK_DIR or the *_PORT
// variables: the root Makefile exports those for the demo's stack.
type settings struct {
	repoRoot  string
	stackDir  string
	etcdPort  int
	kubePort  int // the stack's apiserver; private ones use kubePort+1, +2
	vaultPort int // the stack's dev Vault (and +1); suite nodes use +2..+11
	pluginBin string
	keepStack bool

	loadClients  int
	loadDuration time.Duration
}

func settingsFromEnv() (settings, error) {
	// go test runs in the package's folder, e2e/ops.
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return settings{}, err
	}
	s := settings{
		repoRoot:  root,
		stackDir:  envOr("OPS_STACK_DIR", filepath.Join(os.TempDir(), "kubeauth-ops")),
		pluginBin: envOr("PLUGIN_BIN", filepath.Join(root, "bin", "vault-plugin-auth-kubernetes")),
		keepStack: os.Getenv("OPS_KEEP_STACK") == "1",
	}
	// Default ports sit below Linux's ephemeral range (32768-60999), where
	// any outgoing connection may hold a port for a while, and apart from
	// the demo (2379, 6443, 8200), e2e (1xxxx) and the benchmark (2xxxx).
	ints := []struct {
		key string
		def int
		dst *int
	}{
		{"OPS_ETCD_PORT", 30379, &s.etcdPort},
		{"OPS_KUBE_PORT", 30443, &s.kubePort},
		{"OPS_VAULT_PORT", 30200, &s.vaultPort},
		{"OPS_LOAD_CLIENTS", 16, &s.loadClients},
	}
	for _, v := range ints {
		n, err := strconv.Atoi(envOr(v.key, strconv.Itoa(v.def)))
		if err != nil || n <= 0 {
			return s, fmt.Errorf("%s=%q: want a positive integer", v.key, os.Getenv(v.key))
		}
		*v.dst = n
	}
	if s.loadDuration, err = time.ParseDuration(envOr("OPS_LOAD_DURATION", "20s")); err != nil || s.loadDuration <= 0 {
		return s, fmt.Errorf("OPS_LOAD_DURATION=%q: want a positive Go duration such as 20s", os.Getenv("OPS_LOAD_DURATION"))
	}
	return s, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// Ports of the processes the suite starts itself, derived from the base
// ports so that moving OPS_VAULT_PORT or OPS_KUBE_PORT moves all of them.
func (s settings) persistentVaultPort() int   { return s.vaultPort + 2 }
func (s settings) clusterVaultPort(i int) int { return s.vaultPort + 4 + 2*i }
func (s settings) privateKubePort(i int) int  { return s.kubePort + 1 + i }

// suite is the running stack and what the tests need to reach it.
type suite struct {
	settings
	runDir string // $STACK_DIR/ops: the suite's own processes' state

	dev      vaultAPI // the stack's dev-mode Vault (root token)
	devPID   int
	devPlugs string // its plugin directory

	vaultBin     string
	kube         *kubernetes.Clientset
	kubeHost     string
	kubeCA       string // PEM of the stack apiserver's serving CA
	adminCert    string // files of the admin client certificate
	adminKey     string
	saIssuer     string
	apiserverCmd []string // how the stack started its apiserver (from /proc)

	plugin      pluginBuild
	reviewerJWT string
}

// pluginBuild is one plugin binary and the version it reports.
type pluginBuild struct {
	path    string
	version string
}

func TestMain(m *testing.M) {
	flag.Parse()
	raiseDefaultParallel(12)
	os.Exit(runSuite(m))
}

// raiseDefaultParallel lets more tests run at once than go test's default of
// GOMAXPROCS (2 here): they mostly wait on Vault, the apiserver, elections
// and timeouts, not on the CPU. An explicit -parallel wins.
func raiseDefaultParallel(n int) {
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", strconv.Itoa(n))
	}
}

func runSuite(m *testing.M) int {
	set, err := settingsFromEnv()
	if err != nil {
		fmt.Fprintf(os.Stderr, "ops: %v\n", err)
		return 1
	}
	s := &suite{settings: set, runDir: filepath.Join(set.stackDir, "ops")}
	ops = s
	var once sync.Once
	stop := func() { once.Do(s.stop) }
	defer stop()
	stopOnSignal(stop)
	stopBeforeTimeout(stop)
	if err := s.start(); err != nil {
		fmt.Fprintf(os.Stderr, "ops: cannot start the stack: %v\n", err)
		return 1
	}
	return m.Run()
}

// stopOnSignal stops everything on Ctrl-C or SIGTERM: the processes run in
// sessions of their own and would otherwise outlive the test binary.
func stopOnSignal(stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-ch
		fmt.Fprintf(os.Stderr, "ops: %v: stopping everything\n", sig)
		stop()
		os.Exit(1)
	}()
}

// stopBeforeTimeout stops everything shortly before `go test -timeout`
// panics, since that panic skips every deferred call.
func stopBeforeTimeout(stop func()) {
	f := flag.Lookup("test.timeout")
	if f == nil {
		return
	}
	timeout, ok := f.Value.(flag.Getter).Get().(time.Duration)
	if !ok || timeout <= 0 {
		return
	}
	margin := min(time.Minute, timeout/10)
	time.AfterFunc(timeout-margin, func() {
		fmt.Fprintf(os.Stderr, "ops: the %v test timeout is near: stopping everything\n", timeout)
		stop()
	})
}

func (s *suite) start() error {
	if err := s.checkPlugin(); err != nil {
		return err
	}
	reapLeftovers(s.runDir)
	if err := os.RemoveAll(s.runDir); err != nil {
		return err
	}
	if err := os.MkdirAll(s.runDir, 0o755); err != nil {
		return err
	}
	if err := s.checkOwnPorts(); err != nil {
		return err
	}
	// A no-op when the binaries are cached (they are built once per machine).
	if err := s.script(os.Stderr, "build-stack.sh"); err != nil {
		return err
	}
	var out bytes.Buffer
	if err := s.script(&out, "stack-up.sh", "--restart"); err != nil {
		os.Stderr.Write(out.Bytes())
		return err
	}
	if err := s.loadEnv(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	reviewer, err := createReviewer(ctx, s.kube, "vault-auth", "vault-reviewer")
	if err != nil {
		return err
	}
	s.reviewerJWT = reviewer
	return nil
}

// stop stops the suite's own processes, then the stack; OPS_KEEP_STACK=1
// leaves all of it up to look at after a failure.
func (s *suite) stop() {
	if s.keepStack {
		fmt.Fprintf(os.Stderr, "ops: OPS_KEEP_STACK=1: left running; PIDs in %s, stack: STACK_DIR=%s scripts/stack-down.sh\n",
			pidDir(), s.stackDir)
		return
	}
	stopAllProcs()
	var out bytes.Buffer
	if err := s.script(&out, "stack-down.sh"); err != nil {
		fmt.Fprintf(os.Stderr, "ops: stopping the stack: %v\n%s", err, out.Bytes())
	}
}

// script runs scripts/<name> for the suite's stack directory and ports.
func (s *suite) script(out io.Writer, name string, args ...string) error {
	cmd := exec.Command(filepath.Join(s.repoRoot, "scripts", name), args...)
	cmd.Env = append(cleanEnv(),
		"STACK_DIR="+s.stackDir,
		"ETCD_PORT="+strconv.Itoa(s.etcdPort),
		"ETCD_PEER_PORT=",
		"KUBE_PORT="+strconv.Itoa(s.kubePort),
		"VAULT_PORT="+strconv.Itoa(s.vaultPort),
	)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("scripts/%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// cleanEnv is this process's environment without the plugin's own settings
// and Vault's variables (VAULT_API_ADDR and the like override a server's
// config file), so what a developer exported in their shell cannot change
// what Vault or its plugins do under test.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "KUBEAUTH_REQUEST_TIMEOUT" || k == "KUBEAUTH_LOCAL_SA_DIR" || strings.HasPrefix(k, "VAULT_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// checkPlugin finds the plugin binary (building it when missing) and asks it
// for its version, which is what the catalog must record.
func (s *suite) checkPlugin() error {
	if _, err := os.Stat(s.pluginBin); errors.Is(err, os.ErrNotExist) {
		cmd := exec.Command("make", "-C", s.repoRoot, "--no-print-directory", "build")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building the plugin: %w", err)
		}
	}
	v, err := binaryVersion(s.pluginBin)
	if err != nil {
		return err
	}
	s.plugin = pluginBuild{path: s.pluginBin, version: v}
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
	for i := range 2 {
		check(s.privateKubePort(i), "private kube-apiserver")
	}
	if len(busy) > 0 {
		return fmt.Errorf("ports in use: %s (choose others with OPS_VAULT_PORT / OPS_KUBE_PORT)", strings.Join(busy, ", "))
	}
	return nil
}

// loadEnv reads the env file stack-up.sh wrote by letting bash source it
// (its quoting is bash's), then what the running stack itself tells: the
// dev Vault's PID and the apiserver's exact command line.
func (s *suite) loadEnv() error {
	keys := []string{"VAULT_ADDR", "VAULT_TOKEN", "VAULT_BIN", "VAULT_PLUGIN_DIR", "KUBECONFIG",
		"KUBE_HOST", "KUBE_CA_FILE", "KUBE_SA_ISSUER", "KUBE_ADMIN_CERT", "KUBE_ADMIN_KEY"}
	script := `. "$1" || exit 1; shift; for k in "$@"; do printf '%s=%s\0' "$k" "${!k}"; done`
	out, err := exec.Command("bash", append([]string{"-c", script, "env", filepath.Join(s.stackDir, "env")}, keys...)...).Output()
	if err != nil {
		return fmt.Errorf("reading %s/env: %w", s.stackDir, err)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		if v == "" {
			return fmt.Errorf("%s/env does not set %s", s.stackDir, k)
		}
		env[k] = v
	}
	s.dev = vaultAPI{addr: env["VAULT_ADDR"], token: env["VAULT_TOKEN"]}
	s.devPlugs = env["VAULT_PLUGIN_DIR"]
	s.vaultBin = env["VAULT_BIN"]
	s.kubeHost, s.saIssuer = env["KUBE_HOST"], env["KUBE_SA_ISSUER"]
	s.adminCert, s.adminKey = env["KUBE_ADMIN_CERT"], env["KUBE_ADMIN_KEY"]
	ca, err := os.ReadFile(env["KUBE_CA_FILE"])
	if err != nil {
		return err
	}
	s.kubeCA = string(ca)

	if s.devPID, err = recordedPID(filepath.Join(s.stackDir, "vault.pid")); err != nil {
		return err
	}
	apiPID, err := recordedPID(filepath.Join(s.stackDir, "kube-apiserver.pid"))
	if err != nil {
		return err
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", apiPID))
	if err != nil {
		return fmt.Errorf("reading the stack apiserver's command line: %w", err)
	}
	s.apiserverCmd = strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")

	cfg, err := clientcmd.BuildConfigFromFlags("", env["KUBECONFIG"])
	if err != nil {
		return fmt.Errorf("loading %s: %w", env["KUBECONFIG"], err)
	}
	// Parallel tests share one client; client-go's default of 5 QPS would
	// queue them behind each other for nothing.
	cfg.QPS, cfg.Burst = 200, 400
	s.kube, err = kubernetes.NewForConfig(cfg)
	return err
}

func recordedPID(file string) (int, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", file, err)
	}
	return pid, nil
}
