package load

import (
	"sync"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

func testPool(n, accounts int) *TokenPool {
	jwts := make([]string, n)
	for i := range jwts {
		jwts[i] = string(rune('a' + i))
	}
	return NewTokenPool(jwts, accounts, time.Unix(1000, 0))
}

// The pool is handed out in order, round and round: a token comes back
// only after every other token was presented once.
func TestPoolNextCyclesInOrder(t *testing.T) {
	p := testPool(5, 5)
	var got []int
	for range 12 {
		got = append(got, p.Next())
	}
	want := []int{0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("next() sequence = %v, want %v", got, want)
		}
	}
}

// Concurrent clients share the cursor: n*len draws hand out each token
// exactly n times.
func TestPoolNextSharedByClients(t *testing.T) {
	p := testPool(7, 7)
	counts := make([]int, 7)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 7 * 50 {
				k := p.Next()
				mu.Lock()
				counts[k]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for k, c := range counts {
		if c != 8*50 {
			t.Errorf("token %d handed out %d times, want %d", k, c, 8*50)
		}
	}
}

func TestPoolUseMeasuresReuse(t *testing.T) {
	p := testPool(3, 3)
	t0 := p.epoch // a use at the epoch itself is still a use
	if _, seen := p.Use(1, t0); seen {
		t.Fatal("first use of token 1 reported as a reuse")
	}
	if gap, seen := p.Use(1, t0.Add(12*time.Second)); !seen || gap != 12*time.Second {
		t.Errorf("reuse after 12 s = %v, %v", gap, seen)
	}
	if gap, seen := p.Use(1, t0.Add(13*time.Second)); !seen || gap != time.Second {
		t.Errorf("reuse after 1 s more = %v, %v", gap, seen)
	}
	if _, seen := p.Use(2, t0.Add(14*time.Second)); seen {
		t.Error("first use of token 2 reported as a reuse")
	}
}

func TestReuseTrackerKeepsTheShortest(t *testing.T) {
	var a, b ReuseTracker
	a.Add(12 * time.Second)
	a.Add(11 * time.Second)
	a.Add(15 * time.Second)
	b.Merge(ReuseTracker{}) // nothing seen: no change
	if b.OK {
		t.Fatal("merging an empty tracker made a value up")
	}
	b.Add(20 * time.Second)
	b.Merge(a)
	if !b.OK || b.Min != 11*time.Second {
		t.Errorf("min = %v %v, want 11s", b.Min, b.OK)
	}
}

func TestPoolCycle(t *testing.T) {
	if got := PoolCycle(12000, 800); got != 15*time.Second {
		t.Errorf("poolCycle(12000, 800/s) = %v, want 15s", got)
	}
	if got := PoolCycle(12000, 0); got != 0 {
		t.Errorf("poolCycle at rate 0 = %v, want 0", got)
	}
}

// Which token each login presents, by target kind and workload.
func TestTokenChooser(t *testing.T) {
	pool := testPool(4, 4)
	repeat := []string{"r0", "r1"}
	verifying := targets.ByName[targets.PluginHybrid]

	choose, draws := tokenChooser(verifying, Distinct, pool, repeat)
	if !draws {
		t.Fatal("a verifying target in the distinct workload does not draw from the pool")
	}
	for i, want := range []int{0, 1, 2, 3, 0} {
		// The client does not matter: the pool's next token, whoever asks.
		jwt, k := choose(i % 2)
		if k != want || jwt != pool.jwts[want] {
			t.Errorf("login %d: token %d (%q), want %d", i, k, jwt, want)
		}
	}

	for _, tc := range []struct {
		target, workload string
	}{
		{targets.PluginAlways, Repeat},
		{targets.Builtin, Repeat},
		{targets.Noop, Distinct},        // ignores the token: spares the pool
		{targets.TokenCreate, Distinct}, // sends none
	} {
		choose, draws := tokenChooser(targets.ByName[tc.target], tc.workload, pool, repeat)
		if draws {
			t.Errorf("%s/%s draws from the pool", tc.target, tc.workload)
		}
		for client := range 4 {
			jwt, k := choose(client)
			if k != -1 || jwt != repeat[client%2] {
				t.Errorf("%s/%s client %d: %q (%d), want its own token %q", tc.target, tc.workload, client, jwt, k, repeat[client%2])
			}
		}
	}
	if pool.cursor.Load() != 5 {
		t.Errorf("cursor = %d, want 5: only the distinct verifying logins advance it", pool.cursor.Load())
	}

	// No pool (the distinct workload is not measured): own tokens.
	if _, draws := tokenChooser(verifying, Distinct, nil, repeat); draws {
		t.Error("draws from a nil pool")
	}
}
