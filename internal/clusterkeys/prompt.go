package clusterkeys

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"time"
)

// Prompt callers ask a cluster's set on behalf of a request that must not
// be held by that cluster when it is slow or failing: a login that picks
// which of several clusters a token comes from. Key and Issuer wait for
// any fetch in flight (up to the fetch's own timeout) and retry a failed
// fetch after MinRefresh; the prompt variants below instead
//   - wait for a fetch only while the cluster has not been seen failing or
//     slow: not for a fetch that another prompt caller gave up on, nor for
//     a retry after a failure unless the caller started it;
//   - start a retry only once a backoff has passed since the latest failure:
//     MinRefresh after the first, doubling with each failure in a row up
//     to maxBackoff, so that a cluster that is down costs the logins that
//     need it one short wait per backoff, not one each.
//
// The caller bounds its own wait with ctx. Fetches still run to their end
// in the background, so the value is there for the next caller.

// maxBackoff caps the wait between retries of a failing cluster, so that a
// cluster back from an outage is noticed within a few minutes at worst.
const maxBackoff = 2 * time.Minute

// ErrNotFetched is returned by the prompt accessors when the value is not
// held and the caller was not made to wait for it: a fetch is running that
// an earlier caller gave up on, or the cluster is failing and its backoff
// has not passed.
var ErrNotFetched = errors.New("clusterkeys: not fetched yet, and the cluster is slow or failing")

// KnownIssuer returns the issuer the set holds, without waiting. When it
// holds none it starts a fetch in the background (unless one runs or the
// cluster is backing off), so that the issuer is known to later callers.
func (s *Set) KnownIssuer() (string, bool) {
	if iss, ok := s.heldIssuer(); ok {
		return iss, true
	}
	s.issuer.joinPromptly(s)
	return "", false
}

// PromptIssuer is Issuer for a prompt caller (see above).
func (s *Set) PromptIssuer(ctx context.Context) (string, error) {
	if iss, ok := s.heldIssuer(); ok {
		return iss, nil
	}
	if err := s.waitPromptly(ctx, s.issuer.joinPromptly(s)); err != nil {
		return "", fmt.Errorf("clusterkeys: gave up waiting for the cluster's issuer: %w", err)
	}
	s.mu.RLock()
	iss, have, st := s.issuer.val, s.issuer.have, s.issuer.state
	closed := s.closed
	s.mu.RUnlock()
	if !have {
		return "", st.promptNoValue(closed)
	}
	return iss, nil
}

// PromptKey is Key for a prompt caller (see above).
func (s *Set) PromptKey(ctx context.Context, kid string) (crypto.PublicKey, error) {
	if kid == "" {
		return nil, ErrUnknownKey
	}
	if key, ok := s.Cached(kid); ok {
		return key, nil
	}
	f := s.keys.joinPromptly(s)
	if err := s.waitPromptly(ctx, f); err != nil {
		return nil, fmt.Errorf("clusterkeys: gave up waiting for the cluster's signing keys: %w", err)
	}
	s.mu.RLock()
	key, ok := s.keys.val[kid]
	have, st, closed := s.keys.have, s.keys.state, s.closed
	s.mu.RUnlock()
	switch {
	case ok:
		return key, nil
	case !have:
		return nil, st.promptNoValue(closed)
	case f != nil && f.err != nil:
		return nil, fmt.Errorf("%w (refreshing the cluster's signing keys failed: %w)", ErrUnknownKey, f.err)
	case f == nil && st.err != nil:
		return nil, fmt.Errorf("%w (the latest refresh of the cluster's signing keys failed: %w)", ErrUnknownKey, st.err)
	}
	return nil, ErrUnknownKey
}

// heldIssuer is the issuer held, refreshed in the background when due.
func (s *Set) heldIssuer() (string, bool) {
	now := s.now()
	s.mu.RLock()
	iss, have := s.issuer.val, s.issuer.have
	due := s.refreshDueLocked(&s.issuer.state, now)
	s.mu.RUnlock()
	if have && due {
		s.issuer.refreshInBackground(s)
	}
	return iss, have
}

// joinPromptly returns the fetch a prompt caller may wait for, starting
// one when none runs and neither MinRefresh nor the backoff forbids it;
// nil when the caller should answer from what the set holds.
func (d *doc[T]) joinPromptly(s *Set) *fetch {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := d.inflight; f != nil {
		// A retry after a failure is waited for only by its starter.
		if f.abandoned || d.failures > 0 {
			return nil
		}
		return f
	}
	now := s.now()
	switch {
	case s.closed:
		return nil
	case !d.triedAt.IsZero() && now.Sub(d.triedAt) < s.minRefresh:
		return nil
	case d.failures > 0 && now.Sub(d.failedAt) < s.backoff(d.failures):
		return nil
	}
	return d.startLocked(s, now)
}

// waitPromptly waits for f until ctx ends; a wait cut short by its
// deadline marks f abandoned, so that no prompt caller waits for it again.
func (s *Set) waitPromptly(ctx context.Context, f *fetch) error {
	err := waitFor(ctx, f)
	if errors.Is(err, context.DeadlineExceeded) {
		s.mu.Lock()
		f.abandoned = true
		s.mu.Unlock()
	}
	return err
}

// backoff is how long after the latest of n failures in a row a prompt
// caller may start a retry.
func (s *Set) backoff(n int) time.Duration {
	d := s.minRefresh
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// countLocked keeps the run of failed fetches that the backoff is reckoned
// from.
func (d *doc[T]) countLocked(s *Set, err error) {
	if err == nil {
		d.failures = 0
		return
	}
	d.failures++
	d.failedAt = s.now()
}

// promptNoValue is the error for a prompt caller that needs a value none of
// the fetches has produced yet.
func (st *state) promptNoValue(closed bool) error {
	switch {
	case closed:
		return errClosed
	case st.err != nil:
		return fmt.Errorf("%w: fetching the cluster's %s from %s: %w", ErrNotFetched, st.what, st.path, st.err)
	}
	return fmt.Errorf("%w: the cluster's %s from %s", ErrNotFetched, st.what, st.path)
}
