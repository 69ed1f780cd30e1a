// Package loginlimit is a role's login_rate_limit: its syntax, and the
// token buckets, one per workload and bounded in number, that count one
// Vault node's logins.
package loginlimit

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Bounds of a limit. A period over a day would keep a bucket's memory of a
// workload longer than any LRU of busy nodes keeps it anyway.
const (
	MaxCount  = 10000
	MaxBurst  = 10000
	MinPeriod = time.Second
	MaxPeriod = 24 * time.Hour
)

// maxLen bounds what Parse reads: "10000/24h,burst=10000" and a few
// spelled-out durations fit well within it.
const maxLen = 64

// Limit is Count logins per Period, with up to Burst at once (Count when
// the limit names no burst).
type Limit struct {
	Count  int
	Period time.Duration
	Burst  int
}

// String is the limit as Parse reads it.
func (l Limit) String() string {
	s := strconv.Itoa(l.Count) + "/" + l.Period.String()
	if l.Burst != l.Count {
		s += ",burst=" + strconv.Itoa(l.Burst)
	}
	return s
}

// rate is the limit as tokens per second.
func (l Limit) rate() rate.Limit {
	return rate.Limit(float64(l.Count) / l.Period.Seconds())
}

// RetryAfter is how long a bucket holding tokens (fewer than one) takes to
// hold one again, in whole seconds rounded up and at least one: the value
// of a Retry-After header.
func (l Limit) RetryAfter(tokens float64) time.Duration {
	need := math.Max(1-tokens, 0)
	// Less a nanosecond's worth, so that float rounding (7/12 of a token
	// short of one at 1/12 a second) does not add a whole second.
	secs := math.Ceil(need/float64(l.rate()) - 1e-9)
	if secs < 1 || math.IsNaN(secs) {
		secs = 1
	}
	return time.Duration(secs) * time.Second
}

// Parse reads "<count>/<period>" with an optional ",burst=<n>": for
// example "5/1m" or "5/1m,burst=10". The period is a Go duration ("30s",
// "1m", "1h30m"); count and burst are decimal digits. Nothing else is
// accepted, spaces included.
func Parse(s string) (Limit, error) {
	if len(s) > maxLen {
		return Limit{}, fmt.Errorf("is %d bytes; a limit is at most %d, like \"5/1m\" or \"5/1m,burst=10\"", len(s), maxLen)
	}
	rest, burstPart, hasBurst := strings.Cut(s, ",")
	countPart, periodPart, ok := strings.Cut(rest, "/")
	if !ok {
		return Limit{}, fmt.Errorf("%q is not <count>/<period>[,burst=<n>], like \"5/1m\" or \"5/1m,burst=10\"", s)
	}
	count, err := bounded("count", countPart, MaxCount)
	if err != nil {
		return Limit{}, err
	}
	period, err := parsePeriod(periodPart)
	if err != nil {
		return Limit{}, err
	}
	l := Limit{Count: count, Period: period, Burst: count}
	if hasBurst {
		n, ok := strings.CutPrefix(burstPart, "burst=")
		if !ok {
			return Limit{}, fmt.Errorf("%q: after the comma only burst=<n> may follow", s)
		}
		if l.Burst, err = bounded("burst", n, MaxBurst); err != nil {
			return Limit{}, err
		}
	}
	return l, nil
}

// bounded reads a whole number of 1..maxN written in decimal digits only
// (no sign, no spaces).
func bounded(what, s string, maxN int) (int, error) {
	if s == "" || len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%s %q is not a whole number from 1 to %d", what, s, maxN)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxN {
		return 0, fmt.Errorf("%s %q is not a whole number from 1 to %d", what, s, maxN)
	}
	return n, nil
}

var errPeriod = errors.New(`period must be a duration from 1s to 24h, like "30s", "1m" or "1h"`)

func parsePeriod(s string) (time.Duration, error) {
	if strings.TrimSpace(s) != s {
		return 0, fmt.Errorf("period %q: %w", s, errPeriod)
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < MinPeriod || d > MaxPeriod {
		return 0, fmt.Errorf("period %q: %w", s, errPeriod)
	}
	return d, nil
}
