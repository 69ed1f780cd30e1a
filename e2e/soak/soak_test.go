package soak

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSoak is `make soak`: the stack, the load and the fault schedule for
// SOAK_DURATION, then the report in SOAK_REPORT_DIR (default docs/soak/ of
// the repository); it fails when the report's verdict does.
func TestSoak(t *testing.T) {
	if soakDuration == 0 {
		t.Skip("SOAK_DURATION is not set: `make soak` runs the soak")
	}
	// The suite stops everything shortly before -timeout: a timeout that
	// cuts the run short would leave no report.
	if f := flag.Lookup("test.timeout"); f != nil {
		if timeout, ok := f.Value.(flag.Getter).Get().(time.Duration); ok && timeout > 0 && timeout < soakDuration+15*time.Minute {
			t.Fatalf("-timeout %v is too short for SOAK_DURATION=%v: want at least the duration plus 15m (SOAK_TIMEOUT)", timeout, soakDuration)
		}
	}
	schedule, err := Schedule(soakDuration)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	e, err := setUpEnv(ctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	run, err := e.run(schedule)
	if err != nil {
		t.Error(err) // the report still says what was seen
	}
	j := Judge(run)
	dir := os.Getenv("SOAK_REPORT_DIR")
	if dir == "" {
		dir = filepath.Join(stk.RepoRoot, "docs", "soak")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	md := Markdown(run, j, "report.svg")
	if err := os.WriteFile(filepath.Join(dir, "report.md"), []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "report.svg"), []byte(SVG(run)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("report written to %s/report.md", dir)
	for _, f := range j.Failures {
		t.Error(f)
	}
}

// run drives the load, the sampler and the schedule for the whole run and
// returns what was recorded. A fault that cannot be applied or lifted is
// an error, and the run goes on to record what follows.
func (e *env) run(schedule []Phase) (*Run, error) {
	ctx := context.Background()
	p := &pool{}
	m, err := e.mintRound(ctx)
	if err != nil {
		return nil, err
	}
	p.add(m)
	rec := &recorder{}
	r := &Run{Duration: soakDuration, Setup: e.setupNotes()}
	r.Load = fmt.Sprintf("%d login workers, each pausing %v between logins, over %d cases (%s); one renewal, explain, config/check, role write, cluster write or config write every %v; tokens minted every %v, the last %d rounds in use; the plugin process and its counters sampled every %v",
		loginWorkers, loginInterval, len(cases), caseNames(), opsInterval, mintEvery, keptMints, sampleEvery)
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := range loginWorkers {
		wg.Go(func() { e.loginWorker(loadCtx, i, p, rec) })
	}
	wg.Go(func() { e.opsWorker(loadCtx, p, rec) })
	wg.Go(func() { e.sampler(loadCtx, rec) })
	wg.Go(func() { e.minter(loadCtx, p, rec) })

	r.Started = time.Now()
	r.LoadAvg = append(r.LoadAvg, loadAvg())
	var errs []string
	// Phases follow one another: each starts when the one before ended and
	// lasts its scheduled length, extended when its fault took so long to
	// lift that less than the recovery bound would be left to judge.
	for i, ph := range schedule {
		pr := PhaseRun{Phase: ph, Started: time.Now()}
		if i == len(schedule)/2 {
			r.LoadAvg = append(r.LoadAvg, loadAvg())
		}
		end := pr.Started.Add(ph.End - ph.Start)
		if ph.Fault != FaultNone {
			f := e.faults(ph.FaultFor)[ph.Fault]
			at := func(d time.Duration) { waitUntil(pr.Started.Add(d)) }
			faultCtx, cancel := context.WithTimeout(ctx, ph.End-ph.Start+5*time.Minute)
			notes, err := f.apply(faultCtx, at)
			pr.Notes = append(pr.Notes, notes...)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: applying: %v", ph.Name, err))
			}
			at(ph.FaultFor)
			notes, err = f.lift(faultCtx, at)
			cancel()
			pr.Notes = append(pr.Notes, notes...)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: lifting: %v", ph.Name, err))
			} else {
				pr.Lifted = time.Now()
				pr.Notes = append(pr.Notes, fmt.Sprintf("held %v", pr.Lifted.Sub(pr.Started).Round(time.Second)))
				if least := pr.Lifted.Add(RecoverWithin + 5*time.Second); least.After(end) {
					end = least
					pr.Notes = append(pr.Notes, "the phase extended to leave the recovery bound after the lift")
				}
			}
		}
		waitUntil(end)
		pr.Ended = time.Now()
		r.Phases = append(r.Phases, pr)
	}
	stopLoad()
	wg.Wait()
	r.Ended = time.Now()
	r.LoadAvg = append(r.LoadAvg, loadAvg())
	rec.mu.Lock()
	r.Attempts, r.Ops, r.Samples, r.Counters = rec.attempts, rec.ops, rec.samples, rec.counters
	rec.mu.Unlock()
	if len(errs) > 0 {
		return r, fmt.Errorf("faults: %s", strings.Join(errs, "; "))
	}
	return r, nil
}

func (e *env) setupNotes() []string {
	return []string{
		fmt.Sprintf("One Vault %s with file storage (restartable), the plugin registered as `%s` and mounted at `%s` (goroutines read from the plugin's own profiling endpoint, `KUBEAUTH_PPROF_ADDR`)", "1.21.1", catalogName, mount),
		fmt.Sprintf("Cluster A, the mount's `config`: an HA pair of kube-apiservers (:%d and :%d) on one etcd prefix, with the same signing key and issuer, in `kubernetes_hosts`", e.a.Port(), e.peer.Port()),
		fmt.Sprintf("Cluster B, `cluster/b`: the stack's own kube-apiserver (:%d), with another issuer and key", stk.KubePort),
		"Roles: `always`, `cached` (review_cache_ttl 10s), `hybrid` (local_max_token_age 2m), `selector` (a namespace label selector), `pod` (bound_pod_names) on cluster A; `b` (bound_clusters b) on cluster B",
	}
}

func caseNames() string {
	names := make([]string, len(cases))
	for i, c := range cases {
		names[i] = fmt.Sprintf("`%s`×%d", c.name, c.weight)
	}
	return strings.Join(names, ", ")
}

func waitUntil(t time.Time) {
	if d := time.Until(t); d > 0 {
		time.Sleep(d)
	}
}

func pemPrivateKey(k *rsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func pemPublicKey(k *rsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}
