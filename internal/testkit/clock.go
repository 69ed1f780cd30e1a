package testkit

import (
	"sync"
	"time"
)

// Clock is a settable time source: tests move it, nothing sleeps.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock is a Clock that reads at.
func NewClock(at time.Time) *Clock { return &Clock{now: at} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
