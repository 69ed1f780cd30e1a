package load

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/measure"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/progress"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
	"k8s.io/client-go/kubernetes"
)

// Schedule is what the rounds run: every target and workload at every
// client count, Rounds times over, after a warm-up per target.
type Schedule struct {
	Targets   []string
	Workloads []string
	Clients   []int
	Rounds    int
	Warmup    time.Duration
	Duration  time.Duration // of one measured run
	// ServiceAccounts is how many logins prime a reviewing target: one per
	// workload account.
	ServiceAccounts int
}

// MaxClients is the largest client count.
func (s Schedule) MaxClients() int { return MaxClients(s.Clients) }

// MaxClients is the largest of the client counts; 0 for none.
func MaxClients(counts []int) int {
	m := 0
	for _, n := range counts {
		m = max(m, n)
	}
	return m
}

// Instruments read what a run cost: the API server's TokenReviews and the
// CPU time of each stack process, the plugin's found by its file name.
type Instruments struct {
	Kube        kubernetes.Interface
	Procs       measure.Procs
	PluginFiles map[targets.Kind]string
}

// Bench runs the rounds and the profiles: the load, the instruments read
// around each run, and the notes the report will list.
type Bench struct {
	Loader      *Loader
	Instruments Instruments
	Schedule    Schedule
	Notes       *progress.Notes
	// Tokens minted at TokensMinted count as young for plugin-hybrid only
	// up to LocalMaxTokenAge; past it, a note says so once.
	TokensMinted     time.Time
	LocalMaxTokenAge time.Duration
	agedNoted        bool
	// LoadAtStart is the machine's load average when the rounds began.
	LoadAtStart string
}

// RoundOrder is the order of the targets in a round: the fixed order,
// except that in even rounds each *-10c target runs right before its twin
// instead of right after it. A drift over the run (the machine's other
// load rising or falling, Vault's heap growing) then favors neither side
// of the pair's ratio.
func RoundOrder(names []string, round int) []string {
	out := slices.Clone(names)
	if round%2 == 1 {
		return out
	}
	for _, pair := range targets.ClusterPairs {
		i, j := slices.Index(out, pair.One), slices.Index(out, pair.Ten)
		if i >= 0 && j >= 0 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out
}

// RunRounds primes and warms every target, then for every client count runs
// R rounds of the workloads and targets in alternation, so that drift on a
// shared machine (other jobs, Go GC in Vault, the growing identity store)
// spreads over all targets alike.
func (b *Bench) RunRounds(ctx context.Context) ([]*Result, error) {
	for _, name := range b.Schedule.Targets {
		t := targets.ByName[name]
		if b.Loader.Tokens.Pool != nil && t.Reviews() {
			// One login per service account before any timing: the first
			// login of an account creates its entity in Vault's identity
			// store, a write no later login repeats.
			r, err := b.Loader.Run(ctx, Spec{Target: t, Workload: Distinct, Clients: b.Schedule.MaxClients(), Count: b.Schedule.ServiceAccounts})
			if err != nil {
				return nil, err
			}
			progress.Printf("prime   %-17s %5d logins (one per service account), %d errors", name, r.OK(), r.Errors)
		}
		if b.Schedule.Warmup > 0 {
			r, err := b.Loader.Run(ctx, Spec{Target: t, Workload: b.Schedule.Workloads[0], Clients: b.Schedule.MaxClients(), For: b.Schedule.Warmup})
			if err != nil {
				return nil, err
			}
			progress.Printf("warm-up %-17s clients=%-3d %6d ok %4d errors", name, r.Clients, r.OK(), r.Errors)
		}
	}
	b.LoadAtStart = measure.LoadAverage()
	progress.Printf("load average %s", b.LoadAtStart)
	var results []*Result
	for _, n := range b.Schedule.Clients {
		for round := 1; round <= b.Schedule.Rounds; round++ {
			for _, w := range b.Schedule.Workloads {
				for _, name := range RoundOrder(b.Schedule.Targets, round) {
					if ctx.Err() != nil {
						return results, fmt.Errorf("interrupted: %w", ctx.Err())
					}
					r, err := b.measuredRun(ctx, targets.ByName[name], w, n)
					if err != nil {
						return results, err
					}
					r.Round = round
					results = append(results, r)
					b.logRun(r)
				}
			}
		}
	}
	return results, nil
}

// measuredRun is one timed run with the API server's TokenReview count and
// every process's CPU time read before and after it.
func (b *Bench) measuredRun(ctx context.Context, t targets.Target, workload string, clients int) (*Result, error) {
	if t.ReviewMode == "hybrid" && !b.agedNoted && time.Since(b.TokensMinted) > b.LocalMaxTokenAge {
		b.agedNoted = true
		b.Notes.Add("from %s on, the workload tokens are older than local_max_token_age %s: plugin-hybrid reviews them as plugin-cached does (raise -local-max-token-age, at most the plugin's maximum, or shorten the run)",
			time.Now().UTC().Format("15:04:05"), b.LocalMaxTokenAge)
	}
	pluginFile := b.Instruments.PluginFiles[t.Kind]
	revBefore, errBefore := measure.ReadTokenReviews(ctx, b.Instruments.Kube)
	cpuBefore := b.Instruments.Procs.Snapshot(pluginFile)
	r, err := b.Loader.Run(ctx, Spec{Target: t, Workload: workload, Clients: clients, For: b.Schedule.Duration})
	if err != nil {
		return nil, err
	}
	cpuAfter := b.Instruments.Procs.Snapshot(pluginFile)
	revAfter, errAfter := measure.ReadTokenReviews(ctx, b.Instruments.Kube)
	r.CPU = measure.CPUDelta(cpuBefore, cpuAfter)
	if errBefore == nil && errAfter == nil {
		r.Reviews, r.ReviewsKnown = revAfter.Sub(revBefore), true
	} else if ctx.Err() == nil {
		progress.Printf("WARNING: TokenReview count unknown for this run: %v %v", errBefore, errAfter)
	}
	return r, nil
}

// logRun tells the operator how a measured run went, as it ends.
func (b *Bench) logRun(r *Result) {
	sorted := slices.Sorted(slices.Values(r.Latencies))
	extra := ""
	if r.ReviewsKnown && r.Attempts() > 0 {
		extra += fmt.Sprintf(" reviews/login %.3f", r.Reviews.Total/float64(r.Attempts()))
	}
	if r.DrawsPool && r.Reuse.OK {
		extra += fmt.Sprintf(" token reuse >= %.1fs", r.Reuse.Min.Seconds())
	}
	if per, ok := measure.CPUPerLogin(r.CPU[measure.ProcPlugin], r.OK()); ok {
		extra += fmt.Sprintf(" plugin CPU %.0f µs/login", per*1000)
	}
	progress.Printf("round %d/%d %-8s %-17s clients=%-3d %7.1f/s p50 %6.2f ms p99 %6.2f ms %d ok %d errors%s",
		r.Round, b.Schedule.Rounds, r.Workload, r.Target, r.Clients, r.Rate(), ms(Percentile(sorted, 0.50)), ms(Percentile(sorted, 0.99)), r.OK(), r.Errors, extra)
	for msg, c := range r.ErrSample {
		progress.Printf("    %d x %s", c, msg)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// MeasuredRun is one closed-loop run of Schedule.Duration with the
// instruments read around it, for a target outside the catalog (costcurves
// mounts one per dimension).
func (b *Bench) MeasuredRun(ctx context.Context, t targets.Target, workload string, clients int) (*Result, error) {
	return b.measuredRun(ctx, t, workload, clients)
}
