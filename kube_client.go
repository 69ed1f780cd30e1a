package kubeauth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/metrics"
)

// maxResponseBytes bounds every Kubernetes API response body. TokenReviews,
// namespaces and service accounts are a few KiB; anything far larger is a
// misbehaving or hostile endpoint.
const maxResponseBytes = 1 << 20

var errResponseTooLarge = fmt.Errorf("response body exceeds %d bytes", maxResponseBytes)

type kubeClientOptions struct {
	host       string
	caPEM      string
	caOrigin   string // where caPEM came from, named when TLS verification fails; "" is kubernetes_ca_cert
	credential credentialSource
	timeout    time.Duration
	metrics    *metrics.Cluster // the cluster's, for TokenReview latency; nil records nothing
}

// kubeClient is the one way the plugin talks to Kubernetes. It is built once
// per config and shared by concurrent logins, so connections are reused. It
// owns its transport and connections: once it is closed and the last request
// using it is done, they are closed too.
type kubeClient struct {
	host       string
	caOrigin   string
	credential credentialSource
	timeout    time.Duration
	clientset  kubernetes.Interface
	// httpClient is the client clientset sends with; config/check uses it
	// directly where it needs a response's headers and TLS state.
	httpClient *http.Client
	transport  *http.Transport
	conns      *connSet
	metrics    *metrics.Cluster

	mu      sync.Mutex // guards users and closing
	users   int        // requests holding the client (acquire/release)
	closing bool       // replaced: close the connections once users is 0
}

func newKubeClient(o kubeClientOptions) (*kubeClient, error) {
	host := normalizeHostURL(o.host)
	conns := newConnSet()
	transport, err := newTransport(o.caPEM, conns)
	if err != nil {
		return nil, fmt.Errorf("building the Kubernetes client for %s: %w", host, err)
	}
	cfg := &rest.Config{
		Host: host,
		// A transport of our own, not one from client-go's shared cache,
		// so that closing this client really closes its connections.
		Transport: transport,
		UserAgent: "vault-plugin-auth-kubernetes/" + Version,
		Timeout:   o.timeout,
		// client-go's default bucket (5 QPS, burst 10) would queue logins
		// behind each other. The API server's priority and fairness already
		// protects it, and Vault's rate-limit quotas (fed by resolve-role)
		// are the operator's lever on the login rate, so no client-side limit.
		QPS: -1,
		// Credentials are attached per request (see authTransport), so one
		// client serves every credential mode, including the login JWT itself.
		WrapTransport: func(rt http.RoundTripper) http.RoundTripper {
			return &authTransport{next: rt}
		},
	}
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("building the Kubernetes client for %s: %w", host, err)
	}
	httpClient := &http.Client{Transport: rt, Timeout: o.timeout, CheckRedirect: refuseRedirect}
	clientset, err := kubernetes.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("building the Kubernetes client for %s: %w", host, err)
	}
	caOrigin := o.caOrigin
	if caOrigin == "" {
		caOrigin = "kubernetes_ca_cert"
	}
	return &kubeClient{
		host:       host,
		caOrigin:   caOrigin,
		credential: o.credential,
		timeout:    o.timeout,
		clientset:  clientset,
		httpClient: httpClient,
		transport:  transport,
		conns:      conns,
		metrics:    o.metrics,
	}, nil
}

// acquire marks the client in use by one more request; release ends that use.
func (k *kubeClient) acquire() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.users++
}

// release reports whether it ended the last use of a closed client, whose
// connections are then closed.
func (k *kubeClient) release() (retired bool) {
	k.mu.Lock()
	k.users--
	done := k.closing && k.users == 0
	k.mu.Unlock()
	if done {
		k.conns.closeAll()
	}
	return done
}

// close retires the client: its idle connections are closed now, and every
// connection once the requests still using it are done, so a login that
// took the client before it was replaced still completes. It reports
// whether no request was using it, so it is retired already.
func (k *kubeClient) close() (retired bool) {
	k.mu.Lock()
	k.closing = true
	done := k.users == 0
	k.mu.Unlock()
	k.transport.CloseIdleConnections()
	if done {
		k.conns.closeAll()
	}
	return done
}

// callContext bounds one API call by the client's timeout and carries the
// bearer token for it.
func (k *kubeClient) callContext(ctx context.Context, loginJWT string) (context.Context, context.CancelFunc, error) {
	token, err := k.credential.token(loginJWT)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, k.timeout)
	return context.WithValue(ctx, bearerKey{}, token), cancel, nil
}

// kubeAPIError says what went wrong talking to Kubernetes in terms an
// operator can act on: unreachable, timed out, or refused with a status.
type kubeAPIError struct {
	op       string
	host     string
	status   int
	timeout  time.Duration
	tls      bool
	caOrigin string         // what to check when TLS verification fails
	redirect *redirectError // a redirect answer, which is never followed
	err      error
}

