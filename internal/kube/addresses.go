package kube

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Failover between the addresses of kubernetes_hosts. The rule a login
// relies on: it never waits on an address known to be down. A failed
// address is taken out of turn at once and brought back by a probe that
// runs in the background, so the cost of a dead address is paid by at most
// the calls in flight when it died.
const (
	// FailoverAfter bounds how long a call waits for the response headers
	// of an address that is not the last one it may try. An API server that
	// accepts connections and never answers (a frozen process, a
	// blackholing load balancer) costs a call this long, once.
	FailoverAfter = 2 * time.Second
	// reprobeFirst and reprobeMax bound the background probe's backoff: a
	// recovered address is back in turn within reprobeMax of answering.
	reprobeFirst = 500 * time.Millisecond
	reprobeMax   = 10 * time.Second
	// probeTimeout bounds one background probe.
	probeTimeout = 2 * time.Second
)

// AddressState is what the client knows of one address of the API server.
type AddressState struct {
	URL     string    // as calls reach it
	Down    bool      // out of turn until a background probe answers
	Since   time.Time // when it went down; zero while up
	LastErr string    // why it went down, or why the last probe failed
}

// address is one entry of an addressPool, guarded by the pool's mutex.
type address struct {
	base    *url.URL
	down    bool
	since   time.Time
	lastErr string
	probing bool // a background probe owns bringing it back
}

// addressPool holds the addresses in order of preference and which of them
// are down. Calls take the addresses that are up, in order.
type addressPool struct {
	now   func() time.Time
	after func(time.Duration) <-chan time.Time
	// probe asks one address whether it answers at all; nil means up.
	probe func(ctx context.Context, base *url.URL) error

	mu    sync.Mutex // guards addrs' fields
	addrs []*address
	// ctx ends when the pool closes, and with it every probe.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newAddressPool(bases []*url.URL, probe func(context.Context, *url.URL) error) *addressPool {
	ctx, cancel := context.WithCancel(context.Background())
	p := &addressPool{
		now:    time.Now,
		after:  time.After,
		probe:  probe,
		ctx:    ctx,
		cancel: cancel,
	}
	for _, b := range bases {
		p.addrs = append(p.addrs, &address{base: b})
	}
	return p
}

// up is the indexes of the addresses in turn, in order of preference.
func (p *addressPool) up() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var order []int
	for i, a := range p.addrs {
		if !a.down {
			order = append(order, i)
		}
	}
	return order
}

// markDown takes address i out of turn for the reason err gives and starts
// its background probe, unless one runs already or the pool is closed.
func (p *addressPool) markDown(i int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.addrs[i]
	if !a.down {
		a.down, a.since = true, p.now()
	}
	a.lastErr = err.Error()
	if a.probing || p.ctx.Err() != nil {
		return
	}
	a.probing = true
	p.wg.Add(1)
	go p.reprobe(i)
}

// reprobe probes address i with a growing backoff until it answers or the
// pool closes. It is the only thing that brings an address back.
func (p *addressPool) reprobe(i int) {
	defer p.wg.Done()
	wait := reprobeFirst
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-p.after(wait):
		}
		ctx, cancel := context.WithTimeout(p.ctx, probeTimeout)
		err := p.probe(ctx, p.addrs[i].base)
		cancel()
		if p.settle(i, err) {
			return
		}
		wait = min(2*wait, reprobeMax)
	}
}

// settle records a probe's answer and says whether probing is over.
func (p *addressPool) settle(i int, err error) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.addrs[i]
	if err != nil && p.ctx.Err() == nil {
		a.lastErr = err.Error()
		return false
	}
	a.probing = false
	if err == nil {
		a.down, a.since, a.lastErr = false, time.Time{}, ""
	}
	return true
}

// close stops every background probe and waits for them.
func (p *addressPool) close() {
	p.cancel()
	p.wg.Wait()
}

// states is a copy of what the pool knows, for config/check and errors.
func (p *addressPool) states() []AddressState {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]AddressState, len(p.addrs))
	for i, a := range p.addrs {
		out[i] = AddressState{URL: a.base.String(), Down: a.down, Since: a.since, LastErr: a.lastErr}
	}
	return out
}

// AllDownError is a call refused without dialling: every address is out of
// turn until its background probe brings it back.
type AllDownError struct{ Addresses []AddressState }

func (e *AllDownError) Error() string {
	parts := make([]string, len(e.Addresses))
	for i, a := range e.Addresses {
		parts[i] = fmt.Sprintf("%s (%s)", a.URL, a.LastErr)
	}
	return "every address of kubernetes_hosts is down, retried in the background: " + strings.Join(parts, "; ")
}
