package realstack

import (
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// A Cluster is a second Kubernetes cluster beside the stack's: a
// kube-apiserver of its own over the stack's etcd, under an etcd prefix of
// its own (so it sees none of the stack's objects and the stack none of
// its), with its own serving CA, client CA and admin, service-account
// signing key pair and issuer. What it shares with the stack's apiserver is
// the etcd process and every other flag. It has the reviewer the stack has
// (bound to system:auth-delegator and the lookups role).
type Cluster struct {
	Name        string
	Host        string // https://127.0.0.1:<port>
	CA          string // PEM of its serving CA
	Issuer      string // its --service-account-issuer
	SAKey       *rsa.PrivateKey
	SAPubPEM    string
	Kube        *kubernetes.Clientset // its admin (O=system:masters)
	ReviewerJWT string                // a day-long token of its reviewer
	LogPath     string

	port    int
	lookups string
	proc    *Process
}

// ClusterOptions say which cluster to start.
type ClusterOptions struct {
	// Name is a DNS label unique within the run: the cluster's directory
	// (<stack dir>/clusters/<name>), its etcd prefix and its messages.
	Name string
	Port int
	// Issuer is its --service-account-issuer (and --api-audiences): another
	// issuer than the stack's, or the stack's own (SAIssuer) for two
	// clusters that differ only by their signing keys. An https URL, or the
	// API server serves no discovery document.
	Issuer string
}

// clustersDir holds the clusters' files; Start empties it.
func (s *Stack) clustersDir() string { return filepath.Join(s.StackDir, "clusters") }

// StartCluster starts a second cluster and waits until it is ready and has
// its reviewer. The caller stops it (Stop), also when the test fails; the
// suite's Stop stops whatever is left.
func (s *Stack) StartCluster(ctx context.Context, opts ClusterOptions) (*Cluster, error) {
	if len(s.APIServerArgv) == 0 {
		return nil, errors.New("the stack apiserver's command line is unknown: is the stack up?")
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.Port)))
	if err != nil {
		return nil, fmt.Errorf("cluster %s: port %d is taken: %w", opts.Name, opts.Port, err)
	}
	_ = l.Close()
	dir := filepath.Join(s.clustersDir(), opts.Name)
	files, admin, err := writeClusterFiles(dir, opts.Name)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", opts.Name, err)
	}
	c := &Cluster{
		Name:     opts.Name,
		Host:     fmt.Sprintf("https://127.0.0.1:%d", opts.Port),
		CA:       files.servingCA,
		Issuer:   opts.Issuer,
		SAKey:    files.saKey,
		SAPubPEM: files.saPub,
		LogPath:  filepath.Join(dir, "kube-apiserver.log"),
		port:     opts.Port,
		lookups:  s.reviewerLookups(),
	}
	argv := ReplaceFlags(s.APIServerArgv, []string{"--cert-dir"},
		Flag{"--secure-port", strconv.Itoa(opts.Port)},
		Flag{"--tls-cert-file", filepath.Join(dir, "serving.crt")},
		Flag{"--tls-private-key-file", filepath.Join(dir, "serving.key")},
		Flag{"--client-ca-file", filepath.Join(dir, "client-ca.crt")},
		Flag{"--service-account-issuer", opts.Issuer},
		Flag{"--api-audiences", opts.Issuer},
		Flag{"--service-account-key-file", filepath.Join(dir, "sa.pub")},
		Flag{"--service-account-signing-key-file", filepath.Join(dir, "sa.key")},
		Flag{"--etcd-prefix", "/kubeauth-cluster-" + opts.Name},
	)
	if c.proc, err = s.Procs.Start("kube-apiserver-"+opts.Name, c.LogPath, argv, CleanEnv()); err != nil {
		return nil, err
	}
	cfg := &rest.Config{
		Host: c.Host,
		TLSClientConfig: rest.TLSClientConfig{
			CAData: []byte(c.CA), CertData: admin.cert, KeyData: admin.key,
		},
		QPS: 200, Burst: 400,
	}
	if err := c.waitReady(ctx, cfg, 3*time.Minute); err != nil {
		c.Stop()
		return nil, err
	}
	if c.Kube, err = kubernetes.NewForConfig(cfg); err != nil {
		c.Stop()
		return nil, err
	}
	if c.ReviewerJWT, err = createReviewer(ctx, c.Kube, c.lookups); err != nil {
		c.Stop()
		return nil, fmt.Errorf("cluster %s: %w", opts.Name, err)
	}
	return c, nil
}

