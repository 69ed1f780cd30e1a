package soak

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// soakDuration is SOAK_DURATION; 0 when unset, and then only the unit tests
// run (no stack is started).
var soakDuration time.Duration

// stk is the stack TestMain started (nil without SOAK_DURATION).
var stk *realstack.Stack

func TestMain(m *testing.M) {
	raw := os.Getenv("SOAK_DURATION")
	if raw == "" {
		os.Exit(m.Run())
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d <= 0 {
		fmt.Fprintf(os.Stderr, "soak: SOAK_DURATION=%q: want a positive Go duration such as 30m\n", raw)
		os.Exit(2)
	}
	soakDuration = d
	realstack.Suite{
		Name:     "soak",
		Stopping: "everything",
		Margin:   2 * time.Minute,
		Hint:     "the stack's logs are in $SOAK_STACK_DIR/logs",
	}.Main(m, setUp, tearDown)
}

// setUp starts the stack on the soak's ports: etcd 29379, kube-apiserver
// 29443 (the second cluster), Vault 29200 (the stack's dev Vault, unused:
// the soak runs a Vault with storage of its own on +2, so that a restart
// keeps its mount). SOAK_STACK_DIR, SOAK_ETCD_PORT, SOAK_KUBE_PORT and
// SOAK_VAULT_PORT move them.
func setUp() error {
	set, err := realstack.SettingsFromEnv("soak", realstack.Ports{Etcd: 29379, Kube: 29443, Vault: 29200})
	if err != nil {
		return err
	}
	if err := realstack.EnsurePlugin(set.RepoRoot, set.PluginBin); err != nil {
		return err
	}
	stk = realstack.NewStack(set)
	return stk.Start()
}

func tearDown() {
	if stk == nil {
		return
	}
	if stk.KeepStack {
		fmt.Fprintf(os.Stderr, "soak: SOAK_KEEP_STACK=1: left running; stop with STACK_DIR=%s scripts/stack-down.sh and the PIDs in %s\n", stk.StackDir, stk.Procs.Dir())
		return
	}
	stk.Stop()
}
