// Package clusterkeys keeps the Kubernetes cluster's service-account signing
// keys and issuer, as published by the API server itself, so that a token can
// be verified locally without a TokenReview.
//
// The keys come from /openid/v1/jwks (or the config's jwks_url, see
// Options.KeysURL) and the issuer from /.well-known/openid-configuration on
// the API server the plugin is configured with. They are fetched on first use, refetched when a token
// names a key the set does not hold (at most once per MinRefresh, so made-up
// kids cannot hammer the API server) and after RefreshEvery, and a failed
// fetch keeps the last good copy.
//
// A last good copy is not trusted forever: FreshKey, for a caller about to
// let a key vouch for a token on its own, refuses keys older than MaxAge
// and keys whose latest refresh the API server answered by refusing the
// credential (AccessDenied), until a refresh succeeds again.
package clusterkeys

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Fetcher GETs a path of the Kubernetes API server (kubernetes_host, with the
// configured CA and reviewer credential) and returns the body; the signing
// keys' path is instead Options.KeysURL, an absolute URL, when that is set.
// It must honor ctx: Close cancels it and waits for the fetch to return.
type Fetcher interface {
	Get(ctx context.Context, path string) ([]byte, error)
}

// Options tune a Set; the zero value gives the defaults.
type Options struct {
	MinRefresh   time.Duration // an unknown kid refreshes at most once per MinRefresh (default 5s)
	RefreshEvery time.Duration // keys and issuer older than this are refetched, on use and in the background (default 5m)
	Now          func() time.Time
	Logger       hclog.Logger
	// MaxAge bounds how old the signing keys held may be for FreshKey
	// (default StaleAfterRefreshes times RefreshEvery).
	MaxAge time.Duration
	// AccessDenied, when set, says whether a fetch's error means the API
	// server refused the credential (HTTP 401 or 403). The keys held then
	// stop being fresh at once: the credential that vouched for them lost
	// access, so the cluster may have revoked more than the key set.
	AccessDenied func(err error) bool
	// OnKeysFetched, when set, is told how each fetch of the signing keys
	// ended: nil, or what failed (the request or the document). A fetch
	// that Close stopped is not reported. It runs on the fetch's goroutine
	// and must not block (it is meant for a counter).
	OnKeysFetched func(err error)
	// KeysURL, when set, is where the signing keys are read (the config's
	// jwks_url) instead of the API server's /openid/v1/jwks; the Fetcher
	// is asked for this URL. The issuer is still the API server's.
	KeysURL string
}

// The API server's own paths for its service-account issuer metadata.
const (
	jwksPath      = "/openid/v1/jwks"
	discoveryPath = "/.well-known/openid-configuration"
)

const (
	defaultMinRefresh   = 5 * time.Second
	defaultRefreshEvery = 5 * time.Minute
	// StaleAfterRefreshes is how many refresh periods the signing keys may
	// go without a good refresh before FreshKey stops answering with them:
	// enough that one or two failed refreshes (an API server restarting)
	// change nothing, few enough that keys the cluster dropped while the
	// plugin could not see it stop vouching within minutes (15 with the
	// default RefreshEvery).
	StaleAfterRefreshes = 3
	// DefaultMaxAge is MaxAge with the default RefreshEvery.
	DefaultMaxAge = StaleAfterRefreshes * defaultRefreshEvery
	// fetchTimeout caps one fetch even if the Fetcher sets no deadline, so a
	// hung API server cannot hold callers (and the in-flight slot) forever.
	fetchTimeout = 30 * time.Second
)

// ErrUnknownKey is returned by Key when the cluster publishes no usable
// signing key with the asked kid (also after a refresh, or when a refresh was
// not allowed yet).
var ErrUnknownKey = errors.New("clusterkeys: the cluster publishes no signing key with this kid")

// ErrStale is returned by FreshKey when the keys held are older than
// MaxAge or a refresh since the last good one was refused the credential;
// the error says which, and the latest refresh's error.
var ErrStale = errors.New("clusterkeys: the cluster's signing keys held are stale")

var errClosed = errors.New("clusterkeys: the key set is closed")

// Set holds the cluster's signing keys and issuer for one plugin
// configuration. It is safe for concurrent use.
type Set struct {
	fetcher      Fetcher
	minRefresh   time.Duration
	refreshEvery time.Duration
	maxAge       time.Duration
	accessDenied func(error) bool
	now          func() time.Time
	log          hclog.Logger

	// tickEvery is how often the background goroutine looks for documents
	// due for a refresh: half of RefreshEvery (but not more often than
	// MinRefresh allows a fetch), so an idle Set's copy is at most 1.5 times
	// RefreshEvery old. No caller waits for it; a used Set also refreshes on
	// use at RefreshEvery.
	tickEvery time.Duration

	// ctx is the parent of every fetch; Close cancels it. fetches counts the
	// fetch goroutines and ticker the background one, so Close can wait.
	ctx     context.Context
	cancel  context.CancelFunc
	fetches sync.WaitGroup
	ticker  sync.WaitGroup

	// mu guards closed, ticking and everything in keys and issuer. Fetches
	// run without it; only their results are installed under it.
	mu      sync.RWMutex
	closed  bool
	ticking bool
	keys    doc[map[string]crypto.PublicKey]
	issuer  doc[string]
}

// New returns a Set that fetches through f. Nothing is fetched, and no
// goroutine runs, until the first Key or Issuer call; from then on a
// background goroutine keeps the documents fresh until Close, which the
// owner must call when it drops the Set.
func New(f Fetcher, o Options) *Set {
	if o.MinRefresh <= 0 {
		o.MinRefresh = defaultMinRefresh
	}
	if o.RefreshEvery <= 0 {
		o.RefreshEvery = defaultRefreshEvery
	}
	if o.MaxAge <= 0 {
		o.MaxAge = StaleAfterRefreshes * o.RefreshEvery
	}
	if o.AccessDenied == nil {
		o.AccessDenied = func(error) bool { return false }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Set{
		fetcher:      f,
		minRefresh:   o.MinRefresh,
		refreshEvery: o.RefreshEvery,
		maxAge:       o.MaxAge,
		accessDenied: o.AccessDenied,
		tickEvery:    max(o.RefreshEvery/2, o.MinRefresh),
		now:          o.Now,
		log:          o.Logger,
		ctx:          ctx,
		cancel:       cancel,
	}
	keysPath := jwksPath
	if o.KeysURL != "" {
		keysPath = o.KeysURL
	}
	s.keys = doc[map[string]crypto.PublicKey]{
		state: state{what: "signing keys", path: keysPath}, parse: parseJWKS, describe: describeKeys,
		fetched: o.OnKeysFetched,
	}
	s.issuer = doc[string]{
		state: state{what: "issuer", path: discoveryPath}, parse: parseIssuer, describe: func(iss string) string { return iss },
	}
	return s
}

// Key returns the cluster's public key named kid. A kid the set does not
// hold triggers a refetch (shared with concurrent callers) unless the last
// fetch began less than MinRefresh ago; a kid still unknown after that is
// ErrUnknownKey. With no keys at all (the first fetch failed) the fetch error
// is returned instead. Key answers from keys of any age: it says which key
// a kid names (to find a token's cluster), not whether to trust it alone.
func (s *Set) Key(ctx context.Context, kid string) (crypto.PublicKey, error) {
	return s.key(ctx, kid, false)
}

// FreshKey is Key for a caller that lets the key vouch for a token without
// asking the API server: keys past MaxAge, or whose latest refresh was
// refused the credential, are refetched as an unknown kid is (at most once
// per MinRefresh), and while still so they are ErrStale, whatever the kid.
// A later good refresh makes them fresh again.
func (s *Set) FreshKey(ctx context.Context, kid string) (crypto.PublicKey, error) {
	return s.key(ctx, kid, true)
}

func (s *Set) key(ctx context.Context, kid string, fresh bool) (crypto.PublicKey, error) {
	if kid == "" {
		return nil, ErrUnknownKey
	}
	// The path every login takes once the keys are loaded: one read lock,
	// one map lookup, no allocation.
	now := s.now()
	s.mu.RLock()
	key, ok := s.keys.val[kid]
	usable := !fresh || s.freshLocked(now)
	due := s.refreshDueLocked(&s.keys.state, now)
	s.mu.RUnlock()
	if ok && usable {
		if due {
			s.keys.refreshInBackground(s)
		}
		return key, nil
	}

	f := s.keys.join(s)
	if err := waitFor(ctx, f); err != nil {
		return nil, err
	}
	now = s.now()
	s.mu.RLock()
	key, ok = s.keys.val[kid]
	usable = !fresh || s.freshLocked(now)
	have, lastErr, closed := s.keys.have, s.keys.err, s.closed
	age, denied := now.Sub(s.keys.fetchedAt), s.keys.denied
	s.mu.RUnlock()
	switch {
	case !have:
		return nil, s.keys.noValue(lastErr, closed)
	case !usable:
		return nil, s.staleError(age, denied, lastErr)
	case ok:
		return key, nil
	case f != nil && f.err != nil:
		return nil, fmt.Errorf("%w (refreshing the cluster's signing keys failed: %w)", ErrUnknownKey, f.err)
	default:
		return nil, ErrUnknownKey
	}
}

// freshLocked says whether the keys held may still vouch on their own: a
// good fetch began at most maxAge ago and no fetch since was refused the
// credential.
func (s *Set) freshLocked(now time.Time) bool {
	return s.keys.have && !s.keys.denied && now.Sub(s.keys.fetchedAt) <= s.maxAge
}

// staleError says why the keys held are not fresh.
func (s *Set) staleError(age time.Duration, denied bool, lastErr error) error {
	age = age.Round(time.Second)
	switch {
	case denied:
		return fmt.Errorf("%w: a refresh was refused the credential since they were fetched, %s ago (latest error: %w)", ErrStale, age, lastErr)
	case lastErr != nil:
		return fmt.Errorf("%w: they are %s old, over %s, and refreshing them failed: %w", ErrStale, age, s.maxAge, lastErr)
	default:
		return fmt.Errorf("%w: they are %s old, over %s", ErrStale, age, s.maxAge)
	}
}

// KeysStatus is what a Set holds of the signing keys, for operators.
type KeysStatus struct {
	Loaded    bool          // a fetch has succeeded
	FetchedAt time.Time     // when the fetch of the keys held began
	Age       time.Duration // since FetchedAt
	MaxAge    time.Duration // the Set's bound
	Fresh     bool          // FreshKey answers with them
	Denied    bool          // a fetch since the last good one was refused the credential
	LastErr   error         // the latest fetch's error; nil after a good one
	Kids      []string      // the kids held, sorted
}

// KeysStatus reports the keys held and how their latest fetch went,
// fetching nothing.
func (s *Set) KeysStatus() KeysStatus {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := KeysStatus{Loaded: s.keys.have, MaxAge: s.maxAge, Denied: s.keys.denied, LastErr: s.keys.err}
	if s.keys.have {
		st.FetchedAt, st.Age, st.Fresh = s.keys.fetchedAt, now.Sub(s.keys.fetchedAt), s.freshLocked(now)
		st.Kids = slices.Sorted(maps.Keys(s.keys.val))
	}
	return st
}

// Cached returns the key named kid if the set holds it, without fetching:
// a caller that asks several clusters' sets which one signed a token can
// find the one that knows the kid before making any set refresh.
func (s *Set) Cached(kid string) (crypto.PublicKey, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	key, ok := s.keys.val[kid]
	return key, ok
}

// Issuer returns the issuer the API server announces in its discovery
// document, fetching it on first use.
func (s *Set) Issuer(ctx context.Context) (string, error) {
	now := s.now()
	s.mu.RLock()
	iss, have := s.issuer.val, s.issuer.have
	due := s.refreshDueLocked(&s.issuer.state, now)
	s.mu.RUnlock()
	if have {
		if due {
			s.issuer.refreshInBackground(s)
		}
		return iss, nil
	}

	f := s.issuer.join(s)
	if err := waitFor(ctx, f); err != nil {
		return "", err
	}
	s.mu.RLock()
	iss, have, lastErr, closed := s.issuer.val, s.issuer.have, s.issuer.err, s.closed
	s.mu.RUnlock()
	if !have {
		return "", s.issuer.noValue(lastErr, closed)
	}
	return iss, nil
}

// Close stops the background goroutine and any fetch in flight, and waits
// for them; later calls fetch nothing. Keys and issuer already loaded are
// still answered.
func (s *Set) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.fetches.Wait()
	s.ticker.Wait()
}

// tick refreshes, every tickEvery, whichever document is due, so a Set that
// sees no calls for a while does not answer its next one from an old copy.
func (s *Set) tick() {
	defer s.ticker.Done()
	t := time.NewTicker(s.tickEvery)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.keys.refreshInBackground(s)
			s.issuer.refreshInBackground(s)
		}
	}
}

