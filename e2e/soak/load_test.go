package soak

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// The load's shape.
const (
	loginWorkers  = 6
	loginInterval = 120 * time.Millisecond // each worker's pause between logins: about 50 logins/s in all
	opsInterval   = 2 * time.Second        // one request of the other kinds this often
	sampleEvery   = 5 * time.Second
	mintEvery     = time.Minute
	loginTimeout  = 20 * time.Second
)

// recorder collects what the goroutines of a run saw.
type recorder struct {
	mu       sync.Mutex
	attempts []Attempt
	ops      []Op
	samples  []Sample
	counters []Counters
	issued   []string // client tokens of logins that had to pass and did, for renewals
}

func (r *recorder) attempt(a Attempt, clientToken string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts = append(r.attempts, a)
	if clientToken != "" {
		r.issued = append(r.issued, clientToken)
		if len(r.issued) > 50 {
			r.issued = r.issued[1:]
		}
	}
}

func (r *recorder) op(kind string, out Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, Op{At: time.Now(), Kind: kind, Outcome: out})
}

func (r *recorder) renewable(rng *rand.Rand) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.issued) == 0 {
		return ""
	}
	return r.issued[rng.IntN(len(r.issued))]
}

// expect asks the oracle about a token on a role at one moment.
func (e *env) expect(c loginCase, tok token, at time.Time) (Expect, string) {
	e.mu.Lock()
	keys := make(map[int]KeyState, len(e.keyStates))
	for k, v := range e.keyStates {
		keys[k] = v
	}
	e.mu.Unlock()
	if tok.b {
		keys = map[int]KeyState{0: {AllVerify: time.Unix(0, 0)}}
	}
	f := tok.facts
	f.Fits = c.fits
	return Expected(f, roles[c.role], keys, at)
}

// loginWorker logs in with a case of the mix at a time until ctx ends. The
// answer is judged at the moment the request was sent and at the moment
// it was answered: a login whose expected answer changed in between (a key
// removed meanwhile) is either way.
func (e *env) loginWorker(ctx context.Context, id int, p *pool, rec *recorder) {
	rng := rand.New(rand.NewPCG(uint64(id), uint64(time.Now().UnixNano())))
	client := &http.Client{Timeout: loginTimeout}
	for ctx.Err() == nil {
		c := pickCase(rng)
		tok, err := c.token(e, p.pick(rng))
		if err != nil {
			rec.op("sign-token-error", OutOther)
			sleep(ctx, loginInterval)
			continue
		}
		sent := time.Now()
		before, why := e.expect(c, tok, sent)
		r, err := e.vault.api.WithToken("").Do(ctx, client, http.MethodPost, "auth/"+mount+"/login", map[string]any{"role": c.role, "jwt": tok.jwt})
		if ctx.Err() != nil {
			return // the run ended mid-request: not an answer
		}
		done := time.Now()
		status, clientToken := 0, ""
		if err == nil {
			status = r.Status
			if a := r.Auth(); a != nil {
				clientToken = a.Str("client_token")
			}
		}
		after, whyAfter := e.expect(c, tok, done)
		want := before
		if after != before {
			want, why = ExpectEither, why+" / "+whyAfter
		}
		out := OutcomeOf(status, clientToken != "")
		keep := ""
		if want == ExpectPass && out == OutSuccess {
			keep = clientToken
		}
		rec.attempt(Attempt{At: done, Kind: "login", Case: c.name, Expect: want, Why: why, Outcome: out, Latency: done.Sub(sent)}, keep)
		sleep(ctx, loginInterval)
	}
}

