package loginlimit

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

var (
	t0       = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fivePerM = Limit{Count: 5, Period: time.Minute, Burst: 5}
)

func TestPeekNeverCreates(t *testing.T) {
	b := NewBuckets(10)
	k := Key{Role: "web", Cluster: "default", Workload: "sa:ns/a/uid"}
	for i := range 1000 {
		if s := b.Peek(k, fivePerM, t0.Add(time.Duration(i)*time.Millisecond)); s.Exists || s.Limited() {
			t.Fatalf("Peek found %+v in an empty set", s)
		}
	}
	if b.Len() != 0 {
		t.Fatalf("Len = %d after peeks only, want 0", b.Len())
	}
}

func TestTakeUntilEmptyThenRefill(t *testing.T) {
	b := NewBuckets(10)
	k := Key{Role: "web", Cluster: "default", Workload: "sa:ns/a/uid"}
	for i := range fivePerM.Burst {
		if ok, _ := b.Take(k, fivePerM, t0); !ok {
			t.Fatalf("take %d of the burst refused", i+1)
		}
	}
	before := b.Peek(k, fivePerM, t0)
	if !before.Limited() {
		t.Fatalf("after the burst Peek = %+v, want limited", before)
	}
	if again := b.Peek(k, fivePerM, t0); again != before {
		t.Fatalf("Peek changed the bucket: %+v then %+v", before, again)
	}
	if ok, _ := b.Take(k, fivePerM, t0); ok {
		t.Fatal("a take over the burst passed")
	}
	wait := fivePerM.RetryAfter(b.Peek(k, fivePerM, t0).Tokens)
	if ok, _ := b.Take(k, fivePerM, t0.Add(wait)); !ok {
		t.Fatalf("a take after RetryAfter (%v) refused", wait)
	}
	// A changed limit counts with a bucket of its own.
	if ok, _ := b.Take(k, Limit{Count: 6, Period: time.Minute, Burst: 6}, t0); !ok {
		t.Fatal("a new limit inherited the old limit's empty bucket")
	}
}

// TestBucketsBounded: whatever keys callers bring, the set holds at most
// its maximum.
func TestBucketsBounded(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, maxN := range []int{0, 1, 7, 100} {
		b := NewBuckets(maxN)
		for i := range 5000 {
			k := Key{Role: fmt.Sprint(rng.IntN(5)), Cluster: fmt.Sprint(rng.IntN(3)), Workload: fmt.Sprint(rng.Uint64())}
			l := Limit{Count: 1 + rng.IntN(MaxCount), Period: time.Second, Burst: 1 + rng.IntN(MaxBurst)}
			b.Take(k, l, t0.Add(time.Duration(i)*time.Millisecond))
			if b.Len() > max(maxN, 1) {
				t.Fatalf("max %d: Len = %d after %d takes", maxN, b.Len(), i+1)
			}
		}
	}
}