// state is what decides when a document is fetched.
type state struct {
	what      string // for the log and errors
	path      string
	have      bool
	fetchedAt time.Time // start of the fetch that produced the value held
	triedAt   time.Time // start of the latest fetch, good or bad
	err       error     // the latest fetch's error; nil after a good one
	denied    bool      // a fetch since the last good one was refused the credential (Options.AccessDenied)
	inflight  *fetch
	// failures counts the fetches that failed in a row, the latest ending
	// at failedAt: prompt callers back off from a failing cluster (see
	// prompt.go).
	failures int
	failedAt time.Time
}

// doc is one document of the API server and the value parsed from it.
type doc[T any] struct {
	state
	parse    func([]byte) (T, []string, error)
	describe func(T) string // a short summary; a change is logged
	fetched  func(error)    // told how each fetch ended (Options.OnKeysFetched); may be nil
	val      T
}

// fetch is one GET in flight; done closes once err and the document's new
// value (if any) are in place.
type fetch struct {
	done chan struct{}
	err  error
	// abandoned: a prompt caller stopped waiting for it (guarded by the
	// Set's mu), so the next ones do not wait for it either.
	abandoned bool
}

// refreshDueLocked reports whether a value held is old enough to refetch
// and no fetch is running or has begun within minRefresh (so a failing API
// server is asked at most once per minRefresh).
func (s *Set) refreshDueLocked(st *state, now time.Time) bool {
	return st.have && !s.closed && st.inflight == nil &&
		now.Sub(st.fetchedAt) >= s.refreshEvery && now.Sub(st.triedAt) >= s.minRefresh
}