// opsWorker sends the other requests of the mix in turn: a renewal, an
// explain, config/check, a role rewrite, a cluster rewrite and a config
// patch. A renewal of a token issued to a login that had to pass must pass
// (the roles keep binding the account); the rest are counted.
func (e *env) opsWorker(ctx context.Context, p *pool, rec *recorder) {
	rng := rand.New(rand.NewPCG(99, uint64(time.Now().UnixNano())))
	client := &http.Client{Timeout: 30 * time.Second}
	root := e.vault.api
	ttls := []string{"10m", "15m"}
	for i := 0; ctx.Err() == nil; i++ {
		var r *realstack.Reply
		var err error
		kind := ""
		switch i % 6 {
		case 0:
			tok := rec.renewable(rng)
			if tok == "" {
				// No good login yet to renew: nothing was sent.
				sleep(ctx, opsInterval)
				continue
			}
			sent := time.Now()
			r, err = root.WithToken(tok).Do(ctx, client, http.MethodPost, "auth/token/renew-self", map[string]any{})
			if ctx.Err() != nil {
				return
			}
			status := 0
			if err == nil {
				status = r.Status
			}
			rec.attempt(Attempt{At: time.Now(), Kind: "renew", Case: "renew-self", Expect: ExpectPass, Why: "a token of a login that had to pass, its role unchanged",
				Outcome: OutcomeOf(status, status == 200), Latency: time.Since(sent)}, "")
			sleep(ctx, opsInterval)
			continue
		case 1:
			kind = "explain"
			r, err = root.Do(ctx, client, http.MethodPost, "auth/"+mount+"/explain", map[string]any{"role": "always", "jwt": p.pick(rng).good.jwt})
		case 2:
			kind = "config/check"
			r, err = root.Do(ctx, client, http.MethodGet, "auth/"+mount+"/config/check", nil)
		case 3:
			kind = "role write"
			name := []string{"always", "cached", "hybrid", "selector", "pod", "b"}[rng.IntN(6)]
			r, err = root.Do(ctx, client, http.MethodPost, "auth/"+mount+"/role/"+name, roleBody(name, ttls[rng.IntN(2)]))
		case 4:
			kind = "cluster write"
			r, err = root.Do(ctx, client, http.MethodPost, "auth/"+mount+"/cluster/b", bClusterBody())
		case 5:
			kind = "config write"
			e.configMu.Lock()
			r, err = root.Do(ctx, client, http.MethodPost, "auth/"+mount+"/config", e.configBody())
			e.configMu.Unlock()
		}
		if ctx.Err() != nil {
			return
		}
		status := 0
		if err == nil {
			status = r.Status
		}
		rec.op(kind, OutcomeOf(status, true))
		sleep(ctx, opsInterval)
	}
}

// sampler reads the plugin process and the plugin's counters every few
// seconds.
func (e *env) sampler(ctx context.Context, rec *recorder) {
	ports := []int{e.a.Port(), e.peer.Port(), stk.KubePort}
	client := &http.Client{Timeout: 10 * time.Second}
	for ctx.Err() == nil {
		if pid := e.pluginPID(); pid != 0 {
			if s, err := ReadSample(ctx, pid, ports, e.pprofAddr); err == nil {
				rec.mu.Lock()
				rec.samples = append(rec.samples, s)
				rec.mu.Unlock()
			}
		}
		r, err := e.vault.api.Do(ctx, client, http.MethodGet, "auth/"+mount+"/metrics?format=prometheus", nil)
		out := OutUnavailable
		if err == nil {
			out = OutcomeOf(r.Status, true)
			if r.Status == http.StatusOK {
				c := parseCounters(string(r.Raw))
				c.At = time.Now()
				rec.mu.Lock()
				rec.counters = append(rec.counters, c)
				rec.mu.Unlock()
			}
		}
		rec.op("metrics", out)
		sleep(ctx, sampleEvery)
	}
}

// minter adds a round of tokens every mintEvery.
func (e *env) minter(ctx context.Context, p *pool, rec *recorder) {
	for ctx.Err() == nil {
		sleep(ctx, mintEvery)
		m, err := e.mintRound(ctx)
		if err != nil {
			rec.op("token mint error", OutOther)
			continue
		}
		p.add(m)
		rec.op("token mint", OutSuccess)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
