package ops

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// A privateAPIServer is a second kube-apiserver over the stack's etcd, with
// the stack apiserver's own flags (read from its command line, so the two
// never drift apart) except its port and its serving certificate, which the
// suite issues from a CA of its own. It shares etcd, the service-account
// signing key and the client CA with the stack's apiserver, so tokens,
// service accounts and RBAC are the same on both; but this one the test
// may stop, freeze, restart and re-certify without disturbing the tests
// that use the stack's apiserver at the same time.
type privateAPIServer struct {
	name    string
	port    int
	dir     string
	logPath string
	args    []string
	caPEM   string // the CA that signed the current serving certificate
	proc    *realstack.Process
}

func newPrivateAPIServer(t *testing.T, name string, port int) *privateAPIServer {
	t.Helper()
	a := &privateAPIServer{name: name, port: port, dir: filepath.Join(ops.runDir, "apiserver-"+name)}
	a.logPath = filepath.Join(a.dir, "kube-apiserver.log")
	if err := os.MkdirAll(a.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	args, err := privateAPIServerArgs(ops.apiserverCmd, port,
		filepath.Join(a.dir, "serving.crt"), filepath.Join(a.dir, "serving.key"))
	if err != nil {
		t.Fatal(err)
	}
	a.args = args
	a.issueServingCert(t)
	t.Cleanup(a.stop)
	return a
}

// privateAPIServerArgs rewrites the stack apiserver's argv: another
// --secure-port, and fixed serving-certificate files in place of the
// self-signed --cert-dir. Both "--flag value" and "--flag=value" are read.
func privateAPIServerArgs(stack []string, port int, certFile, keyFile string) ([]string, error) {
	if len(stack) < 2 {
		return nil, fmt.Errorf("the stack apiserver's command line %q is too short", stack)
	}
	if !realstack.HasFlag(stack, "--secure-port") {
		return nil, fmt.Errorf("the stack apiserver's command line has no --secure-port: %q", stack)
	}
	return realstack.ReplaceFlags(stack, []string{"--cert-dir"},
		realstack.Flag{Name: "--secure-port", Value: strconv.Itoa(port)},
		realstack.Flag{Name: "--tls-cert-file", Value: certFile},
		realstack.Flag{Name: "--tls-private-key-file", Value: keyFile},
	), nil
}

func (a *privateAPIServer) host() string { return fmt.Sprintf("https://127.0.0.1:%d", a.port) }

// issueServingCert writes a serving certificate for 127.0.0.1 signed by a
// brand-new CA: called before the first start, and again to rotate the CA.
func (a *privateAPIServer) issueServingCert(t *testing.T) {
	t.Helper()
	caPEM, certPEM, keyPEM, err := realstack.NewServingCert(a.name+" serving CA "+time.Now().Format(time.RFC3339Nano), "kube-apiserver-"+a.name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a.dir, "serving.crt"), certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a.dir, "serving.key"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	a.caPEM = string(caPEM)
}

// start runs the apiserver with its flags and waits for /readyz.
func (a *privateAPIServer) start(t *testing.T) {
	t.Helper()
	p, err := ops.Procs.Start("kube-apiserver-"+a.name, a.logPath, a.args, realstack.CleanEnv())
	if err != nil {
		t.Fatal(err)
	}
	a.proc = p
	a.waitReady(t, 3*time.Minute)
}

func (a *privateAPIServer) stop() {
	if a.proc != nil {
		a.proc.Stop(30 * time.Second)
	}
}

func (a *privateAPIServer) waitReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(ops.AdminCert, ops.AdminKey)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(a.caPEM))
	client := &http.Client{
		Timeout:   3 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots}},
	}
	defer client.CloseIdleConnections()
	start := time.Now()
	var last string
	for {
		if !a.proc.Running() {
			t.Fatalf("kube-apiserver %s exited during startup\n%s", a.name, a.proc.LogTail(30))
		}
		resp, err := client.Get(a.host() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Logf("kube-apiserver %s (pid %d) ready on %s after %v", a.name, a.proc.PID(), a.host(), time.Since(start).Round(100*time.Millisecond))
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Since(start) > timeout {
			t.Fatalf("kube-apiserver %s not ready after %v (last: %s)\n%s", a.name, timeout, last, a.proc.LogTail(30))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// hungListener accepts TCP connections and never answers, never closes
// them: an API server that is up to the kernel but dead to its clients.
type hungListener struct {
	l     net.Listener
	conns chan net.Conn
}

func newHungListener(t *testing.T) *hungListener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hungListener{l: l, conns: make(chan net.Conn, 1024)}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			select {
			case h.conns <- c: // held open until cleanup
			default:
				c.Close()
			}
		}
	}()
	t.Cleanup(func() {
		l.Close()
		for {
			select {
			case c := <-h.conns:
				c.Close()
			default:
				return
			}
		}
	})
	return h
}

func (h *hungListener) host() string { return "https://" + h.l.Addr().String() }

// accepted is how many connections the listener holds.
func (h *hungListener) accepted() int { return len(h.conns) }

// ctxSleep waits d unless ctx ends first.
func ctxSleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
