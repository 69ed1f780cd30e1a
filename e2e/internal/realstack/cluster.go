package realstack

import (
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

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
	// APIServer is its first API server: Host, LogPath, Stop, Freeze...
	// StartPeer starts more over the same etcd prefix.
	*APIServer
	Name        string
	CA          string // PEM of its serving CA
	Issuer      string // its --service-account-issuer
	SAKey       *rsa.PrivateKey
	SAPubPEM    string
	Kube        *kubernetes.Clientset // its admin (O=system:masters)
	ReviewerJWT string                // a day-long token of its reviewer
	// ServerName is the name its serving certificate is verified against
	// when that does not name 127.0.0.1 (ClusterOptions.ServingDNSNames);
	// "" when it does.
	ServerName string

	admin   *rest.Config
	dir     string
	lookups string
	peers   atomic.Int32 // how many StartPeer started, for their names
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
	// ServingDNSNames, when set, are the only names of its serving
	// certificate: no IP address, so a client dialing 127.0.0.1 verifies
	// it only against one of them, as for an API server reached through a
	// tunnel or a private endpoint. The harness uses the first.
	ServingDNSNames []string
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
	dir := filepath.Join(s.clustersDir(), opts.Name)
	files, admin, err := writeClusterFiles(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", opts.Name, err)
	}
	c := &Cluster{
		Name:     opts.Name,
		CA:       files.servingCA,
		Issuer:   opts.Issuer,
		SAKey:    files.saKey,
		SAPubPEM: files.saPub,
		dir:      dir,
		lookups:  s.reviewerLookups(),
	}
	if len(opts.ServingDNSNames) > 0 {
		c.ServerName = opts.ServingDNSNames[0]
	}
	cfg := &rest.Config{
		Host: fmt.Sprintf("https://127.0.0.1:%d", opts.Port),
		TLSClientConfig: rest.TLSClientConfig{
			CAData: []byte(c.CA), CertData: admin.cert, KeyData: admin.key, ServerName: c.ServerName,
		},
		QPS: 200, Burst: 400,
	}
	c.admin = cfg
	client, err := harnessTLS(cfg.TLSClientConfig)
	if err != nil {
		return nil, err
	}
	c.APIServer = &APIServer{
		Host:    cfg.Host,
		LogPath: filepath.Join(dir, "kube-apiserver.log"),
		name:    "kube-apiserver-" + opts.Name,
		port:    opts.Port,
		argv:    c.apiserverArgv(s.APIServerArgv, opts.Port),
		client:  client,
		procs:   s.Procs,
	}
	if err := startAPIServer(ctx, c.APIServer); err != nil {
		return nil, fmt.Errorf("cluster %s: %w", opts.Name, err)
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

// apiserverArgv is the command line of one of the cluster's API servers:
// the stack's, with the cluster's files, issuer and etcd prefix, on port.
func (c *Cluster) apiserverArgv(stack []string, port int) []string {
	return ReplaceFlags(stack, []string{"--cert-dir"},
		Flag{"--secure-port", strconv.Itoa(port)},
		Flag{"--tls-cert-file", filepath.Join(c.dir, "serving.crt")},
		Flag{"--tls-private-key-file", filepath.Join(c.dir, "serving.key")},
		Flag{"--client-ca-file", filepath.Join(c.dir, "client-ca.crt")},
		Flag{"--service-account-issuer", c.Issuer},
		Flag{"--api-audiences", c.Issuer},
		Flag{"--service-account-key-file", filepath.Join(c.dir, "sa.pub")},
		Flag{"--service-account-signing-key-file", filepath.Join(c.dir, "sa.key")},
		Flag{"--etcd-prefix", "/kubeauth-cluster-" + c.Name},
	)
}

// AdminOn is the cluster's admin client for one of its API servers (a
// peer's host, say).
func (c *Cluster) AdminOn(host string) (*kubernetes.Clientset, error) {
	cfg := rest.CopyConfig(c.admin)
	cfg.Host = host
	return kubernetes.NewForConfig(cfg)
}

// harnessTLS is the TLS config of the harness's own calls to an API server.
func harnessTLS(c rest.TLSClientConfig) (*tls.Config, error) {
	cert, err := tls.X509KeyPair(c.CertData, c.KeyData)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(c.CAData) {
		return nil, errors.New("no CA certificate in the PEM")
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, ServerName: c.ServerName}, nil
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
func writeClusterFiles(dir string, opts ClusterOptions) (clusterFiles, pemPair, error) {
	name := opts.Name
	var f clusterFiles
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return f, pemPair{}, err
	}
	servingCA, servingCert, servingKey, err := newClusterServingCert(name, opts.ServingDNSNames)
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

func newClusterServingCert(name string, dnsNames []string) (caPEM, certPEM, keyPEM []byte, err error) {
	caName, serverName := "kubeauth cluster "+name+" serving CA", "kube-apiserver-"+name
	if len(dnsNames) == 0 {
		return NewServingCert(caName, serverName)
	}
	return NewServingCertFor(caName, serverName, ServingNames{DNSNames: dnsNames})
}

// RequestToken mints a projected service-account token in this cluster
// (TokenRequest): signed with its key, its issuer in iss.
func (c *Cluster) RequestToken(ctx context.Context, namespace, name string, opts TokenOptions) (string, error) {
	return requestToken(ctx, c.Kube, namespace, name, opts)
}

// CreateBoundServiceAccount creates a service account in this cluster that
// may review tokens, as the stack's does.
func (c *Cluster) CreateBoundServiceAccount(ctx context.Context, namespace, name string) error {
	return createBoundServiceAccount(ctx, c.Kube, namespace, name, c.lookups)
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