func (e *kubeAPIError) Error() string {
	switch {
	case e.redirect != nil:
		return fmt.Sprintf("kubernetes API at %s answered the %s with an HTTP %d redirect to %s; redirects are not followed, "+
			"so no credential is sent elsewhere (set kubernetes_host to the API server itself)", e.host, e.op, e.redirect.status, e.redirect.to)
	case e.timeout > 0:
		return fmt.Sprintf("kubernetes API at %s did not answer the %s within %s", e.host, e.op, e.timeout)
	case e.tls:
		return fmt.Sprintf("kubernetes API at %s failed TLS verification for the %s (check %s): %v", e.host, e.op, e.caOrigin, e.err)
	case e.status != 0:
		return fmt.Sprintf("kubernetes API at %s refused the %s with HTTP %d: %v", e.host, e.op, e.status, e.err)
	default:
		return fmt.Sprintf("kubernetes API at %s is unreachable for the %s: %v", e.host, e.op, e.err)
	}
}

func (e *kubeAPIError) Unwrap() error { return e.err }

func (k *kubeClient) apiError(op string, err error) error {
	e := &kubeAPIError{op: op, host: k.host, caOrigin: k.caOrigin, err: err}
	var status apierrors.APIStatus
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	var redirect *redirectError
	switch {
	case errors.As(err, &redirect):
		e.redirect = redirect
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		e.timeout = k.timeout
	case errors.As(err, &certErr):
		e.tls = true
	case errors.As(err, &status) && status.Status().Code != 0:
		e.status = int(status.Status().Code)
		e.err = errors.New(status.Status().Message)
	}
	return e
}

// apiStatus is the HTTP status Kubernetes answered with, or 0.
func apiStatus(err error) int {
	var e *kubeAPIError
	if errors.As(err, &e) {
		return e.status
	}
	return 0
}

type bearerKey struct{}

// authTransport attaches the call's bearer token and bounds the response body.
type authTransport struct {
	next http.RoundTripper
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if token, _ := req.Context().Value(bearerKey{}).(string); token != "" {
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, remaining: maxResponseBytes}
	return resp, nil
}

// WrappedRoundTripper lets client-go see through this wrapper (for request
// cancellation and debugging wrappers).
func (t *authTransport) WrappedRoundTripper() http.RoundTripper { return t.next }

// limitedBody fails, rather than truncating, once more than remaining bytes
// arrive, so a cut-off body is never decoded as if it were whole.
type limitedBody struct {
	rc        io.ReadCloser
	remaining int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.remaining <= 0 {
		var probe [1]byte
		n, err := l.rc.Read(probe[:])
		if n > 0 {
			return 0, errResponseTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > l.remaining {
		p = p[:l.remaining]
	}
	n, err := l.rc.Read(p)
	l.remaining -= int64(n)
	return n, err
}

func (l *limitedBody) Close() error { return l.rc.Close() }

// credentialSource yields the bearer token for one call to Kubernetes.
type credentialSource interface {
	token(loginJWT string) (string, error)
	// String names the credential for an operator fixing its permissions.
	String() string
}

// staticCredential is the configured token_reviewer_jwt.
type staticCredential string

func (c staticCredential) token(string) (string, error) { return string(c), nil }

func (staticCredential) String() string { return "token_reviewer_jwt" }

// loginJWTCredential reviews a token with itself: the service account being
// logged in must then be allowed to create TokenReviews.
type loginJWTCredential struct{}

func (loginJWTCredential) token(loginJWT string) (string, error) { return loginJWT, nil }

func (loginJWTCredential) String() string { return "the login JWT" }

// normalizeHostURL turns host or host:port into an https URL; client-go
// would otherwise pick plain http when no CA is configured.
func normalizeHostURL(host string) string {
	host = strings.TrimRight(strings.TrimSpace(host), "/")
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	return host
}

// validateHost checks kubernetes_host: a host, host:port or http(s) URL.
func validateHost(host string) error {
	if host == "" {
		return errors.New("kubernetes_host: is required (host, host:port or https:// URL of the Kubernetes API)")
	}
	u, err := url.Parse(normalizeHostURL(host))
	if err != nil {
		return fmt.Errorf("kubernetes_host: %q is not a valid host or URL: %w", host, err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("kubernetes_host: %q must use https:// (or http://), not %s://", host, u.Scheme)
	case u.Hostname() == "":
		return fmt.Errorf("kubernetes_host: %q has no host name", host)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("kubernetes_host: %q must not have a query or fragment", host)
	case u.User != nil:
		return fmt.Errorf("kubernetes_host: %q must not carry credentials; use token_reviewer_jwt", host)
	}
	if p := u.Port(); p != "" {
		if _, err := net.LookupPort("tcp", p); err != nil {
			return fmt.Errorf("kubernetes_host: %q has an invalid port", host)
		}
	}
	return nil
}

// validateBearerToken rejects tokens that could not be sent in an
// Authorization header.
func validateBearerToken(token string) error {
	if strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return errors.New("must be a single bearer token without spaces or line breaks")
	}
	return nil
}
