package kubeauth

import (
	"context"
	"errors"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/clusterkeys"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/metrics"
)

// newClusterKeys starts the cluster's key set for one config: the keys and
// issuer the API server at kubernetes_host publishes, fetched with the
// config's CA and reviewer credential.
func (b *backend) newClusterKeys(client *kube.Client, m *metrics.Cluster) clusterKeySource {
	return clusterkeys.New(keyFetcher{client: client}, clusterkeys.Options{
		Now:    func() time.Time { return b.now() },
		Logger: b.Logger().Named("clusterkeys"),
		OnKeysFetched: func(err error) {
			result := metrics.RefreshSucceeded
			if err != nil {
				result = metrics.RefreshFailed
			}
			m.KeysRefreshed(result)
		},
	})
}

// keyFetcher GETs the key set's documents from the API server. The key set
// fetches on its own goroutines, not on a login's behalf, so the bearer
// token is the reviewer credential (token_reviewer_jwt or the pod's own
// token); hybrid mode does not fetch keys when there is none (see
// canVerifyLocally).
type keyFetcher struct{ client *kube.Client }

func (f keyFetcher) Get(ctx context.Context, path string) ([]byte, error) {
	return f.client.GetPath(ctx, path)
}

func isUnknownKey(err error) bool { return errors.Is(err, clusterkeys.ErrUnknownKey) }