// clusterFiles are what writeClusterFiles wrote and the caller needs.
type clusterFiles struct {
	servingCA string
	saKey     *rsa.PrivateKey
	saPub     string
}

type pemPair struct{ cert, key []byte }

// writeClusterFiles writes a cluster's serving certificate, client CA and
// signing key pair to dir and returns the admin's client certificate,
// which only the harness holds.
func writeClusterFiles(dir, name string) (clusterFiles, pemPair, error) {
	var f clusterFiles
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return f, pemPair{}, err
	}
	servingCA, servingCert, servingKey, err := NewServingCert("kubeauth cluster "+name+" serving CA", "kube-apiserver-"+name)
	if err != nil {
		return f, pemPair{}, err
	}
	clientCA, adminCert, adminKey, err := NewClientCert("kubeauth cluster "+name+" client CA", "kubeauth-"+name+"-admin", "system:masters")
	if err != nil {
		return f, pemPair{}, err
	}
	saKey, saKeyPEM, saPubPEM, err := NewSigningKey()
	if err != nil {
		return f, pemPair{}, err
	}
	for file, content := range map[string][]byte{
		"serving.crt": servingCert, "serving.key": servingKey,
		"client-ca.crt": clientCA,
		"sa.key":        saKeyPEM, "sa.pub": saPubPEM,
	} {
		if err := os.WriteFile(filepath.Join(dir, file), content, 0o600); err != nil {
			return f, pemPair{}, err
		}
	}
	f = clusterFiles{servingCA: string(servingCA), saKey: saKey, saPub: string(saPubPEM)}
	return f, pemPair{cert: adminCert, key: adminKey}, nil
}

// waitReady polls /readyz as the admin until the API server answers ok,
// exits or the timeout passes.
func (c *Cluster) waitReady(ctx context.Context, cfg *rest.Config, timeout time.Duration) error {
	cert, err := tls.X509KeyPair(cfg.CertData, cfg.KeyData)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(cfg.CAData)
	client := &http.Client{
		Timeout:   3 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots}},
	}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		if !c.proc.Running() {
			return fmt.Errorf("kube-apiserver of cluster %s exited during startup\n%s", c.Name, tail(c.LogPath, 30))
		}
		resp, err := client.Get(c.Host + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kube-apiserver of cluster %s not ready after %v (last: %s)\n%s", c.Name, timeout, last, tail(c.LogPath, 30))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for cluster %s: %w", c.Name, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Stop stops the cluster's API server and returns once it has exited (its
// port is free then). Its objects stay in etcd under its prefix, unused.
// Stopping a stopped cluster is a no-op.
func (c *Cluster) Stop() {
	if c.proc != nil {
		c.proc.Stop(30 * time.Second)
	}
}

// Port is the API server's port.
func (c *Cluster) Port() int { return c.port }

// Running is false once the API server has exited.
func (c *Cluster) Running() bool { return c.proc != nil && c.proc.Running() }

// RequestToken mints a projected service-account token in this cluster
// (TokenRequest): signed with its key, its issuer in iss.
func (c *Cluster) RequestToken(ctx context.Context, namespace, name string, opts TokenOptions) (string, error) {
	return requestToken(ctx, c.Kube, namespace, name, opts)
}

// CreateBoundServiceAccount creates a service account in this cluster that
// may review tokens, as the stack's does.
func (c *Cluster) CreateBoundServiceAccount(ctx context.Context, namespace, name string) error {
	return createBoundServiceAccount(ctx, c.Kube, c.lookups, namespace, name)
}

// Mirror creates in this cluster the namespace and service account of w,
// a workload of another cluster: the same names, another UID.
func (c *Cluster) Mirror(t testing.TB, w Workload) Workload {
	t.Helper()
	ctx := KubeCtx(t)
	if _, err := c.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: w.Namespace},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("cluster %s: creating namespace %s: %v", c.Name, w.Namespace, err)
	}
	sa, err := c.Kube.CoreV1().ServiceAccounts(w.Namespace).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: w.SA.Name},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("cluster %s: creating service account %s/%s: %v", c.Name, w.Namespace, w.SA.Name, err)
	}
	return Workload{Namespace: w.Namespace, SA: sa}
}

// tail is the last n lines of a file, for an error message.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("----- last lines of %s -----\n%s", path, strings.Join(lines, "\n"))
}
