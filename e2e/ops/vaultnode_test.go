package ops

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// A vaultNode is a production-style Vault server: integrated storage
// (Raft) on disk, a TCP listener, a plugin directory, initialized and
// unsealed with one Shamir key. Not dev mode: its state survives restarts.
type vaultNode struct {
	name      string
	dir       string
	apiPort   int
	api       realstack.Vault // the root token is set once the cluster is initialized
	pluginDir string
	cfgPath   string
	logPath   string
	proc      *realstack.Process
}

// newVaultNode writes the node's config; start runs it. The node is stopped
// when the test ends.
func newVaultNode(t *testing.T, name string, apiPort int) *vaultNode {
	t.Helper()
	n := &vaultNode{
		name:    name,
		dir:     filepath.Join(ops.runDir, "vault-"+name),
		apiPort: apiPort,
		api:     realstack.Vault{Addr: fmt.Sprintf("http://127.0.0.1:%d", apiPort)},
	}
	n.pluginDir = filepath.Join(n.dir, "plugins")
	n.cfgPath = filepath.Join(n.dir, "vault.hcl")
	n.logPath = filepath.Join(n.dir, "vault.log")
	for _, d := range []string{filepath.Join(n.dir, "raft"), n.pluginDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// performance_multiplier 1 is Raft's production timing (the default, 5,
	// is for slow development machines): a dead leader is replaced within a
	// few seconds instead of tens.
	cfg := fmt.Sprintf(`# Written by the ops suite for node %[1]s.
ui               = false
disable_mlock    = true
cluster_name     = "kubeauth-ops"
api_addr         = "http://127.0.0.1:%[2]d"
cluster_addr     = "https://127.0.0.1:%[3]d"
plugin_directory = %[4]q
log_level        = "info"

storage "raft" {
  path                   = %[5]q
  node_id                = %[1]q
  performance_multiplier = 1
}

listener "tcp" {
  address         = "127.0.0.1:%[2]d"
  cluster_address = "127.0.0.1:%[3]d"
  tls_disable     = true
}
`, name, apiPort, apiPort+1, n.pluginDir, filepath.Join(n.dir, "raft"))
	if err := os.WriteFile(n.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.stop)
	return n
}

// start runs the server and waits until its API answers (sealed, and
// uninitialized on the first start).
func (n *vaultNode) start(t *testing.T) {
	t.Helper()
	p, err := ops.Procs.Start("vault-"+n.name, n.logPath, []string{ops.VaultBin, "server", "-config", n.cfgPath}, realstack.CleanEnv())
	if err != nil {
		t.Fatal(err)
	}
	n.proc = p
	n.waitFor(t, "to answer on its API", 90*time.Second, func(health) bool { return true })
}

// stop is a clean shutdown (SIGTERM), as an operator's restart.
func (n *vaultNode) stop() {
	if n.proc != nil {
		n.proc.Stop(30 * time.Second)
	}
}

func (n *vaultNode) pid() int { return n.proc.PID() }

// health is the part of sys/health the suite waits on.
type health struct {
	Initialized bool `json:"initialized"`
	Sealed      bool `json:"sealed"`
	Standby     bool `json:"standby"`
}

func (h health) active() bool  { return h.Initialized && !h.Sealed && !h.Standby }
func (h health) standby() bool { return h.Initialized && !h.Sealed && h.Standby }

func (h health) String() string {
	switch {
	case !h.Initialized:
		return "uninitialized"
	case h.Sealed:
		return "sealed"
	case h.Standby:
		return "standby"
	default:
		return "active"
	}
}

func (n *vaultNode) health(ctx context.Context) (health, error) {
	// sys/health answers with a JSON body whatever the state; the status
	// code (200, 429, 501, 503, ...) only encodes the same facts.
	r, err := realstack.Vault{Addr: n.api.Addr}.Do(ctx, realstack.HTTPClient, http.MethodGet, "sys/health", nil)
	if err != nil {
		return health{}, err
	}
	if r.Body == nil {
		return health{}, fmt.Errorf("%s: no JSON body", r)
	}
	return health{
		Initialized: r.Body["initialized"] == true,
		Sealed:      r.Body["sealed"] == true,
		Standby:     r.Body["standby"] == true,
	}, nil
}

// waitFor polls sys/health until cond holds, failing at the deadline or at
// once if the process exits, with the tail of the node's log either way.
func (n *vaultNode) waitFor(t *testing.T, what string, timeout time.Duration, cond func(health) bool) health {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		if !n.proc.Running() {
			t.Fatalf("vault node %s exited while waiting for it %s\n%s", n.name, what, n.proc.LogTail(30))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		h, err := n.health(ctx)
		cancel()
		if err == nil && cond(h) {
			return h
		}
		last = fmt.Sprint(h)
		if err != nil {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("vault node %s not %s after %v (last: %s)\n%s", n.name, what, timeout, last, n.proc.LogTail(30))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// initialize is `vault operator init -key-shares=1 -key-threshold=1`.
func (n *vaultNode) initialize(t *testing.T) (rootToken, unsealKey string) {
	t.Helper()
	r := n.api.WithToken("").Must(t, http.MethodPut, "sys/init", map[string]any{"secret_shares": 1, "secret_threshold": 1})
	keys := r.Body.Strs("keys_base64")
	rootToken = r.Body.Str("root_token")
	if len(keys) != 1 || rootToken == "" {
		t.Fatalf("sys/init: want one key and a root token, got %s", r)
	}
	return rootToken, keys[0]
}

// unseal is `vault operator unseal KEY`. A node that is joining a cluster
// still says sealed while it fetches the cluster's keyring, so the caller
// waits for the state it wants (active, standby) with waitFor.
func (n *vaultNode) unseal(t *testing.T, key string) {
	t.Helper()
	n.api.WithToken("").Must(t, http.MethodPut, "sys/unseal", map[string]any{"key": key})
}

// join is `vault operator raft join LEADER` on a fresh, sealed node; the
// node finishes joining once it is unsealed with the cluster's key.
func (n *vaultNode) join(t *testing.T, leader *vaultNode) {
	t.Helper()
	r := n.api.WithToken("").Must(t, http.MethodPut, "sys/storage/raft/join", map[string]any{"leader_api_addr": leader.api.Addr})
	if r.Body["joined"] != true {
		t.Fatalf("vault node %s did not join %s: %s", n.name, leader.name, r)
	}
}
