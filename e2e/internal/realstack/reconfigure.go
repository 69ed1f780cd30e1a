package realstack

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Argv is the API server's command line, for a caller that changes a flag
// and restarts it with Reconfigure.
func (a *APIServer) Argv() []string { return slices.Clone(a.argv) }

// Reconfigure restarts the API server with another command line, as an
// operator rolls out a new signing key or serving certificate: it stops the
// server, starts argv on the same port and waits until it is ready. A
// serving certificate from another CA needs trustCA (PEM) for the readiness
// check; it is added to the CAs the harness trusts for this server, and the
// old ones stay trusted.
func (a *APIServer) Reconfigure(ctx context.Context, argv []string, trustCA []byte) error {
	if len(trustCA) > 0 {
		tlsCfg := a.client.Clone()
		roots := x509.NewCertPool()
		if tlsCfg.RootCAs != nil {
			roots = tlsCfg.RootCAs.Clone()
		}
		if !roots.AppendCertsFromPEM(trustCA) {
			return errors.New("no CA certificate in the PEM to trust")
		}
		tlsCfg.RootCAs = roots
		a.client = tlsCfg
	}
	a.Stop()
	a.argv = slices.Clone(argv)
	if err := startAPIServer(ctx, a); err != nil {
		return fmt.Errorf("reconfiguring %s: %w", a.name, err)
	}
	return nil
}

// AdminTrusting is the cluster's admin client for one of its API servers
// that also trusts extraCA (PEM): a client that keeps working while the
// servers move to a serving certificate of that CA.
func (c *Cluster) AdminTrusting(host string, extraCA []byte) (*kubernetes.Clientset, error) {
	cfg := rest.CopyConfig(c.admin)
	cfg.Host = host
	cfg.CAData = append(append([]byte{}, cfg.CAData...), extraCA...)
	return kubernetes.NewForConfig(cfg)
}
