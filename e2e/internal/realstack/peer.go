package realstack

import (
	"context"
	"fmt"
	"path/filepath"
)

// StartPeer starts one more API server of the cluster on port, as in a
// highly available control plane: the same etcd prefix (the same objects),
// the same service-account signing key and issuer (a token one mints the
// other reviews), the same serving certificate and client CA (one
// kubernetes_ca_cert verifies both; one admin calls both). It waits until
// the peer is ready. The caller stops it (Stop), also when the test fails;
// the suite's Stop stops whatever is left.
func (c *Cluster) StartPeer(ctx context.Context, port int) (*APIServer, error) {
	name := fmt.Sprintf("kube-apiserver-%s-peer%d", c.Name, c.peers.Add(1))
	p := &APIServer{
		Host:    fmt.Sprintf("https://127.0.0.1:%d", port),
		LogPath: filepath.Join(c.dir, name+".log"),
		name:    name,
		port:    port,
		argv:    ReplaceFlags(c.argv, nil, Flag{"--secure-port", fmt.Sprint(port)}),
		client:  c.client,
		procs:   c.procs,
	}
	if err := startAPIServer(ctx, p); err != nil {
		return nil, fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	return p, nil
}
