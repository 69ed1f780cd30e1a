package ops

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// Tolerances for what may be left over once the load has ended and things
// have settled, measured against a baseline taken after a warm-up round
// (so connection pools, caches and the Go heap have already grown to their
// working size). A leak of one goroutine, connection or buffer per login
// would exceed them by orders of magnitude: the main round makes thousands.
const (
	tolPluginThreads    = 4
	tolPluginFDs        = 8
	tolPluginRSSKiB     = 32 << 10
	tolVaultGoroutines  = 40
	loadWarmup          = 5 * time.Second
	loadSettleTimeout   = time.Minute
	loadRewriteInterval = 50 * time.Millisecond
)

// loadStats counts outcomes of one load round.
type loadStats struct {
	mu         sync.Mutex
	ok         map[string]int // role -> logins granted
	denied     map[string]int // role -> refusals (403 permission denied)
	unexpected []string       // anything else, first few kept
	nUnexp     int
	latencies  []time.Duration
	rewrites   atomic.Int64
}

func newLoadStats() *loadStats {
	return &loadStats{ok: map[string]int{}, denied: map[string]int{}}
}

func (s *loadStats) bad(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nUnexp++
	if len(s.unexpected) < 10 {
		s.unexpected = append(s.unexpected, fmt.Sprintf(format, args...))
	}
}

func (s *loadStats) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nUnexp
	for _, v := range s.ok {
		n += v
	}
	for _, v := range s.denied {
		n += v
	}
	return n
}

func (s *loadStats) percentile(p float64) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.latencies) == 0 {
		return 0
	}
	l := slices.Clone(s.latencies)
	slices.Sort(l)
	return l[min(len(l)-1, int(float64(len(l))*p))]
}

// sample is the resources of the plugin process and of Vault at one moment.
type sample struct {
	plugin          usage
	vault           usage
	vaultGoroutines int
}

func (s sample) String() string {
	return fmt.Sprintf("plugin: %s | vault: %s goroutines=%d", s.plugin, s.vault, s.vaultGoroutines)
}

// N clients log in for a bounded time while the config and roles are
// rewritten under them. Logins through the role that always binds them
// must all succeed; the role whose binding flips may refuse (403) and
// nothing else. Afterwards the plugin process's threads, open files and
// memory and Vault's goroutines return to where they were before the load.
//
// Not parallel: it runs alone, before the parallel tests, so its CPU use
// does not skew their timing checks and their activity does not blur its
// measurements.
func TestLoadWhileRewriting(t *testing.T) {
	e := installPlugin(t, ops.Vault, ops.PluginDir, "kubeauth-load", ops.plugin)
	mount := realstack.UniqueName(t, "k")
	enableAuth(t, ops.Vault, mount, e.name, e.version)
	w := ops.NewWorkload(t, "app", nil)
	configs := []map[string]any{
		ops.ReviewerConfig(nil),
		ops.ReviewerConfig(map[string]any{"disable_iss_validation": false, "issuer": ops.SAIssuer}),
	}
	// Batch tokens: Vault stores nothing per login, so its own memory
	// reflects leaks rather than a token store filling up.
	steady := func(i int) map[string]any {
		return realstack.BindRole(w, map[string]any{"token_type": "batch", "token_ttl": []string{"5m", "10m"}[i%2],
			"token_policies": []string{"load", fmt.Sprintf("load-%d", i%2)}})
	}
	flip := func(i int) map[string]any {
		r := realstack.BindRole(w, map[string]any{"token_type": "batch", "token_ttl": "5m"})
		if i%2 == 1 {
			r["bound_service_account_names"] = []string{"someone-else"}
		}
		return r
	}
	ops.Vault.Must(t, http.MethodPost, "auth/"+mount+"/config", configs[0])
	ops.Vault.Must(t, http.MethodPost, "auth/"+mount+"/role/steady", steady(0))
	ops.Vault.Must(t, http.MethodPost, "auth/"+mount+"/role/flip", flip(0))
	jwts := make([]string, ops.loadClients)
	for i := range jwts {
		jwts[i] = token(t, w)
	}
	ops.Vault.MustLogin(t, mount, "steady", jwts[0])
	pids := childrenRunning(ops.devPID, e.exe)
	if len(pids) != 1 {
		t.Fatalf("want one process of %s under the dev Vault, found %v", e.exe, pids)
	}
	pluginPID := pids[0]

	transport := &http.Transport{MaxIdleConnsPerHost: ops.loadClients, IdleConnTimeout: 30 * time.Second}
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}

	round := func(name string, d time.Duration) *loadStats {
		t.Helper()
		st := newLoadStats()
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		var wg sync.WaitGroup
		for c := range ops.loadClients {
			wg.Go(func() { loadClient(ctx, client, mount, jwts[c], c, st) })
		}
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				var path string
				var body map[string]any
				switch i % 4 {
				case 0:
					path, body = "auth/"+mount+"/config", configs[(i/4)%2]
				case 1:
					path, body = "auth/"+mount+"/role/steady", steady(i/4)
				case 2:
					path, body = "auth/"+mount+"/role/flip", flip(i/4)
				case 3:
					path, body = "auth/"+mount+"/role/flip", flip(i/4+1)
				}
				rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
				r, err := ops.Vault.Do(rctx, client, http.MethodPost, path, body)
				rcancel()
				switch {
				case err != nil:
					st.bad("rewrite %s: %v", path, err)
				case !r.OK():
					st.bad("rewrite: %s", r)
				default:
					st.rewrites.Add(1)
				}
				_ = ctxSleep(ctx, loadRewriteInterval)
			}
		})
		wg.Wait()
		transport.CloseIdleConnections()
		n := st.total()
		t.Logf("%s: %d clients, %v: %d logins (%.0f/s), p50 %v, p99 %v; steady ok=%d; flip ok=%d denied=%d; %d rewrites; unexpected=%d",
			name, ops.loadClients, d, n, float64(n)/d.Seconds(), st.percentile(0.50).Round(100*time.Microsecond),
			st.percentile(0.99).Round(100*time.Microsecond), st.ok["steady"], st.ok["flip"], st.denied["flip"],
			st.rewrites.Load(), st.nUnexp)
		for _, u := range st.unexpected {
			t.Errorf("%s: unexpected outcome: %s", name, u)
		}
		return st
	}

	warm := round("warm-up", loadWarmup)
	if warm.nUnexp > 0 {
		t.FailNow()
	}
	base := settle(t, pluginPID, 5*time.Second)
	t.Logf("baseline after the warm-up: %s", base)

	main := round("load", ops.loadDuration)
	if main.ok["steady"] == 0 || main.ok["flip"] == 0 || main.denied["flip"] == 0 || main.rewrites.Load() == 0 {
		t.Errorf("the load did not exercise every outcome: steady ok=%d, flip ok=%d denied=%d, rewrites=%d",
			main.ok["steady"], main.ok["flip"], main.denied["flip"], main.rewrites.Load())
	}
	peak := takeSample(t, pluginPID)
	t.Logf("right after the load: %s", peak)

	start := time.Now()
	var last sample
	for {
		last = takeSample(t, pluginPID)
		over := overTolerance(base, last)
		if len(over) == 0 {
			break
		}
		if time.Since(start) > loadSettleTimeout {
			t.Fatalf("%v after the load, still above the baseline (%s): %s\nbaseline: %s\nnow:      %s",
				loadSettleTimeout, strings.Join(over, "; "), "growth that does not go away is a leak", base, last)
		}
		time.Sleep(time.Second)
	}
	t.Logf("settled %v after the load: %s", time.Since(start).Round(time.Second), last)
	t.Logf("change from the baseline: plugin threads %+d, fds %+d, rss %+.1fMiB; vault goroutines %+d, rss %+.1fMiB",
		last.plugin.threads-base.plugin.threads, last.plugin.fds-base.plugin.fds,
		float64(last.plugin.rssKiB-base.plugin.rssKiB)/1024, last.vaultGoroutines-base.vaultGoroutines,
		float64(last.vault.rssKiB-base.vault.rssKiB)/1024)
}

