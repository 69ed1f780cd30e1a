package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// startHAPair starts a second cluster with two API servers over the same
// etcd prefix, signing key and issuer, as a highly available control
// plane: the cluster's own (A) and a peer (B) on a port the system chose.
// Both are stopped when the test ends.
func startHAPair(t *testing.T) (*realstack.Cluster, *realstack.APIServer) {
	t.Helper()
	c := startCluster(t, otherIssuer(t))
	port, err := realstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	b, err := c.StartPeer(realstack.KubeCtx(t), port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Stop)
	t.Logf("cluster %s: peer on %s ready after %v; log %s", c.Name, b.Host, time.Since(start).Round(100*time.Millisecond), b.LogPath)
	return c, b
}

// readyz is one GET /readyz without credentials, verified with the CA, as
// the plugin's re-probe of a down address asks; the error when nothing
// answers within the timeout.
func readyz(t *testing.T, host, caPEM string, timeout time.Duration) (int, error) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(caPEM))
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(host + "/readyz")
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// The harness's HA pair is one cluster served twice: a token the first API
// server minted is reviewed by the second and the other way round, and an
// object written through one is read through the other. Frozen (SIGSTOP),
// an API server still accepts connections and answers nothing; thawed, it
// answers again; killed, its port refuses connections; restarted, it
// serves the same cluster.
func TestHAPairIsOneClusterServedTwice(t *testing.T) {
	t.Parallel()
	c, b := startHAPair(t)
	w := c.Mirror(t, stk.NewWorkload(t, "app", nil))
	onA := reviewerClient(t, c.Host, c.CA, c.ReviewerJWT)
	onB := reviewerClient(t, b.Host, c.CA, c.ReviewerJWT)

	bAdmin, err := c.AdminOn(b.Host)
	if err != nil {
		t.Fatal(err)
	}
	mintedByB := func() string {
		t.Helper()
		tr, err := bAdmin.CoreV1().ServiceAccounts(w.Namespace).CreateToken(realstack.KubeCtx(t), w.SA.Name,
			&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{Audiences: []string{"vault"}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("TokenRequest through B: %v", err)
		}
		return tr.Status.Token
	}
	for _, r := range []struct {
		who  string
		kube *kubernetes.Clientset
		tok  string
	}{
		{"A reviewing A's token", onA, clusterToken(t, c, w)},
		{"B reviewing A's token", onB, clusterToken(t, c, w)},
		{"A reviewing B's token", onA, mintedByB()},
	} {
		if st := review(t, r.kube, r.tok); !st.Authenticated || st.User.UID != string(w.SA.UID) {
			t.Errorf("%s: %+v", r.who, st)
		}
	}
	// An object written through B is read through A.
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: realstack.UniqueName(t, "ns")}}
	if _, err := bAdmin.CoreV1().Namespaces().Create(realstack.KubeCtx(t), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Kube.CoreV1().Namespaces().Get(realstack.KubeCtx(t), ns.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("a namespace written through B, read through A: %v", err)
	}

	if err := c.Freeze(); err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(c.Host, "https://"), 2*time.Second)
	if err != nil {
		t.Errorf("frozen A refuses connections: %v", err)
	} else {
		conn.Close()
	}
	if code, err := readyz(t, c.Host, c.CA, 2*time.Second); !isTimeout(err) {
		t.Errorf("frozen A: GET /readyz answered HTTP %d, %v; want a timeout", code, err)
	}
	if st := review(t, onB, mintedByB()); !st.Authenticated {
		t.Errorf("B with A frozen: %+v", st)
	}
	if err := c.Thaw(); err != nil {
		t.Fatal(err)
	}
	if code, err := readyz(t, c.Host, c.CA, 10*time.Second); code != http.StatusOK {
		t.Errorf("thawed A: GET /readyz: HTTP %d, %v", code, err)
	}

	b.Kill()
	if _, err := readyz(t, b.Host, c.CA, 2*time.Second); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("killed B: want connection refused, got %v", err)
	}
	if err := b.Restart(realstack.KubeCtx(t)); err != nil {
		t.Fatal(err)
	}
	if st := review(t, onB, clusterToken(t, c, w)); !st.Authenticated {
		t.Errorf("restarted B: %+v", st)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)
}
