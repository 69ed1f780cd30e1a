// Package kubeauth is a Vault auth method that logs Kubernetes workloads in with
// their service-account tokens, verified through the Kubernetes TokenReview API.
package kubeauth

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/metrics"
)

// Version is reported to Vault so that `vault plugin register -version` and
// `vault auth tune -plugin-version` can pin it. Release builds set it with
// -ldflags "-X github.com/kubeauth/vault-plugin-auth-kubernetes.Version=vX.Y.Z".
var Version = "v0.0.0-dev"

const (
	configPath = "config"
	rolePrefix = "role/"

	// defaultRequestTimeout bounds every call to the Kubernetes API so that a
	// hung API server turns into a clear error instead of a stuck login.
	defaultRequestTimeout = 10 * time.Second
	// requestTimeoutEnv overrides it for the plugin process (set with
	// `vault plugin register -env`), keeping the config API identical to
	// Vault's own method.
	requestTimeoutEnv = "KUBEAUTH_REQUEST_TIMEOUT"
)

// Factory creates a configured backend; Vault calls it once per mount.
func Factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	b := newBackend()
	timeout, err := requestTimeoutFromEnv(os.Getenv(requestTimeoutEnv))
	if err != nil {
		return nil, err
	}
	b.requestTimeout = timeout
	if err := b.Setup(ctx, conf); err != nil {
		return nil, err
	}
	return b, nil
}

// requestTimeoutFromEnv parses the KUBEAUTH_REQUEST_TIMEOUT value, a Go
// duration such as "3s"; empty means the default.
func requestTimeoutFromEnv(v string) (time.Duration, error) {
	if v == "" {
		return defaultRequestTimeout, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive duration such as 5s", requestTimeoutEnv, v)
	}
	return d, nil
}

type backend struct {
	*framework.Backend

	// configMu serializes config writes from validation through the
	// storage write to the install of the new state, so that two writes
	// cannot leave one's state installed and the other's config stored.
	// Logins never take it.
	configMu sync.Mutex

	// mu guards state and generation. It is never held across storage or
	// network calls: readers take the pointer (and a use of it) and release it.
	mu sync.RWMutex
	// state is what is derived from the stored config (parsed keys, the
	// Kubernetes client and its TLS settings); nil until first needed and
	// after the config changes.
	state *configState
	// generation counts config changes so that a lazy load that raced with a
	// write or an invalidation does not install a stale state.
	generation uint64

	// roleLocks serialize read-modify-write of a single role.
	roleLocks []*locksutil.LockEntry
	// roles caches decoded roles for logins and renewals.
	roles *roleCache

	// now and requestTimeout are fields so tests can control time and bounds.
	now            func() time.Time
	requestTimeout time.Duration
	// localFiles locates the pod's service-account CA and token when Vault
	// runs inside Kubernetes.
	localFiles localFiles

	// metrics are this mount's, kept across config writes. Set once by
	// newBackend; safe for concurrent use.
	metrics *metrics.Metrics
}

func newBackend() *backend {
	b := &backend{
		roleLocks:      locksutil.CreateLocks(),
		roles:          newRoleCache(),
		now:            time.Now,
		requestTimeout: defaultRequestTimeout,
		localFiles:     defaultLocalFiles(),
		metrics:        newMetrics(),
	}
	b.Backend = &framework.Backend{
		Help:        strings.TrimSpace(backendHelp),
		BackendType: logical.TypeCredential,
		PathsSpecial: &logical.Paths{
			Unauthenticated: []string{"login"},
			SealWrapStorage: []string{configPath},
		},
		Paths: framework.PathAppend(
			[]*framework.Path{pathConfig(b), pathConfigCheck(b), pathLogin(b), pathExplain(b), pathMetrics(b)},
			pathRoles(b),
		),
		AuthRenew:      b.pathLoginRenew,
		Invalidate:     b.invalidate,
		Clean:          b.clean,
		RunningVersion: Version,
	}
	return b
}

// invalidate is called by Vault (performance standbys, replication) when a
// storage key changed elsewhere; it drops what is cached from that key.
func (b *backend) invalidate(_ context.Context, key string) {
	switch {
	case key == configPath:
		b.resetState()
	case strings.HasPrefix(key, rolePrefix):
		b.roles.forget(strings.TrimPrefix(key, rolePrefix))
	}
}

func (b *backend) clean(context.Context) {
	b.resetState()
	b.roles.reset()
}

// resetState drops everything derived from the config; the next login
// rebuilds it from storage.
func (b *backend) resetState() { b.installState(nil) }

// installState replaces the derived state (nil: rebuild on next use) and
// closes the old one once the requests using it are done.
func (b *backend) installState(s *configState) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.replaceStateLocked(s)
}

func (b *backend) replaceStateLocked(s *configState) {
	b.generation++
	if b.state != nil {
		b.state.close()
	}
	b.state = s
}

// currentState returns the derived state, building it from storage on first
// use and again when the pod's CA file it trusts has changed. It returns
// (nil, nil) when the mount has no config yet. The caller must release a
// non-nil state when its request is done with it.
func (b *backend) currentState(ctx context.Context, s logical.Storage) (*configState, error) {
	b.mu.RLock()
	st, gen := b.state, b.generation
	if st != nil {
		st.kube.acquire()
	}
	b.mu.RUnlock()

	var cfg *kubeConfig
	if st != nil {
		if !usesPodCA(st.config) || !b.localFiles.caChanged(st.podCA) {
			return st, nil
		}
		// The pod's CA was rotated: rebuild the client from the same
		// config, trusting the new file.
		cfg = st.config
		st.release()
	} else {
		var err error
		cfg, err = loadConfig(ctx, s)
		if err != nil || cfg == nil {
			return nil, err
		}
	}
	fresh, err := b.buildState(cfg, parseStored)
	if err != nil {
		return nil, fmt.Errorf("the stored config is unusable: %w", err)
	}
	return b.adoptState(fresh, gen), nil
}

// adoptState installs st, built from what was current at generation gen,
// unless the config changed since: then it uses the newer state, or, when
// there is none, serves this one request with st, which closes on release.
func (b *backend) adoptState(st *configState, gen uint64) *configState {
	st.kube.acquire()
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.generation == gen:
		b.replaceStateLocked(st)
		return st
	case b.state != nil:
		// Installed by a config write or a concurrent login meanwhile:
		// share it, so connections are shared too.
		cur := b.state
		cur.kube.acquire()
		st.close()
		st.release()
		return cur
	default:
		// Invalidated while we read storage; what we read may be stale, so
		// do not keep it.
		st.close()
		return st
	}
}

// release ends a request's use of the state.
func (s *configState) release() {
	if s.kube.release() {
		s.retire()
	}
}

// close retires the state: its connections are closed, and its key set
// stopped, once no request uses it any more.
func (s *configState) close() {
	if s.kube.close() {
		s.retire()
	}
}

const backendHelp = `
The Kubernetes auth method lets Kubernetes service accounts log in to Vault
with their JWTs. Each login is verified with the Kubernetes TokenReview API and
checked against a role that binds service-account names and namespaces to
Vault policies and token settings.
`
