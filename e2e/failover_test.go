package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// The plugin's failover timings (internal/kube), as a test outside the
// module must restate them.
const (
	// failoverAfter is kube.FailoverAfter: how long a call waits for the
	// response headers of an address that is not the last one it may try.
	failoverAfter = 2 * time.Second
	// recoverWithin bounds how long an address that answers again takes to
	// come back in turn: the background probe's longest backoff (10 s) and
	// its timeout (2 s), with room for a loaded machine.
	recoverWithin = 15 * time.Second
)

// latency is what the logins of one mount may take: normal is a small
// multiple of the baseline measured in the same test, with both addresses
// up, so the bound follows the machine's speed.
type latency struct{ baseline, normal time.Duration }

func measureLatency(t *testing.T, m *mount, role, jwt string) latency {
	t.Helper()
	timedLogins(t, m, role, jwt, 3) // warm: the role, the connections
	base := timedLogins(t, m, role, jwt, 15)
	l := latency{baseline: base, normal: 3*base + 200*time.Millisecond}
	t.Logf("baseline median login %s; normal bound %s", l.baseline, l.normal)
	return l
}

// timedLogin logs in once and says how long it took.
func timedLogin(t *testing.T, m *mount, role, jwt string) (*realstack.Reply, time.Duration) {
	t.Helper()
	start := time.Now()
	r := m.login(t, role, jwt)
	return r, time.Since(start)
}

// loginTimes logs in n times, one after another, and returns each time;
// every login must pass.
func loginTimes(t *testing.T, m *mount, role, jwt string, n int) []time.Duration {
	t.Helper()
	took := make([]time.Duration, n)
	for i := range took {
		var r *realstack.Reply
		if r, took[i] = timedLogin(t, m, role, jwt); r.Status != http.StatusOK {
			t.Fatalf("login %d of %d: %s", i+1, n, r)
		}
	}
	return took
}

func median(took []time.Duration) time.Duration {
	s := slices.Clone(took)
	slices.Sort(s)
	return s[len(s)/2]
}

// expectFailedOver checks the logins right after one address stopped
// answering: each passed (loginTimes), at most one of them waited for the
// dead address, and only once (one failoverAfter, never two nor the
// request timeout), and their median is a normal login's.
func expectFailedOver(t *testing.T, what string, took []time.Duration, l latency) {
	t.Helper()
	waited := 0
	for _, d := range took {
		if d >= failoverAfter {
			waited++
		}
		if d >= 2*failoverAfter {
			t.Errorf("%s: a login took %s: it waited for the address that stopped answering more than once; all: %v", what, d, took)
		}
	}
	if waited > 1 {
		t.Errorf("%s: %d logins waited %s or more for the address that stopped answering; at most the first may: %v", what, waited, failoverAfter, took)
	}
	if med := median(took); med > l.normal {
		t.Errorf("%s: median login %s, over the normal %s (baseline %s): %v", what, med, l.normal, l.baseline, took)
	}
	t.Logf("%s: logins %v", what, took)
}

