package loginlimit

import (
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// DefaultMaxBuckets bounds a mount's buckets: about 100 bytes of limiter
// and a key each, so tens of megabytes at worst, whatever callers send.
const DefaultMaxBuckets = 100_000

// Key names a workload's bucket for one role. Workload is the pod (for a
// token bound to one) or the service account, with its UID, so that a
// recreated pod or account starts afresh.
type Key struct {
	Role, Cluster, Workload string
}

// bucketKey adds the limit: a role whose limit changes counts anew with
// buckets of the new limit, and the old ones age out of the LRU.
type bucketKey struct {
	Key
	Limit
}

// Buckets are the token buckets of the workloads that logged in lately,
// the least recently used dropped beyond the maximum. Safe for concurrent
// use.
type Buckets struct {
	cache *lru.Cache[bucketKey, *rate.Limiter]
}

// NewBuckets holds at most maxBuckets buckets (at least one).
func NewBuckets(maxBuckets int) *Buckets {
	c, err := lru.New[bucketKey, *rate.Limiter](max(maxBuckets, 1))
	if err != nil {
		// Only a size under one fails, which max rules out.
		panic(err)
	}
	return &Buckets{cache: c}
}

// State is a bucket as Peek saw it.
type State struct {
	// Exists is false when the workload has no bucket: it has not logged in
	// on this node lately (or ever), and so is not limited.
	Exists bool
	// Tokens is how many logins the bucket allows now (fractions count
	// towards the next).
	Tokens float64
}

// Limited says whether a login now would be over the limit.
func (s State) Limited() bool { return s.Exists && s.Tokens < 1 }

// Peek reads the workload's bucket at t without creating it, taking a
// token or making it more recently used: what a login not yet verified,
// or explain, may do.
func (b *Buckets) Peek(k Key, l Limit, t time.Time) State {
	lim, ok := b.cache.Peek(bucketKey{k, l})
	if !ok {
		return State{}
	}
	return State{Exists: true, Tokens: lim.TokensAt(t)}
}

// Take takes a token from the workload's bucket at t, creating the bucket
// (full) when there is none: only for a verified login. ok is false when
// the bucket had no token; State is the bucket after.
func (b *Buckets) Take(k Key, l Limit, t time.Time) (ok bool, after State) {
	bk := bucketKey{k, l}
	lim, found := b.cache.Get(bk)
	if !found {
		fresh := rate.NewLimiter(l.rate(), l.Burst)
		if prev, had, _ := b.cache.PeekOrAdd(bk, fresh); had {
			lim = prev
		} else {
			lim = fresh
		}
	}
	ok = lim.AllowN(t, 1)
	return ok, State{Exists: true, Tokens: lim.TokensAt(t)}
}

// Len is how many buckets are held.
func (b *Buckets) Len() int { return b.cache.Len() }
