package kubeauth

import (
	"context"
	"crypto"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/clusterkeys"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/metrics"
)

// newClusterKeys starts the cluster's key set for one config: the keys
// (from the API server, or jwks_url) and the issuer, fetched as fetcher
// says (see keyFetcher). The metrics read the keys' age until the set is
// closed.
func (b *backend) newClusterKeys(fetcher keyFetcher, m *metrics.Cluster) clusterKeySource {
	set := clusterkeys.New(fetcher, clusterkeys.Options{
		Now:          func() time.Time { return b.now() },
		Logger:       b.Logger().Named("clusterkeys"),
		AccessDenied: credentialRefused,
		KeysURL:      fetcher.keysURL,
		OnKeysFetched: func(err error) {
			result := metrics.RefreshSucceeded
			if err != nil {
				result = metrics.RefreshFailed
			}
			m.KeysRefreshed(result)
		},
	})
	stop := m.WatchKeysAge(func() (time.Duration, bool) {
		st := set.KeysStatus()
		return st.Age, st.Loaded
	})
	return watchedKeys{Set: set, stopWatch: stop, release: fetcher.close}
}

// watchedKeys is a key set whose age the metrics read until it closes;
// release frees what its fetcher owns once no fetch runs.
type watchedKeys struct {
	*clusterkeys.Set
	stopWatch func()
	release   func()
}

func (w watchedKeys) Close() {
	w.stopWatch()
	w.Set.Close()
	w.release()
}

// credentialRefused says whether the API server answered a fetch of the
// cluster's keys by refusing the reviewer credential (401: not accepted,
// 403: no longer allowed), as opposed to failing to answer.
func credentialRefused(err error) bool {
	s := kube.Status(err)
	return s == http.StatusUnauthorized || s == http.StatusForbidden
}

func isUnknownKey(err error) bool { return errors.Is(err, clusterkeys.ErrUnknownKey) }

// clusterKeySource is the cluster's service-account signing keys and
// issuer, as the API server publishes them (internal/clusterkeys).
type clusterKeySource interface {
	Key(ctx context.Context, kid string) (crypto.PublicKey, error)
	FreshKey(ctx context.Context, kid string) (crypto.PublicKey, error)
	Cached(kid string) (crypto.PublicKey, bool)
	KeysStatus() clusterkeys.KeysStatus
	Issuer(ctx context.Context) (string, error)
	// The prompt accessors, for the choice of a login's cluster: they do
	// not hold a caller for a cluster that is slow or failing.
	KnownIssuer() (string, bool)
	PromptIssuer(ctx context.Context) (string, error)
	PromptKey(ctx context.Context, kid string) (crypto.PublicKey, error)
	Close()
}

// lazyKeys starts the cluster's key set on first use, so a config whose
// roles never verify locally never fetches keys, and stops it when the
// state it belongs to retires.
type lazyKeys struct {
	start func() clusterKeySource

	mu  sync.Mutex
	set clusterKeySource
}

// get returns the key set, starting it on first use. Only a request that
// holds the state calls it, and a state retires only once no request holds
// it, so a retired set is never handed out.
func (l *lazyKeys) get() clusterKeySource {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.set == nil {
		l.set = l.start()
	}
	return l.set
}

// status is what the key set holds, without starting it (ok false when it
// was not started: no login has needed it yet).
func (l *lazyKeys) status() (st clusterkeys.KeysStatus, ok bool) {
	l.mu.Lock()
	set := l.set
	l.mu.Unlock()
	if set == nil {
		return clusterkeys.KeysStatus{}, false
	}
	return set.KeysStatus(), true
}

// close stops the key set, if it was started.
func (l *lazyKeys) close() {
	l.mu.Lock()
	set := l.set
	l.set = nil
	l.mu.Unlock()
	if set != nil {
		set.Close()
	}
}