// loginsRecover logs in until a login passes and returns how long that
// took from since; it fails the test after window. A login that fails on
// the way must fail fast, with the generic fault.
func loginsRecover(t *testing.T, m *mount, role, jwt string, since time.Time, window time.Duration, l latency) time.Duration {
	t.Helper()
	failed := 0
	for {
		r, took := timedLogin(t, m, role, jwt)
		if r.Status == http.StatusOK {
			t.Logf("logins recovered %s after the change (%d failed on the way)", time.Since(since).Round(time.Millisecond), failed)
			return time.Since(since)
		}
		failed++
		expectGenericFault(t, r)
		if took > failoverAfter+l.normal {
			t.Errorf("a login failed after %s, over %s: a login must not wait on a down address", took, failoverAfter+l.normal)
		}
		if time.Since(since) > window {
			t.Fatalf("logins still failing %s after the change (bound %s); last: %s", time.Since(since), window, r)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// expectFailsFast checks n logins while every address is down: each a
// generic 500 naming nothing of the setup, none waiting a failover wait
// (an address known down is never dialed; one that refuses answers at
// once), their median within a normal login.
func expectFailsFast(t *testing.T, m *mount, role, jwt string, n int, l latency, hosts ...string) {
	t.Helper()
	took := make([]time.Duration, n)
	for i := range took {
		var r *realstack.Reply
		r, took[i] = timedLogin(t, m, role, jwt)
		expectGenericFault(t, r)
		for _, h := range hosts {
			if strings.Contains(string(r.Raw), strings.TrimPrefix(h, "https://")) {
				t.Errorf("the answer names the address %s: %s", h, r)
			}
		}
		if took[i] >= failoverAfter {
			t.Errorf("every address down: login %d failed after %s, not at once", i+1, took[i])
		}
	}
	if med := median(took); med > l.normal {
		t.Errorf("every address down: median failed login %s, over the normal %s: %v", med, l.normal, took)
	}
	t.Logf("every address down: failed logins took %v", took)
}

// addressEntries is a check answer's kubernetes_addresses: its status and
// what it says of each address, in order.
func addressEntries(a checkAnswer) (string, []realstack.Object) {
	c := a.checks["kubernetes_addresses"]
	list, _ := c.Object("data")["addresses"].([]any)
	entries := make([]realstack.Object, len(list))
	for i, e := range list {
		entries[i], _ = e.(map[string]any)
	}
	return c.Str("status"), entries
}

// expectAddresses checks that a check answer's kubernetes_addresses has
// the status and lists the hosts in order, each in turn or not as inTurn
// says, with a problem and its fix exactly where it does not answer.
func expectAddresses(t *testing.T, a checkAnswer, status string, hosts []string, inTurn, answers []bool) {
	t.Helper()
	got, entries := addressEntries(a)
	if got != status || len(entries) != len(hosts) {
		t.Fatalf("kubernetes_addresses: want %s with %d addresses, got %s", status, len(hosts), a.reply)
	}
	for i, e := range entries {
		if e.Str("address") != hosts[i] || e["in_turn"] != inTurn[i] {
			t.Errorf("kubernetes_addresses[%d]: %v; want address %s, in_turn %v", i, e, hosts[i], inTurn[i])
		}
		if answers[i] == (e.Str("problem") != "") || answers[i] == (e.Str("fix") != "") {
			t.Errorf("kubernetes_addresses[%d] (%s answering: %v): problem %q, fix %q", i, hosts[i], answers[i], e.Str("problem"), e.Str("fix"))
		}
	}
}

// waitInTurn reads config/check until the address at index i is in turn
// again (its background probe found it answering) and says how long that
// took; it fails the test after window.
func waitInTurn(t *testing.T, m *mount, i int, since time.Time, window time.Duration) time.Duration {
	t.Helper()
	for {
		a := m.configCheck(t)
		_, entries := addressEntries(a)
		if i < len(entries) && entries[i]["in_turn"] == true {
			return time.Since(since)
		}
		if time.Since(since) > window {
			t.Fatalf("address %d still not in turn %s after it came back (bound %s): %s", i, time.Since(since), window, a.reply)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// kubernetes_hosts with an HA pair (two API servers on one etcd, one
// signing key and issuer): logins pass; the first address frozen (it
// accepts connections and never answers), logins keep passing on the
// second at their normal latency, at most one of them paying one failover
// wait; the second killed and the first thawed, logins recover on the
// first within the background probe's backoff; the second back (in turn
// again within that backoff) and the first frozen again, logins go on on
// the second as before; with both down, logins fail fast with the generic
// fault. Throughout, config/check's kubernetes_addresses lists each
// address, whether it is in turn, and the problem of one that does not
// answer.
func TestKubernetesHostsFailOverBetweenAnHAPair(t *testing.T) {
	t.Parallel()
	a, b := startHAPair(t)
	hosts := []string{a.Host, b.Host}
	m := newMount(t)
	expectOK(t, root(t, http.MethodPost, "auth/"+m.path+"/config", a.ReviewerConfig(map[string]any{"kubernetes_hosts": hosts})))
	read := root(t, http.MethodGet, "auth/"+m.path+"/config", nil).Data()
	if got := read.Strs("kubernetes_hosts"); !slices.Equal(got, hosts) || read.Str("kubernetes_host") != a.Host {
		t.Fatalf("config reads kubernetes_host %q, kubernetes_hosts %v; want %s and %v", read.Str("kubernetes_host"), got, a.Host, hosts)
	}
	expectAddresses(t, m.configCheck(t), "passed", hosts, []bool{true, true}, []bool{true, true})
	w := a.Mirror(t, stk.NewWorkload(t, "app", nil))
	m.bindRole(t, "app", w, nil)
	jwt := clusterToken(t, a, w)
	l := measureLatency(t, m, "app", jwt)

	if err := a.Freeze(); err != nil {
		t.Fatal(err)
	}
	expectFailedOver(t, "first address frozen", loginTimes(t, m, "app", jwt, 15), l)
	expectAddresses(t, m.configCheck(t), "warning", hosts, []bool{false, true}, []bool{false, true})

	b.Kill()
	if err := a.Thaw(); err != nil {
		t.Fatal(err)
	}
	loginsRecover(t, m, "app", jwt, time.Now(), recoverWithin, l)
	if med := median(loginTimes(t, m, "app", jwt, 10)); med > l.normal {
		t.Errorf("back on the first address: median login %s, over the normal %s", med, l.normal)
	}
	expectAddresses(t, m.configCheck(t), "warning", hosts, []bool{true, false}, []bool{true, false})

	// The second address back: its background probe puts it in turn
	// within recoverWithin. Only then is there somewhere to fail over to:
	// the last address in turn is waited on for the whole request timeout.
	if err := b.Restart(realstack.KubeCtx(t)); err != nil {
		t.Fatal(err)
	}
	t.Logf("the restarted second address was back in turn after %s", waitInTurn(t, m, 1, time.Now(), recoverWithin))
	if err := a.Freeze(); err != nil {
		t.Fatal(err)
	}
	expectFailedOver(t, "second address back, first frozen again", loginTimes(t, m, "app", jwt, 15), l)

	b.Kill()
	expectFailsFast(t, m, "app", jwt, 8, l, hosts...)
}

// kubernetes_hosts on a cluster/<name> entry: the HA pair as a second
// cluster behind a mount whose config is the suite's cluster. With the
// pair's first API server frozen, the named cluster's tokens keep logging
// in to that cluster at their normal latency (at most one login paying one
// failover wait), the suite's cluster's logins through a role that takes
// every cluster are untouched, and cluster/<name>/check lists each
// address of the pair.
func TestKubernetesHostsOnANamedCluster(t *testing.T) {
	t.Parallel()
	a, b := startHAPair(t)
	hosts := []string{a.Host, b.Host}
	m := configuredMount(t)
	m.addCluster(t, "ha", a, map[string]any{"kubernetes_hosts": hosts})
	w := stk.NewWorkload(t, "app", nil)
	mirror := a.Mirror(t, w)
	every := m.role("every")
	m.bindRole(t, every, w, map[string]any{"bound_clusters": "*"})
	haJWT, homeJWT := clusterToken(t, a, mirror), vaultToken(t, w)
	ha := measureLatency(t, m, every, haJWT)
	home := measureLatency(t, m, every, homeJWT)
	expectAddresses(t, m.clusterCheck(t, "ha"), "passed", hosts, []bool{true, true}, []bool{true, true})

	if err := a.Freeze(); err != nil {
		t.Fatal(err)
	}
	expectFailedOver(t, "cluster/ha, first address frozen", loginTimes(t, m, every, haJWT, 15), ha)
	took := loginTimes(t, m, every, homeJWT, 15)
	for _, d := range took {
		if d >= failoverAfter {
			t.Errorf("the suite's cluster's login waited %s with cluster/ha's first address frozen: %v", d, took)
		}
	}
	if med := median(took); med > home.normal {
		t.Errorf("the suite's cluster's median login %s, over its normal %s: %v", med, home.normal, took)
	}
	expectCluster(t, m, m.mustLogin(t, every, haJWT), "ha", mirror)
	expectAddresses(t, m.clusterCheck(t, "ha"), "warning", hosts, []bool{false, true}, []bool{false, true})
}

// kubernetes_hosts naming an API server of another cluster beside an HA
// pair, with no reviewer (each login's JWT reviews itself) and both
// clusters letting anyone read their published keys: the mistake that
// would let the other cluster's service accounts log in as this one's
// whenever a login fails over. config/check fails kubernetes_addresses,
// naming that address with its problem and fix, and gives the pair's
// servers the same key IDs; with the pair's reviewer it fails too, the
// other cluster refusing the credential; with the address removed it
// passes.
func TestKubernetesHostsOfAnotherClusterFailTheCheck(t *testing.T) {
	t.Parallel()
	a, b := startHAPair(t)
	other := startCluster(t, otherIssuer(t))
	for _, c := range []*realstack.Cluster{a, other} {
		allowAnonymousKeyReads(t, c)
	}
	m := newMount(t)
	bundle := strings.TrimSpace(a.CA) + "\n" + strings.TrimSpace(other.CA) + "\n"
	hosts := []string{a.Host, b.Host, other.Host}
	expectOK(t, root(t, http.MethodPost, "auth/"+m.path+"/config", map[string]any{"kubernetes_hosts": hosts, "kubernetes_ca_cert": bundle}))
	check := m.configCheck(t)
	status, entries := addressEntries(check)
	if status != "failed" || len(entries) != 3 {
		t.Fatalf("kubernetes_addresses with another cluster's address: %s, want failed with 3 addresses: %s", status, check.reply)
	}
	t.Logf("kubernetes_addresses: %s", check.checks["kubernetes_addresses"].Str("detail"))
	pairKeys := sameKeyIDs(t, check, entries[0], entries[1])
	if problem := entries[2].Str("problem"); !strings.Contains(problem, "another cluster") || !strings.Contains(problem, a.Host) ||
		!strings.Contains(entries[2].Str("fix"), other.Host) {
		t.Errorf("the other cluster's address: problem %q, fix %q; want it named as another cluster's", problem, entries[2].Str("fix"))
	}
	if ids := entries[2]["key_ids"]; ids == nil || fmt.Sprint(ids) == pairKeys {
		t.Errorf("the other cluster's key_ids %v, want its own, not the pair's %s", ids, pairKeys)
	}

	// With the pair's reviewer, the other cluster refuses the credential.
	expectOK(t, root(t, http.MethodPost, "auth/"+m.path+"/config", a.ReviewerConfig(map[string]any{"kubernetes_hosts": hosts, "kubernetes_ca_cert": bundle})))
	check = m.configCheck(t)
	status, entries = addressEntries(check)
	if status != "failed" || len(entries) != 3 {
		t.Fatalf("kubernetes_addresses with another cluster's address, with a reviewer: %s, want failed with 3 addresses: %s", status, check.reply)
	}
	t.Logf("kubernetes_addresses with a reviewer: %s", check.checks["kubernetes_addresses"].Str("detail"))
	sameKeyIDs(t, check, entries[0], entries[1])
	if problem := entries[2].Str("problem"); !strings.Contains(problem, "refuses the reviewer credential") || !strings.Contains(problem, a.Host) {
		t.Errorf("the other cluster's address, with the pair's reviewer: problem %q; want it to refuse the credential", problem)
	}

	hosts = hosts[:2]
	expectOK(t, root(t, http.MethodPost, "auth/"+m.path+"/config", a.ReviewerConfig(map[string]any{"kubernetes_hosts": hosts, "kubernetes_ca_cert": bundle})))
	check = m.configCheck(t)
	expectAddresses(t, check, "passed", hosts, []bool{true, true}, []bool{true, true})
	_, entries = addressEntries(check)
	sameKeyIDs(t, check, entries[0], entries[1])
}

// sameKeyIDs checks that two addresses published the same, non-empty key
// IDs, and gives them.
func sameKeyIDs(t *testing.T, check checkAnswer, x, y realstack.Object) string {
	t.Helper()
	xs, ys := fmt.Sprint(x["key_ids"]), fmt.Sprint(y["key_ids"])
	if x["key_ids"] == nil || xs == "[]" || xs != ys || x.Str("problem") != "" || y.Str("problem") != "" {
		t.Fatalf("the HA pair's addresses: key_ids %s and %s, problems %q and %q; want the same keys, no problem: %s",
			xs, ys, x.Str("problem"), y.Str("problem"), check.reply)
	}
	return xs
}

// allowAnonymousKeyReads lets callers without credentials read cluster c's
// discovery document and published keys, as clusters that serve OIDC
// discovery to outside verifiers do.
func allowAnonymousKeyReads(t *testing.T, c *realstack.Cluster) {
	t.Helper()
	if _, err := c.Kube.RbacV1().ClusterRoleBindings().Create(realstack.KubeCtx(t), &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "anonymous-service-account-issuer-discovery"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: issuerDiscovery},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "system:unauthenticated"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