// noValue is the error for a caller that needs a value none of the fetches
// has produced: the latest fetch's error, or errClosed when none may run.
func (st *state) noValue(lastErr error, closed bool) error {
	if closed || lastErr == nil {
		return errClosed
	}
	return fmt.Errorf("clusterkeys: fetching the cluster's %s from %s: %w", st.what, st.path, lastErr)
}

// join returns the fetch in flight, or starts one unless the latest began
// less than minRefresh ago or the set is closed (then nil).
func (d *doc[T]) join(s *Set) *fetch {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.inflight != nil {
		return d.inflight
	}
	now := s.now()
	if s.closed || (!d.triedAt.IsZero() && now.Sub(d.triedAt) < s.minRefresh) {
		return nil
	}
	return d.startLocked(s, now)
}

// refreshInBackground starts a periodic refetch if one is still due; the
// caller goes on with the value it has.
func (d *doc[T]) refreshInBackground(s *Set) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := s.now(); s.refreshDueLocked(&d.state, now) {
		d.startLocked(s, now)
	}
}

// startLocked begins a fetch in its own goroutine, so a caller that stops
// waiting (its context ends) does not cancel it for the others.
func (d *doc[T]) startLocked(s *Set, now time.Time) *fetch {
	if !s.ticking {
		s.ticking = true
		s.ticker.Add(1)
		go s.tick()
	}
	f := &fetch{done: make(chan struct{})}
	d.inflight = f
	d.triedAt = now
	s.fetches.Add(1)
	go func() {
		defer s.fetches.Done()
		defer close(f.done)
		val, notes, err := d.get(s)
		if d.fetched != nil && s.ctx.Err() == nil {
			d.fetched(err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		d.inflight = nil
		f.err = err
		d.installLocked(s, now, val, notes, err)
	}()
	return f
}

// get fetches and parses the document, outside the lock.
func (d *doc[T]) get(s *Set) (T, []string, error) {
	ctx, cancel := context.WithTimeout(s.ctx, fetchTimeout)
	defer cancel()
	body, err := s.fetcher.Get(ctx, d.path)
	if err != nil {
		var zero T
		return zero, nil, err
	}
	return d.parse(body)
}

// installLocked keeps a good result, or the last good value after a bad
// one, and logs what changed.
func (d *doc[T]) installLocked(s *Set, started time.Time, val T, notes []string, err error) {
	d.countLocked(s, err)
	if err != nil {
		// Refused stays refused until a good fetch: a later failure to
		// answer at all says nothing of the credential.
		d.err, d.denied = err, d.denied || s.accessDenied(err)
		switch {
		case s.ctx.Err() != nil:
			// Closed: nobody is waiting for the answer.
		case d.have:
			s.log.Warn("refreshing the cluster's "+d.what+" failed; keeping the last good copy",
				"path", d.path, "error", err, "age", s.now().Sub(d.fetchedAt).Round(time.Second).String(), "credential_refused", d.denied)
		default:
			s.log.Error("fetching the cluster's "+d.what+" failed", "path", d.path, "error", err)
		}
		return
	}
	before, had := d.describe(d.val), d.have
	d.val, d.have, d.fetchedAt, d.err, d.denied = val, true, started, nil, false
	if after := d.describe(val); !had || after != before || len(notes) > 0 {
		s.log.Info("loaded the cluster's "+d.what, "path", d.path, "value", after, "skipped", notes)
	}
}

func waitFor(ctx context.Context, f *fetch) error {
	if f == nil {
		return nil
	}
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func parseIssuer(body []byte) (string, []string, error) {
	iss, err := parseDiscovery(body)
	return iss, nil, err
}

// describeKeys lists the kids of a key set, sorted, for the log.
func describeKeys(keys map[string]crypto.PublicKey) string {
	kids := make([]string, 0, len(keys))
	for kid := range keys {
		kids = append(kids, kid)
	}
	slices.Sort(kids)
	return strings.Join(kids, ",")
}
