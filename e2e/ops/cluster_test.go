package ops

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// A three-node Raft cluster of Vault servers on loopback, the plugin in each
// node's plugin directory: logins work through every node (standbys forward
// to the active one), and keep working after `vault operator step-down` and
// after the active node is killed, once a new leader is elected, with no
// config, role or token lost. The killed node then rejoins.
func TestRaftClusterFailover(t *testing.T) {
	t.Parallel()
	nodes := make([]*vaultNode, 3)
	for i := range nodes {
		nodes[i] = newVaultNode(t, fmt.Sprintf("raft%d", i+1), ops.clusterVaultPort(i))
	}
	started := time.Now()
	first := nodes[0]
	first.start(t)
	rootToken, key := first.initialize(t)
	first.unseal(t, key)
	first.waitFor(t, "active", 2*time.Minute, health.active)
	for _, n := range nodes[1:] {
		n.start(t)
		n.join(t, first)
		n.unseal(t, key)
	}
	for _, n := range nodes {
		n.api = n.api.WithToken(rootToken)
		if n != first {
			n.waitFor(t, "a standby", 2*time.Minute, health.standby)
		}
	}
	t.Logf("3-node Raft cluster up in %v", time.Since(started).Round(100*time.Millisecond))

	// The binary goes into every node's plugin directory before it is
	// registered: whichever node becomes active must be able to run it.
	for _, n := range nodes[1:] {
		if _, err := realstack.InstallPlugin(ops.plugin.path, n.pluginDir, realstack.PluginName+"-"+ops.plugin.version); err != nil {
			t.Fatal(err)
		}
	}
	e := installPlugin(t, first.api, first.pluginDir, realstack.PluginName, ops.plugin)
	const mount = "kubernetes"
	enableAuth(t, first.api, mount, e.name, e.version)
	first.api.Must(t, http.MethodPost, "auth/"+mount+"/config", ops.ReviewerConfig(nil))
	w := ops.NewWorkload(t, "app", nil)
	first.api.Must(t, http.MethodPost, "auth/"+mount+"/role/app",
		realstack.BindRole(w, map[string]any{"token_policies": []string{"app"}, "token_ttl": "10m"}))
	jwt := token(t, w)

	var tokens []string
	for _, n := range nodes {
		tokens = append(tokens, n.api.MustLogin(t, mount, "app", jwt))
	}

	waitVoters(t, first, 3, 2*time.Minute)
	t.Logf("all three nodes are Raft voters %v after the start", time.Since(started).Round(100*time.Millisecond))

	// Step-down: the active node gives up; logins go on through every node.
	active := activeNode(t, nodes)
	stepped := time.Now()
	vaultCLI(t, active.api, "operator", "step-down")
	next := waitActive(t, nodes, 2*time.Minute)
	t.Logf("step-down of %s: %s active after %v", active.name, next.name, time.Since(stepped).Round(100*time.Millisecond))
	for _, n := range nodes {
		_, attempts, firstErr := n.api.LoginEventually(t, mount, "app", jwt, time.Minute)
		if attempts > 1 {
			t.Logf("after the step-down, login through %s succeeded at attempt %d (first failure: %s)", n.name, attempts, firstErr)
		}
	}

	// A role written just before the crash must survive it: Raft commits
	// it on a quorum before Vault answers.
	active = activeNode(t, nodes)
	active.api.Must(t, http.MethodPost, "auth/"+mount+"/role/late", realstack.BindRole(w, nil))
	snap := snapshot(t, active.api, mount, "app", "late")

	killed := time.Now()
	pluginExe := filepath.Join(active.pluginDir, e.command)
	plugins := childrenRunning(active.pid(), pluginExe)
	for _, pid := range plugins {
		if err := ops.Procs.Watch(pid, pluginExe); err != nil {
			t.Fatal(err)
		}
	}
	active.proc.Kill()
	var survivors []*vaultNode
	for _, n := range nodes {
		if n != active {
			survivors = append(survivors, n)
		}
	}
	leader := waitActive(t, survivors, 2*time.Minute)
	t.Logf("killed the active node %s (SIGKILL): %s active after %v", active.name, leader.name, time.Since(killed).Round(100*time.Millisecond))
	stopOrphans(t, active, pluginExe, plugins)
	for _, n := range survivors {
		_, attempts, firstErr := n.api.LoginEventually(t, mount, "late", jwt, time.Minute)
		t.Logf("after the kill, login through %s succeeded at attempt %d (first failure: %q)", n.name, attempts, firstErr)
		n.api.MustLogin(t, mount, "app", jwt)
		for _, tok := range tokens {
			lookupSelf(t, n.api, tok)
		}
	}
	expectSameSnapshot(t, "losing the active node", snap, snapshot(t, leader.api, mount, "app", "late"))
	renewSelf(t, leader.api, tokens[0], 600)

	// The killed node comes back with its data and rejoins as a standby.
	active.start(t)
	active.unseal(t, key)
	active.waitFor(t, "a standby again", 2*time.Minute, health.standby)
	waitForwarding(t, active, leader, time.Minute)
	active.api.MustLogin(t, mount, "late", jwt)
	waitVoters(t, leader, 3, 2*time.Minute)
}