// loadClient logs in until ctx ends: three logins through "steady" for one
// through "flip", each client with a token of its own.
func loadClient(ctx context.Context, client *http.Client, mount, jwt string, id int, st *loadStats) {
	anon := realstack.Vault{Addr: ops.Vault.Addr}
	var lat []time.Duration
	defer func() {
		st.mu.Lock()
		st.latencies = append(st.latencies, lat...)
		st.mu.Unlock()
	}()
	for i := id; ctx.Err() == nil; i++ {
		role := "steady"
		if i%4 == 3 {
			role = "flip"
		}
		rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		r, err := anon.Do(rctx, client, http.MethodPost, "auth/"+mount+"/login", map[string]any{"role": role, "jwt": jwt})
		cancel()
		if err != nil {
			st.bad("login %s: %v", role, err)
			continue
		}
		lat = append(lat, r.Elapsed)
		switch {
		case r.Status == http.StatusOK && r.Auth().Str("client_token") != "":
			st.mu.Lock()
			st.ok[role]++
			st.mu.Unlock()
		case role == "flip" && r.Status == http.StatusForbidden && r.ErrorText() == "permission denied":
			st.mu.Lock()
			st.denied[role]++
			st.mu.Unlock()
		default:
			st.bad("login %s: %s", role, r)
		}
	}
}

// settle waits d for background work to finish, then samples.
func settle(t *testing.T, pluginPID int, d time.Duration) sample {
	t.Helper()
	time.Sleep(d)
	return takeSample(t, pluginPID)
}

func takeSample(t *testing.T, pluginPID int) sample {
	t.Helper()
	var s sample
	var err error
	if s.plugin, err = procUsage(pluginPID); err != nil {
		t.Fatalf("plugin process %d: %v", pluginPID, err)
	}
	if s.vault, err = procUsage(ops.devPID); err != nil {
		t.Fatalf("vault process %d: %v", ops.devPID, err)
	}
	s.vaultGoroutines = vaultGoroutines(t)
	return s
}

// vaultGoroutines reads the total from Vault's goroutine profile
// (sys/pprof/goroutine?debug=1 starts with "goroutine profile: total N").
func vaultGoroutines(t *testing.T) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, ops.Vault.Addr+"/v1/sys/pprof/goroutine?debug=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Vault-Token", ops.Vault.Token)
	resp, err := realstack.HTTPClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("sys/pprof/goroutine: HTTP %d, %q, %v", resp.StatusCode, line, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "goroutine profile: total ")))
	if err != nil {
		t.Fatalf("sys/pprof/goroutine: unexpected first line %q", line)
	}
	return n
}

// overTolerance lists what is above the baseline by more than allowed.
func overTolerance(base, now sample) []string {
	var over []string
	check := func(what string, b, n, tol int) {
		if n > b+tol {
			over = append(over, fmt.Sprintf("%s %d -> %d (tolerance +%d)", what, b, n, tol))
		}
	}
	check("plugin threads", base.plugin.threads, now.plugin.threads, tolPluginThreads)
	check("plugin fds", base.plugin.fds, now.plugin.fds, tolPluginFDs)
	check("plugin rss KiB", base.plugin.rssKiB, now.plugin.rssKiB, tolPluginRSSKiB)
	check("vault goroutines", base.vaultGoroutines, now.vaultGoroutines, tolVaultGoroutines)
	return over
}
