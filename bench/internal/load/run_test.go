package load

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

// fakeVault answers logins on any mount: every third request fails with a
// message of its own (more distinct messages than a run keeps), the others
// issue a batch token.
func fakeVault(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		if i%3 == 0 {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, `{"errors":["denied %d"]}`, i)
			return
		}
		fmt.Fprint(w, `{"auth":{"client_token":"hvb.token"}}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// A counted run sends exactly Count requests over its clients, counts the
// failed ones as errors, keeps a bounded sample of their messages, and
// draws the distinct workload's tokens from the pool in turn.
func TestRunCounted(t *testing.T) {
	srv, sent := fakeVault(t)
	pool := testPool(10, 10)
	l := &Loader{
		Conn:   Conn{Addr: srv.URL, Timeout: 5 * time.Second, Transport: NewTransport(4)},
		Tokens: &Tokens{Pool: pool, Repeat: []string{"r0", "r1", "r2", "r3"}},
	}
	r, err := l.Run(context.Background(), Spec{Target: targets.ByName[targets.PluginHybrid], Workload: Distinct, Clients: 4, Count: 60})
	if err != nil {
		t.Fatal(err)
	}
	if sent.Load() != 60 || r.Attempts() != 60 {
		t.Fatalf("sent %d, attempts %d; want 60 each", sent.Load(), r.Attempts())
	}
	if r.Errors != 20 || r.OK() != 40 {
		t.Errorf("errors %d, ok %d; want 20, 40 (every third request fails)", r.Errors, r.OK())
	}
	if len(r.ErrSample) != maxErrKinds {
		t.Errorf("%d error texts kept of 20 distinct ones, want %d", len(r.ErrSample), maxErrKinds)
	}
	if !r.DrawsPool || pool.cursor.Load() != 60 {
		t.Errorf("draws %v, pool cursor %d; want the pool's next token for each of 60 logins", r.DrawsPool, pool.cursor.Load())
	}
	if !r.Reuse.OK {
		t.Error("60 logins over a pool of 10 tokens, yet no token came back")
	}
	if r.Target != targets.PluginHybrid || r.Workload != Distinct || r.Clients != 4 || r.Elapsed <= 0 {
		t.Errorf("result names %s/%s/%d, elapsed %v", r.Target, r.Workload, r.Clients, r.Elapsed)
	}
}

// A timed run stops sending once its time has passed.
func TestRunTimed(t *testing.T) {
	srv, sent := fakeVault(t)
	l := &Loader{
		Conn:   Conn{Addr: srv.URL, Timeout: 5 * time.Second, Transport: NewTransport(2)},
		Tokens: &Tokens{Repeat: []string{"r0", "r1"}},
	}
	r, err := l.Run(context.Background(), Spec{Target: targets.ByName[targets.Builtin], Workload: Repeat, Clients: 2, For: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Attempts() == 0 || int64(r.Attempts()) != sent.Load() {
		t.Errorf("attempts %d, sent %d; want the same, more than none", r.Attempts(), sent.Load())
	}
	if r.DrawsPool {
		t.Error("the repeat workload drew from the pool")
	}
	if r.Elapsed < 100*time.Millisecond || r.Elapsed > 5*time.Second {
		t.Errorf("elapsed %v for a 100ms run", r.Elapsed)
	}
}

func TestAddErrSampleIsBounded(t *testing.T) {
	var s map[string]int
	for i := range maxErrKinds + 3 {
		s = addErrSample(s, fmt.Sprint("e", i), 1)
	}
	s = addErrSample(s, "e0", 2)
	if len(s) != maxErrKinds || s["e0"] != 3 {
		t.Errorf("sample %v: want %d texts and e0 counted 3 times", s, maxErrKinds)
	}
}
