// Package reviewcache remembers successful answers for a short while and
// lets concurrent callers that ask the same question share one call.
//
// It knows nothing of Vault or Kubernetes: a Key is a SHA-256 digest of the
// question (for a TokenReview, the JWT and the audiences asked about, so the
// JWT itself is never kept), a value is whatever the caller chooses to keep.
// The caller decides what is worth keeping: a failure must never be Put.
package reviewcache

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Key identifies a question by its digest.
type Key [sha256.Size]byte

// keyBufs recycles the buffer a key is digested from, so a lookup on the
// login path allocates nothing for it.
var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// KeyFor is the digest of the parts, each prefixed with its length so that
// no two different lists of parts give the same input (("ab","c") and
// ("a","bc") differ). For a TokenReview the parts are the JWT and then the
// audiences in the order asked.
func KeyFor(first string, more ...string) Key {
	bp := keyBufs.Get().(*[]byte)
	buf := appendPart((*bp)[:0], first)
	for _, p := range more {
		buf = appendPart(buf, p)
	}
	k := Key(sha256.Sum256(buf))
	clear(buf) // the buffer held a bearer token
	*bp = buf[:0]
	keyBufs.Put(bp)
	return k
}

func appendPart(buf []byte, p string) []byte {
	buf = binary.BigEndian.AppendUint64(buf, uint64(len(p)))
	return append(buf, p...)
}

// Options bound a cache.
type Options struct {
	// MaxEntries bounds the number of entries (default 10,000). When full, a
	// Put first drops expired entries from the oldest end, then the oldest.
	MaxEntries int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultMaxEntries is the entry bound when Options leaves it zero.
const DefaultMaxEntries = 10000

// Cache maps keys to values that expire, and coalesces calls by key. The
// zero value is not usable; call New. All methods are safe for concurrent use.
type Cache[V any] struct {
	max int
	now func() time.Time

	mu      sync.Mutex
	entries map[Key]*list.Element // of *entry[V]
	order   *list.List            // oldest Put first

	// callsMu guards calls, the calls of Do in flight by key.
	callsMu sync.Mutex
	calls   map[Key]*call[V]
	// waiting counts callers inside Do that have joined a call (see Waiting).
	waiting atomic.Int64
}

type entry[V any] struct {
	key     Key
	value   V
	stored  time.Time
	expires time.Time
}

// New returns an empty cache.
func New[V any](o Options) *Cache[V] {
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Cache[V]{max: o.MaxEntries, now: o.Now, entries: map[Key]*list.Element{}, order: list.New(), calls: map[Key]*call[V]{}}
}

// Get returns the value stored under k unless it has expired or was stored
// maxAge or longer ago (maxAge <= 0: any age). A value too old for this
// caller stays for callers that accept older ones, until it expires.
func (c *Cache[V]) Get(k Key, maxAge time.Duration) (V, bool) {
	var zero V
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[k]
	if !ok {
		return zero, false
	}
	e := el.Value.(*entry[V])
	now := c.now()
	if !now.Before(e.expires) {
		c.removeLocked(el)
		return zero, false
	}
	if maxAge > 0 && now.Sub(e.stored) >= maxAge {
		return zero, false
	}
	return e.value, true
}

// Put stores v under k until now+ttl, or until notAfter when that is
// earlier (the zero time: no such bound). A value that would already be
// expired is not stored. Storing under an existing key replaces its value
// and makes it the newest entry.
func (c *Cache[V]) Put(k Key, v V, ttl time.Duration, notAfter time.Time) {
	now := c.now()
	expires := now.Add(ttl)
	if !notAfter.IsZero() && notAfter.Before(expires) {
		expires = notAfter
	}
	if !now.Before(expires) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[k]; ok {
		c.removeLocked(el)
	}
	c.makeRoomLocked(now)
	e := &entry[V]{key: k, value: v, stored: now, expires: expires}
	c.entries[k] = c.order.PushBack(e)
}

// makeRoomLocked drops expired entries from the oldest end, then, while the
// cache is still full, the oldest entries.
func (c *Cache[V]) makeRoomLocked(now time.Time) {
	for el := c.order.Front(); el != nil && len(c.entries) > 0; el = c.order.Front() {
		e := el.Value.(*entry[V])
		if now.Before(e.expires) && len(c.entries) < c.max {
			return
		}
		c.removeLocked(el)
	}
}

func (c *Cache[V]) removeLocked(el *list.Element) {
	delete(c.entries, el.Value.(*entry[V]).key)
	c.order.Remove(el)
}

// Len is the number of entries held, expired ones not yet dropped included.
func (c *Cache[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// Do calls fn once for all callers that ask about k at the same time: the
// first caller starts fn, and callers arriving before it returns wait for
// its result instead of calling again. fn runs with the first caller's
// context values but not its cancellation, so one caller giving up does
// not fail the others; each caller stops waiting when its own ctx ends,
// and when the last one has stopped, fn's context is canceled, so a call
// nobody waits for any more does not run on to its own bound. A caller
// arriving after that starts a call of its own. fn must bound its own
// duration. Do stores nothing: the caller decides whether a result is
// worth a Put.
func (c *Cache[V]) Do(ctx context.Context, k Key, fn func(context.Context) (V, error)) (V, error) {
	c.callsMu.Lock()
	cl, ok := c.calls[k]
	if !ok {
		callCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		cl = &call[V]{done: make(chan struct{}), cancel: cancel}
		c.calls[k] = cl
		go c.run(callCtx, k, cl, fn)
	}
	cl.waiters++
	c.callsMu.Unlock()
	// Counted once this caller has joined the call in flight, so Waiting
	// never counts a caller that could still start a call of its own.
	c.waiting.Add(1)
	defer c.waiting.Add(-1)

	select {
	case <-cl.done:
		return cl.val, cl.err
	case <-ctx.Done():
		c.leave(k, cl)
		var zero V
		return zero, ctx.Err()
	}
}

// call is one run of a Do's fn and the callers waiting for it.
type call[V any] struct {
	done   chan struct{} // closed when val and err are set
	val    V
	err    error
	cancel context.CancelFunc
	// waiters counts the callers still waiting; guarded by the cache's
	// callsMu.
	waiters int
}

// run calls fn and hands its result to the waiters.
func (c *Cache[V]) run(ctx context.Context, k Key, cl *call[V], fn func(context.Context) (V, error)) {
	defer func() {
		// A panic in fn would otherwise end the process: this goroutine is
		// no caller's.
		if r := recover(); r != nil {
			cl.err = fmt.Errorf("reviewcache: panic in a coalesced call: %v\n%s", r, debug.Stack())
		}
		c.callsMu.Lock()
		if c.calls[k] == cl {
			delete(c.calls, k)
		}
		c.callsMu.Unlock()
		cl.cancel()
		close(cl.done)
	}()
	cl.val, cl.err = fn(ctx)
}

// leave records that a waiter of cl gave up; the last one cancels the call
// and takes it out of the map, so that nobody joins a canceled call.
func (c *Cache[V]) leave(k Key, cl *call[V]) {
	c.callsMu.Lock()
	defer c.callsMu.Unlock()
	cl.waiters--
	if cl.waiters > 0 {
		return
	}
	if c.calls[k] == cl {
		delete(c.calls, k)
	}
	cl.cancel()
}

// Waiting is the number of callers inside Do that have joined a call,
// their own or another's, and wait for its result.
func (c *Cache[V]) Waiting() int { return int(c.waiting.Load()) }
