package realstack

import (
	"bytes"
	"context"
	"crypto/rsa"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Stack is one suite's stack, started by scripts/stack-up.sh in the suite's
// state directory and on its ports, and what the tests need to reach it.
// Start fills it in; nothing writes it afterwards.
type Stack struct {
	Settings

	Vault     Vault // the dev Vault, with its root token
	VaultBin  string
	PluginDir string // the dev Vault's plugin directory
	Kube      *kubernetes.Clientset
	KubeHost  string
	KubeCA    string // PEM of the apiserver's serving CA
	AdminCert string // files of the apiserver's admin client certificate
	AdminKey  string
	SAIssuer  string
	SAKey     *rsa.PrivateKey // the apiserver's service-account signing key
	SAPubPEM  string

	// PrometheusBin and PromtoolBin are where build-stack.sh puts them
	// when asked to (scripts/build-stack.sh prometheus promtool); no
	// stack component runs them.
	PrometheusBin, PromtoolBin string

	// KubectlBin and Kubeconfig run the stack's kubectl as its admin, the
	// way an operator applies manifests.
	KubectlBin, Kubeconfig string

	// ReviewerJWT is a day-long token of the token reviewer Start creates.
	ReviewerJWT string

	// APIServerArgv is the stack apiserver's command line, read back from
	// /proc: the API servers a suite starts itself reuse it.
	APIServerArgv []string

	// Procs are the processes the suite starts beside the stack (the e2e
	// suite's second clusters; the ops suite's Vault nodes and private
	// apiservers, and the plugin processes it watches); Stop stops them
	// before the stack.
	Procs *Processes

	// up is set once stack-up.sh has been run: from then on Stop has
	// something to stop. Read by the signal and timeout guards, hence atomic.
	up atomic.Bool
}

// NewStack is a stack for these settings, not started yet.
func NewStack(set Settings) *Stack {
	return &Stack{Settings: set, Procs: NewProcesses(set.Suite, filepath.Join(set.StackDir, "pids"))}
}

// Start builds the stack binaries if missing, starts a fresh stack
// (stack-up.sh --restart stops whatever ran in the state directory before)
// and creates the token reviewer. Stop is safe whatever Start returned.
func (s *Stack) Start() error {
	// A no-op (a second) when the binaries are cached; the first build on a
	// fresh machine takes a while and says so.
	if err := s.Script(os.Stderr, "build-stack.sh"); err != nil {
		return err
	}
	// What a killed run left of the suite's own processes holds their
	// ports and talks to an etcd that is about to be replaced.
	s.Procs.Reap()
	if err := os.RemoveAll(s.clustersDir()); err != nil {
		return err
	}
	s.up.Store(true)
	var out bytes.Buffer
	if err := s.Script(&out, "stack-up.sh", "--restart"); err != nil {
		os.Stderr.Write(out.Bytes())
		return err
	}
	if err := s.loadEnv(); err != nil {
		return err
	}
	if err := s.readAPIServerArgv(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	jwt, err := s.createReviewer(ctx)
	if err != nil {
		return err
	}
	s.ReviewerJWT = jwt
	return nil
}

// Stop stops the suite's own processes (Procs), then runs stack-down.sh,
// which stops the stack's by the PIDs stack-up.sh recorded, once stack-up.sh
// has been run. A nil stack (the suite failed
// before it had one) has nothing to stop.
func (s *Stack) Stop() {
	if s == nil || !s.up.Load() {
		return
	}
	s.Procs.StopAll()
	var out bytes.Buffer
	if err := s.Script(&out, "stack-down.sh"); err != nil {
		fmt.Fprintf(os.Stderr, "%s: stopping the stack: %v\n%s", s.Suite, err, out.Bytes())
	}
}

// Script runs scripts/<name> for the suite's state directory and ports.
func (s *Stack) Script(out io.Writer, name string, args ...string) error {
	cmd := exec.Command(filepath.Join(s.RepoRoot, "scripts", name), args...)
	cmd.Env = append(CleanEnv(),
		"STACK_DIR="+s.StackDir,
		"ETCD_PORT="+strconv.Itoa(s.EtcdPort),
		"ETCD_PEER_PORT=", // the scripts' default, ETCD_PORT+1, not the demo's
		"KUBE_PORT="+strconv.Itoa(s.KubePort),
		"VAULT_PORT="+strconv.Itoa(s.VaultPort),
	)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("scripts/%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// loadEnv reads the env file stack-up.sh wrote by letting bash source it,
// so its quoting rules are bash's own.
func (s *Stack) loadEnv() error {
	keys := []string{"VAULT_ADDR", "VAULT_TOKEN", "VAULT_BIN", "VAULT_PLUGIN_DIR", "KUBECONFIG", "KUBECTL_BIN", "PROMETHEUS_BIN", "PROMTOOL_BIN",
		"KUBE_HOST", "KUBE_CA_FILE", "KUBE_ADMIN_CERT", "KUBE_ADMIN_KEY",
		"KUBE_SA_ISSUER", "KUBE_SA_SIGNING_KEY", "KUBE_SA_PUBLIC_KEY"}
	script := `. "$1" || exit 1; shift; for k in "$@"; do printf '%s=%s\0' "$k" "${!k}"; done`
	out, err := exec.Command("bash", append([]string{"-c", script, "env", filepath.Join(s.StackDir, "env")}, keys...)...).Output()
	if err != nil {
		return fmt.Errorf("reading %s/env: %w", s.StackDir, err)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		if v == "" {
			return fmt.Errorf("%s/env does not set %s", s.StackDir, k)
		}
		env[k] = v
	}

	s.Vault = Vault{Addr: env["VAULT_ADDR"], Token: env["VAULT_TOKEN"]}
	s.VaultBin, s.PluginDir = env["VAULT_BIN"], env["VAULT_PLUGIN_DIR"]
	s.PrometheusBin, s.PromtoolBin = env["PROMETHEUS_BIN"], env["PROMTOOL_BIN"]
	s.KubeHost, s.SAIssuer = env["KUBE_HOST"], env["KUBE_SA_ISSUER"]
	s.KubectlBin, s.Kubeconfig = env["KUBECTL_BIN"], env["KUBECONFIG"]
	s.AdminCert, s.AdminKey = env["KUBE_ADMIN_CERT"], env["KUBE_ADMIN_KEY"]
	ca, err := os.ReadFile(env["KUBE_CA_FILE"])
	if err != nil {
		return err
	}
	s.KubeCA = string(ca)
	pub, err := os.ReadFile(env["KUBE_SA_PUBLIC_KEY"])
	if err != nil {
		return err
	}
	s.SAPubPEM = string(pub)
	if s.SAKey, err = LoadRSAKey(env["KUBE_SA_SIGNING_KEY"]); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", env["KUBECONFIG"])
	if err != nil {
		return fmt.Errorf("loading %s: %w", env["KUBECONFIG"], err)
	}
	// Many parallel tests share one client; client-go's default of 5 QPS
	// would make them queue behind each other for no reason.
	cfg.QPS, cfg.Burst = 200, 400
	s.Kube, err = kubernetes.NewForConfig(cfg)
	return err
}
