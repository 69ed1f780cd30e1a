package load

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

// rolesSeen is a Vault that issues a token for every login and records the
// role each one named.
func rolesSeen(t *testing.T) (*httptest.Server, func() map[string]int) {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Role string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		seen[body.Role]++
		mu.Unlock()
		_, _ = w.Write([]byte(`{"auth":{"client_token":"hvb.token"}}`))
	}))
	t.Cleanup(srv.Close)
	return srv, func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
}

// A counted paced run starts every request it is given a tick for or
// counts it late; none is lost, and with Roles the logins name the roles
// in turn with the pool's tokens.
func TestRunPacedCountsEveryTick(t *testing.T) {
	srv, seen := rolesSeen(t)
	l := &Loader{
		Conn:   Conn{Addr: srv.URL, Timeout: 5 * time.Second, Transport: NewTransport(3)},
		Tokens: &Tokens{Pool: testPool(6, 6), Roles: []string{"r-a", "r-b", "r-c"}},
	}
	r, err := l.RunPaced(context.Background(), Paced{Spec: Spec{Target: targets.ByName[targets.PluginHybrid], Workload: Distinct, Count: 60}, Rate: 1e6, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	if r.Attempts()+r.Late() != 60 || r.Errors != 0 {
		t.Fatalf("%d sent + %d late (%d errors), want 60 ticks in all and no error", r.Attempts(), r.Late(), r.Errors)
	}
	total := 0
	for role, n := range seen() {
		if role != "r-a" && role != "r-b" && role != "r-c" {
			t.Errorf("a login named role %q", role)
		}
		total += n
	}
	if total != r.Attempts() {
		t.Errorf("the server saw %d logins, the run counts %d", total, r.Attempts())
	}
}

func TestRoleForSpreadsOverRoles(t *testing.T) {
	tk := &Tokens{Roles: []string{"a", "b", "c"}}
	for k, want := range map[int]string{0: "a", 1: "b", 2: "c", 3: "a", 7: "b", -1: "bench"} {
		if got := tk.roleFor(k); got != want {
			t.Errorf("roleFor(%d) = %q, want %q", k, got, want)
		}
	}
	if got := (&Tokens{}).roleFor(5); got != "bench" {
		t.Errorf("without Roles: %q, want the fixture's role", got)
	}
}
