// Package kubeauth is a Vault auth method that logs Kubernetes workloads in with
// their service-account tokens, verified by the Kubernetes TokenReview API or,
// for roles that choose it, by the cluster's own signing keys.
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

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/fips"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/loginlimit"
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

	// steps are the login pipeline's steps, built by newBackend and only
	// read after.
	steps stepTables

	// configMu serializes config writes from validation through the
	// storage write to the install of the new state, so that two writes
	// cannot leave one's state installed and the other's config stored.
	// Logins never take it.
	configMu sync.Mutex
	// clusterBindMu is held for reading by role writes from the check that
	// the clusters a role names exist to its storage write, and for writing
	// by a cluster delete, which refuses while a role names the cluster.
	clusterBindMu sync.RWMutex

	// mu guards slots and the cluster names. It is never held across
	// storage or network calls: readers take a state (and a use of it) and
	// release the lock.
	mu sync.RWMutex
	// slots hold, per cluster (defaultCluster for config), what is derived
	// from its stored config; see clusters.go.
	slots map[string]*stateSlot
	// names are the named clusters (cluster/<name>), sorted, once listed;
	// namesGen counts their changes so that a listing that raced with a
	// write is not kept.
	names       []string
	namesLoaded bool
	namesGen    uint64

	// roleLocks serialize read-modify-write of a single role.
	roleLocks []*locksutil.LockEntry
	// roles caches decoded roles for logins and renewals.
	roles *roleCache

	// now and requestTimeout are fields so tests can control time and bounds.
	now            func() time.Time
	requestTimeout time.Duration
	// failoverAfter bounds an attempt on one of several addresses; 0 is
	// kube.FailoverAfter.
	failoverAfter time.Duration
	// clusterWait bounds a login's wait for the clusters it asks when
	// choosing its cluster (see cluster_select.go).
	clusterWait time.Duration
	// localFiles locates the pod's service-account CA and token when Vault
	// runs inside Kubernetes.
	localFiles localFiles

	// metrics are this mount's, kept across config writes. Set once by
	// newBackend; safe for concurrent use.
	metrics *metrics.Metrics
	// loginLimits are the buckets of login_rate_limit, per workload, on
	// this node. Set once by newBackend; safe for concurrent use.
	loginLimits *loginlimit.Buckets

	// fipsOnly: the process runs in FIPS 140-only mode, where config
	// refuses the keys the FIPS 140-3 module refuses (fips.go). A field so
	// tests can set it.
	fipsOnly bool

	// storage is the mount's storage as Setup was given it: invalidate
	// gets only a key, and must read whether it still exists.
	storage logical.Storage
}

func newBackend() *backend {
	b := &backend{
		roleLocks:      locksutil.CreateLocks(),
		roles:          newRoleCache(),
		now:            time.Now,
		requestTimeout: defaultRequestTimeout,
		clusterWait:    defaultClusterWait,
		localFiles:     defaultLocalFiles(),
		metrics:        newMetrics(),
		loginLimits:    loginlimit.NewBuckets(loginlimit.DefaultMaxBuckets),
		slots:          map[string]*stateSlot{},
		fipsOnly:       fips.Current().Enforced,
	}
	b.steps = newStepTables(b)
	b.metrics.WatchCacheEntries(b.cacheSizes)
	b.Backend = &framework.Backend{
		Help:        strings.TrimSpace(backendHelp),
		BackendType: logical.TypeCredential,
		PathsSpecial: &logical.Paths{
			Unauthenticated: []string{"login"},
			SealWrapStorage: []string{configPath, clusterPrefix},
		},
		Paths: framework.PathAppend(
			[]*framework.Path{pathConfig(b), pathConfigCheck(b), pathLogin(b), pathExplain(b), pathMetrics(b)},
			pathRoles(b),
			pathClusters(b),
		),
		AuthRenew:      b.pathLoginRenew,
		Invalidate:     b.invalidate,
		Clean:          b.clean,
		RunningVersion: Version,
	}
	return b
}

// Setup keeps the mount's storage for invalidate, then sets the framework
// backend up.
func (b *backend) Setup(ctx context.Context, conf *logical.BackendConfig) error {
	b.storage = conf.StorageView
	return b.Backend.Setup(ctx, conf)
}

// invalidate is called by Vault (performance standbys, replication) when a
// storage key changed elsewhere; it drops what is cached from that key.
func (b *backend) invalidate(ctx context.Context, key string) {
	switch {
	case key == configPath:
		b.resetState(defaultCluster)
	case strings.HasPrefix(key, clusterPrefix):
		name := strings.TrimPrefix(key, clusterPrefix)
		b.forgetClusterNames()
		b.resetState(name)
		b.forgetMetricsIfDeleted(ctx, name)
	case strings.HasPrefix(key, rolePrefix):
		b.roles.forget(strings.TrimPrefix(key, rolePrefix))
	}
}

// forgetMetricsIfDeleted drops a named cluster's series when its key is
// gone, as its delete does on the node that served it. Vault invalidates a
// deleted key as it does a rewritten one; only storage tells them apart,
// and a rewritten cluster keeps its counts.
func (b *backend) forgetMetricsIfDeleted(ctx context.Context, name string) {
	if b.storage == nil || validateClusterName(name) != nil {
		return // not a named cluster's key
	}
	entry, err := b.storage.Get(ctx, clusterStorageKey(name))
	if err != nil {
		// Kept until a later invalidation or a restart: a count too many
		// is better than a live cluster's counts lost.
		b.Logger().Warn("cannot tell whether a cluster was deleted; its metrics are kept", "cluster", name, "error", err)
		return
	}
	if entry == nil {
		b.metrics.ForgetCluster(name)
	}
}

func (b *backend) clean(context.Context) {
	b.mu.Lock()
	for _, slot := range b.slots {
		slot.replace(nil)
	}
	b.names, b.namesLoaded = nil, false
	b.namesGen++
	b.mu.Unlock()
	b.roles.reset()
}

// liveDefault is the default cluster's state (config); see clusterState.
func (b *backend) liveDefault(ctx context.Context, s logical.Storage) (*liveCluster, error) {
	return b.liveCluster(ctx, s, defaultCluster)
}

const backendHelp = `
The Kubernetes auth method lets Kubernetes service accounts log in to Vault
with their JWTs. Each login is verified with the Kubernetes TokenReview API and
checked against a role that binds service-account names and namespaces to
Vault policies and token settings.
`