// activeNode is the one running node whose sys/health says active.
func activeNode(t *testing.T, nodes []*vaultNode) *vaultNode {
	t.Helper()
	var found []*vaultNode
	for _, n := range nodes {
		if n.proc == nil || !n.proc.Running() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		h, err := n.health(ctx)
		cancel()
		if err == nil && h.active() {
			found = append(found, n)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one active node, found %d", len(found))
	}
	return found[0]
}

// waitActive waits until one of the nodes is active and returns it.
func waitActive(t *testing.T, nodes []*vaultNode, timeout time.Duration) *vaultNode {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, n := range nodes {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			h, err := n.health(ctx)
			cancel()
			if err == nil && h.active() {
				return n
			}
		}
		if time.Now().After(deadline) {
			var logs []string
			for _, n := range nodes {
				logs = append(logs, n.proc.LogTail(15))
			}
			t.Fatalf("no node became active within %v\n%s", timeout, strings.Join(logs, "\n"))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// waitVoters waits until the Raft configuration, read through n, lists
// want servers, all voters. Joined nodes start as non-voters; Vault's
// autopilot promotes them once they have been healthy for its
// stabilization time (10 s by default). Until then, losing the leader of a
// cluster with one voter loses the cluster.
func waitVoters(t *testing.T, n *vaultNode, want int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r, err := n.api.Do(ctx, realstack.HTTPClient, http.MethodGet, "sys/storage/raft/configuration", nil)
		cancel()
		var last string
		if err != nil {
			last = err.Error()
		} else {
			cfg, _ := r.Data()["config"].(map[string]any)
			servers, _ := cfg["servers"].([]any)
			voters := 0
			for _, s := range servers {
				if m, _ := s.(map[string]any); m["voter"] == true {
					voters++
				}
			}
			if len(servers) == want && voters == want {
				return
			}
			last = r.String()
		}
		if time.Now().After(deadline) {
			t.Fatalf("raft configuration does not list %d voters after %v; last: %s", want, timeout, last)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// stopOrphans checks the plugin processes of a Vault node that was killed:
// Vault had no chance to stop them, so the plugin must notice that it was
// re-parented and exit by itself (it checks every 2 s). One still running
// after 10 s fails the test and is stopped by its PID.
func stopOrphans(t *testing.T, n *vaultNode, exe string, pids []int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for processRunning(pid) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if processRunning(pid) && realstack.RunningExe(pid) == exe {
			t.Errorf("plugin process %d (%s) outlived its killed Vault %s by 10 s; it should exit once re-parented", pid, exe, n.name)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		ops.Procs.Forget(pid)
	}
}

// waitForwarding waits until a standby knows which node is active (it
// learns it from the cluster after unsealing) and so can forward requests.
func waitForwarding(t *testing.T, n, leader *vaultNode, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, err := n.api.Do(ctx, realstack.HTTPClient, http.MethodGet, "sys/leader", nil)
		cancel()
		if err == nil && r.Status == http.StatusOK && r.Body.Str("leader_address") == leader.api.Addr {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("standby %s does not know the active node %s after %v (last: %v %v)", n.name, leader.name, timeout, r, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
