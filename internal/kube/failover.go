package kube

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// failover sends each request to the first address of the pool that is up,
// and on to the next when that one fails. Every request the plugin makes is
// safe to repeat: a TokenReview, a SubjectAccessReview and a
// SelfSubjectReview create nothing, and the rest are GETs.
//
// It sits below the credential (authTransport), so every address gets the
// same bearer token: they are all the one API server the operator named.
type failover struct {
	pool *addressPool
	// primary is the address client-go builds URLs with; a request's path
	// is moved from under its path to under the chosen address's.
	primary *url.URL
	next    http.RoundTripper
	// attemptTimeout bounds the wait for response headers from an address
	// that is not the last one a call may try (FailoverAfter).
	attemptTimeout time.Duration
}

// retryableStatus: the address answered, but for itself, not for the
// cluster: overloaded (429, API priority and fairness) or failing (5xx).
func retryableStatus(code int) bool {
	return code == http.StatusTooManyRequests || code >= 500
}

func (f *failover) RoundTrip(req *http.Request) (*http.Response, error) {
	if i, pinned := pinnedAddress(req.Context()); pinned {
		return f.attempt(req, i, 0)
	}
	order := f.pool.up()
	if len(order) == 0 {
		return nil, &AllDownError{Addresses: f.pool.states()}
	}
	last := len(order) - 1
	for n, i := range order[:last] {
		resp, err := f.attempt(rewound(req, n), i, f.attemptTimeout)
		if !f.failed(req, i, resp, err) || !canRewind(req) {
			return resp, err
		}
		discard(resp)
	}
	// The last address has the call's whole time.
	resp, err := f.attempt(rewound(req, last), order[last], 0)
	f.failed(req, order[last], resp, err)
	return resp, err
}

// failed says whether an attempt on address i failed for the address's
// sake, and takes the address out of turn if so. An answer, or a caller
// that went away, says nothing about the address.
func (f *failover) failed(req *http.Request, i int, resp *http.Response, err error) bool {
	failure := attemptFailure(resp, err)
	if failure == nil || req.Context().Err() != nil {
		return false
	}
	f.pool.markDown(i, failure)
	return true
}

// attemptFailure is why an attempt moves the call on, or nil.
func attemptFailure(resp *http.Response, err error) error {
	if err != nil {
		return err
	}
	if retryableStatus(resp.StatusCode) {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// attempt sends req to address i, giving up on the response headers after
// timeout (0: no bound but the call's own).
func (f *failover) attempt(req *http.Request, i int, timeout time.Duration) (*http.Response, error) {
	u := *f.pool.addrs[i].base // never changed after the pool is built
	u.Path = moveUnder(req.URL.Path, f.primary.Path, u.Path)
	u.RawPath, u.RawQuery = "", req.URL.RawQuery
	r := req.Clone(req.Context())
	r.URL, r.Host = &u, ""
	if timeout == 0 {
		return f.next.RoundTrip(r)
	}
	ctx, cancel := context.WithCancel(req.Context())
	race := new(headersRace)
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotFirstResponseByte: func() { race.answered() }})
	timer := time.AfterFunc(timeout, func() {
		if race.expire() {
			cancel()
		}
	})
	resp, err := f.next.RoundTrip(r.WithContext(ctx))
	timer.Stop()
	if !race.answered() {
		discard(resp)
		cancel()
		return nil, &attemptTimeoutError{after: timeout}
	}
	if err != nil {
		cancel()
		return nil, err
	}
	// The attempt's context must outlive the headers: the body is read
	// after RoundTrip returns.
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// headersRace settles, once, whether an attempt's answer or its timeout
// came first. The answer is its first byte, as the transport reads it: the
// goroutine that sent the request may return from RoundTrip later (the
// machine is busy), and a timer checked only then would throw away an
// answer that came in time and take its address out of turn.
type headersRace struct{ state atomic.Int32 }

const (
	raceOpen int32 = iota
	raceAnswered
	raceExpired
)

// answered settles the race for the answer, unless the timeout won it; it
// says whether the answer won.
func (h *headersRace) answered() bool {
	h.state.CompareAndSwap(raceOpen, raceAnswered)
	return h.state.Load() == raceAnswered
}

// expire settles the race for the timeout, unless the answer won it; it
// says whether the timeout won.
func (h *headersRace) expire() bool {
	return h.state.CompareAndSwap(raceOpen, raceExpired)
}

// moveUnder rebases path from under the primary address's path prefix to
// under the chosen address's (an API server behind a path-routing proxy).
func moveUnder(path, fromPrefix, toPrefix string) string {
	from, to := strings.TrimRight(fromPrefix, "/"), strings.TrimRight(toPrefix, "/")
	if rest, ok := strings.CutPrefix(path, from); ok {
		return to + rest
	}
	return path
}

// rewound is req ready for its n-th attempt: the first sends the body as
// given, later ones a fresh copy of it.
func rewound(req *http.Request, n int) *http.Request {
	if n == 0 || req.Body == nil || req.GetBody == nil {
		return req
	}
	body, err := req.GetBody()
	if err != nil {
		return req
	}
	r := req.Clone(req.Context())
	r.Body = body
	return r
}

// canRewind says whether req can be sent again: it has no body, or a way
// to get the body anew (client-go sets one for every request it sends).
func canRewind(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// discard reads and closes a response the call does not return, so its
// connection can serve another call.
func discard(resp *http.Response) {
	if resp == nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	_ = resp.Body.Close()
}

type attemptTimeoutError struct{ after time.Duration }

func (e *attemptTimeoutError) Error() string {
	return fmt.Sprintf("no answer within %s", e.after)
}

func (e *attemptTimeoutError) Timeout() bool { return true }

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

type pinKey struct{}

// pinAddress makes every call under ctx go to address i alone, counting
// nothing against it: config/check asks each address in turn.
func pinAddress(ctx context.Context, i int) context.Context {
	return context.WithValue(ctx, pinKey{}, i)
}

func pinnedAddress(ctx context.Context) (int, bool) {
	i, ok := ctx.Value(pinKey{}).(int)
	return i, ok
}
