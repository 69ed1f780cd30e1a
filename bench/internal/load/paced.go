package load

import (
	"context"
	"sync"
	"time"
)

// Paced is one open-loop run: requests are started at Rate per second,
// whether or not the earlier ones were answered, by at most Workers at a
// time. A closed loop slows down with the server; a flood of bad tokens
// does not, and neither do the valid logins it must not crowd out.
type Paced struct {
	Spec    Spec // Target, Workload and For; Clients and Count are ignored
	Rate    float64
	Workers int
}

// Late is how many of a paced run's requests could not start on time
// because every worker was busy: they are dropped, not sent late, so the
// rate sent is what the server could take.
func (r *Result) Late() int { return r.late }

// RunPaced drives one paced run and returns what it saw, like Run.
func (l *Loader) RunPaced(ctx context.Context, p Paced) (*Result, error) {
	req, draws := l.Tokens.requestFor(p.Spec.Target, p.Spec.Workload)
	clients, err := l.clients(req, p.Workers)
	if err != nil {
		return nil, err
	}
	ticks := make(chan struct{}, p.Workers)
	out := make([]workerResult, len(clients))
	start := time.Now()
	more := keepSending(ctx, p.Spec, start)
	late := 0
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			out[i] = l.work(ctx, c, req, i, func() bool { _, ok := <-ticks; return ok })
		})
	}
	interval := time.Duration(float64(time.Second) / p.Rate)
	for next := start; more(); next = next.Add(interval) {
		time.Sleep(time.Until(next))
		select {
		case ticks <- struct{}{}:
		default:
			late++
		}
	}
	close(ticks)
	wg.Wait()
	r := &Result{Target: p.Spec.Target.Name, Workload: p.Spec.Workload, Clients: p.Workers, Elapsed: time.Since(start), DrawsPool: draws, late: late}
	for _, w := range out {
		r.add(w)
	}
	return r, nil
}
