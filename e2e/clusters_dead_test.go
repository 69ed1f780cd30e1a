package e2e

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// blackhole is a listener on a loopback address that accepts connections
// and never answers: a cluster's API server that hangs. It holds every
// connection open until the test ends.
func blackhole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.7:0")
	if err != nil {
		t.Fatalf("listening: %v", err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// timedLogins logs in n times and returns the median time, failing the
// test on any login that is not a 200.
func timedLogins(t *testing.T, m *mount, role, jwt string, n int) time.Duration {
	t.Helper()
	return median(loginTimes(t, m, role, jwt, n))
}

// A cluster whose API server accepts connections and never answers
// (cluster/dead, at a listener of the test) holds no login of a role that
// does not accept it, nor of a role that accepts every cluster with a
// token of the default cluster: their median login stays within a small
// multiple of the same mount's before the dead cluster was added, far
// under the 10 s request timeout. The dead cluster's own logins (a token
// of an issuer no other cluster has) fail with a generic 500 within the
// choice's short wait, and config/check still passes.
func TestClusterBlackholedHoldsNoOtherLogin(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "app", nil)
	home, every := m.role("home"), m.role("every")
	m.bindRole(t, home, w, nil)
	m.bindRole(t, every, w, map[string]any{"bound_clusters": "*"})
	jwt := vaultToken(t, w)
	const n = 15
	timedLogins(t, m, home, jwt, 3) // warm: the role, the connections
	baseline := timedLogins(t, m, home, jwt, n)
	bound := 3*baseline + 200*time.Millisecond
	t.Logf("baseline median %s; bound %s", baseline, bound)

	// No issuer field: its issuer can only be read from its API server.
	dead := "https://" + blackhole(t)
	expectOK(t, root(t, http.MethodPost, "auth/"+m.path+"/cluster/dead", map[string]any{
		"kubernetes_host": dead, "kubernetes_ca_cert": stk.KubeCA, "token_reviewer_jwt": stk.ReviewerJWT,
	}))
	for _, role := range []string{home, every} {
		if got := timedLogins(t, m, role, jwt, n); got > bound {
			t.Errorf("role %s with cluster/dead blackholed: median login %s, baseline %s (bound %s)", role, got, baseline, bound)
		} else {
			t.Logf("role %s with cluster/dead blackholed: median login %s", role, got)
		}
	}

	// A token with an issuer no cluster whose issuer is known has: only
	// the dead cluster may be its, and it never answers.
	claims := claimsFor(w.SA, time.Now().Add(5*time.Minute))
	claims.Issuer = "https://dead.clusters.kubeauth.test"
	forged := signRS256(t, newRSAKey(t), claims)
	for i := range 3 {
		start := time.Now()
		r := m.login(t, every, forged)
		took := time.Since(start)
		t.Logf("the dead cluster's token, login %d: %s in %s", i+1, r, took)
		expectStatus(t, r, http.StatusInternalServerError)
		if strings.Contains(string(r.Raw), "127.0.0.7") {
			t.Errorf("the fault's answer tells the caller about the setup: %s", r)
		}
		if took > 5*time.Second {
			t.Errorf("the dead cluster's token took %s to fail; the choice waits at most 2 s", took)
		}
	}
	if a := m.configCheck(t); !strings.HasPrefix(a.verdict, "ok: ") {
		t.Errorf("config/check with cluster/dead blackholed: %s", a.reply)
	}
}
