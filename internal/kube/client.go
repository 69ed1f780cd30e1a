// Package kube is the plugin's one way to talk to the Kubernetes API: the
// client each config builds (its own transport, per-call credentials, a bound
// on every response, no redirects followed), the TokenReview a login makes,
// the lookups some roles need, and the calls config/check makes. It decides
// nothing about a login: what an answer means is the caller's rule, so the
// errors it returns say only what happened on the wire, in terms an
// operator can act on.
package kube

import (
	"cmp"
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

// Options are what a config decides about its client.
type Options struct {
	Host string // kubernetes_host as configured: host, host:port or URL
	// Hosts are every address of the API server in order of preference
	// (kubernetes_hosts); with more than one, calls fail over between
	// them. Empty means Host alone.
	Hosts []string
	// FailoverAfter overrides the package's FailoverAfter; 0 keeps it.
	FailoverAfter time.Duration
	CAPEM         string // the CA bundle to trust; "" trusts the system roots
	CAOrigin      string // where CAPEM came from, named when TLS verification fails; "" is kubernetes_ca_cert
	// Credential authorizes each call. It is asked for a token on every call,
	// so a rotated token file or a new login JWT is used from the next one on.
	Credential Credential
	Timeout    time.Duration    // bounds each call
	Metrics    *metrics.Cluster // the cluster's, for TokenReview latency; nil records nothing
	// UserAgent names the plugin and its version to the API server's audit
	// log; "" leaves client-go's default.
	UserAgent string
	// TLSServerName is the name the server's certificate is checked
	// against instead of the dialed host (tls_server_name).
	TLSServerName string
	// Proxy is kubernetes_proxy_url; nil uses the environment's proxy.
	Proxy *url.URL
	// ClientCert is presented in every TLS handshake: set when the reviewer
	// is a client certificate (see ClientCertificate).
	ClientCert *tls.Certificate
}

// Client is the one way the plugin talks to Kubernetes. It is built once
// per config and shared by concurrent logins, so connections are reused. It
// owns its transport and connections: once it is closed and the last request
// using it is done, they are closed too.
type Client struct {
	host       string
	label      string       // the addresses, as messages name them
	pool       *addressPool // nil with one address
	caOrigin   string
	credential Credential
	timeout    time.Duration
	clientset  kubernetes.Interface
	// httpClient is the client clientset sends with; config/check uses it
	// directly where it needs a response's headers and TLS state.
	httpClient *http.Client
	transport  *http.Transport
	conns      *connSet
	metrics    *metrics.Cluster

	mu      sync.Mutex // guards users and closing
	users   int        // requests holding the client (Acquire/Release)
	closing bool       // replaced: close the connections once users is 0
}

// New builds the client for one config. It makes no call: a config can be
// written while the API server is down.
func New(o Options) (*Client, error) {
	hosts := addressList(o)
	host := hosts[0]
	conns := newConnSet()
	transport, err := newTransport(tlsOptions{
		caPEM: o.CAPEM, serverName: o.TLSServerName, clientCert: o.ClientCert, proxy: o.Proxy,
	}, conns)
	if err != nil {
		return nil, fmt.Errorf("building the Kubernetes client for %s: %w", host, err)
	}
	var base http.RoundTripper = transport
	pool, err := failoverPool(hosts, transport, o.Credential)
	if err != nil {
		return nil, err
	}
	if pool != nil {
		primary, _ := url.Parse(host) // parsed by failoverPool already
		after := cmp.Or(o.FailoverAfter, FailoverAfter)
		base = &failover{pool: pool, primary: primary, next: transport, attemptTimeout: after}
	}
	httpClient, clientset, err := newClientset(host, base, o)
	if err != nil {
		if pool != nil {
			pool.close()
		}
		return nil, fmt.Errorf("building the Kubernetes client for %s: %w", host, err)
	}
	caOrigin := o.CAOrigin
	if caOrigin == "" {
		caOrigin = "kubernetes_ca_cert"
	}
	return &Client{
		host:       host,
		label:      strings.Join(hosts, ", "),
		pool:       pool,
		caOrigin:   caOrigin,
		credential: o.Credential,
		timeout:    o.Timeout,
		clientset:  clientset,
		httpClient: httpClient,
		transport:  transport,
		conns:      conns,
		metrics:    o.Metrics,
	}, nil
}

// addressList is the normalized addresses of o, never empty.
func addressList(o Options) []string {
	if len(o.Hosts) == 0 {
		return []string{NormalizeHost(o.Host)}
	}
	out := make([]string, len(o.Hosts))
	for i, h := range o.Hosts {
		out[i] = NormalizeHost(h)
	}
	return out
}

// newClientset is client-go's clientset over rt, the transport this client
// owns.
func newClientset(host string, rt http.RoundTripper, o Options) (*http.Client, kubernetes.Interface, error) {
	cfg := &rest.Config{
		Host: host,
		// A transport of our own, not one from client-go's shared cache,
		// so that closing this client really closes its connections.
		Transport: rt,
		UserAgent: o.UserAgent,
		Timeout:   o.Timeout,
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
	wrapped, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, nil, err
	}
	httpClient := &http.Client{Transport: wrapped, Timeout: o.Timeout, CheckRedirect: refuseRedirect}
	clientset, err := kubernetes.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, nil, err
	}
	return httpClient, clientset, nil
}

// failoverPool is the address pool of several hosts, probed through t (see
// readyProbe); nil for one host, which is used exactly as before.
func failoverPool(hosts []string, t *http.Transport, cred Credential) (*addressPool, error) {
	if len(hosts) < 2 {
		return nil, nil
	}
	bases := make([]*url.URL, len(hosts))
	for i, h := range hosts {
		u, err := url.Parse(h)
		if err != nil {
			return nil, fmt.Errorf("kubernetes_hosts: %q is not a URL: %w", h, err)
		}
		bases[i] = u
	}
	return newAddressPool(bases, readyProbe(t, cred)), nil
}

// readyProbe asks an address's /readyz, with the reviewer credential when
// there is one (never a login's JWT: the probe is no login's), else with
// none. Only 200 puts an address back: an API server that is starting
// answers other codes (403 before its RBAC caches load, 500 before its
// post-start hooks) while it cannot yet serve a TokenReview. Without a
// credential, 401 also counts: the server answers, and refuses anonymous
// callers, so its readiness cannot be read any better.
func readyProbe(t *http.Transport, cred Credential) func(context.Context, *url.URL) error {
	return func(ctx context.Context, base *url.URL) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base.String(), "/")+"/readyz", nil)
		if err != nil {
			return err
		}
		anonymous := true
		if !ReviewsItself(cred) {
			if token, err := cred.Token(""); err == nil && token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
				anonymous = false
			}
		}
		resp, err := t.RoundTrip(req)
		if err != nil {
			return err
		}
		discard(resp)
		if resp.StatusCode == http.StatusOK || anonymous && resp.StatusCode == http.StatusUnauthorized {
			return nil
		}
		return fmt.Errorf("HTTP %d from /readyz", resp.StatusCode)
	}
}

// Host is the API server's URL as the client calls it (https:// added to a
// bare host), for messages about it.
func (k *Client) Host() string { return k.host }

// Credential is what authorizes the client's calls, for callers whose
// verdicts depend on whose token was refused.
func (k *Client) Credential() Credential { return k.credential }

// Acquire marks the client in use by one more request; Release ends that use.
func (k *Client) Acquire() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.users++
}

// Release reports whether it ended the last use of a closed client, whose
// connections are then closed.
func (k *Client) Release() (retired bool) {
	k.mu.Lock()
	k.users--
	done := k.closing && k.users == 0
	k.mu.Unlock()
	if done {
		k.conns.closeAll()
	}
	return done
}

// Close retires the client: its idle connections are closed now, and every
// connection once the requests still using it are done, so a login that
// took the client before it was replaced still completes. It reports
// whether no request was using it, so it is retired already.
func (k *Client) Close() (retired bool) {
	k.mu.Lock()
	k.closing = true
	done := k.users == 0
	k.mu.Unlock()
	if k.pool != nil {
		k.pool.close()
	}
	k.transport.CloseIdleConnections()
	if done {
		k.conns.closeAll()
	}
	return done
}

// callContext bounds one API call by the client's timeout and carries the
// bearer token for it.
func (k *Client) callContext(ctx context.Context, loginJWT string) (context.Context, context.CancelFunc, error) {
	token, err := k.credential.Token(loginJWT)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, k.timeout)
	return context.WithValue(ctx, bearerKey{}, token), cancel, nil
}

// APIError says what went wrong talking to Kubernetes in terms an
// operator can act on: unreachable, timed out, or refused with a status.
// Its fields are exported because the caller's verdict depends on them (a
// refused credential is the operator's fault, a timeout is no one's), and
// at most one of Redirect, Timeout, TLS and Status is set.
type APIError struct {
	Op       string // the call, as a message names it ("TokenReview")
	Host     string
	Status   int            // the HTTP status the API server refused the call with
	Timeout  time.Duration  // the bound the call exceeded
	TLS      bool           // the server's certificate failed verification
	CAOrigin string         // what to check when TLS verification fails
	Redirect *RedirectError // a redirect answer, which is never followed
	Err      error
}

func (e *APIError) Error() string {
	switch {
	case e.Redirect != nil:
		return fmt.Sprintf("kubernetes API at %s answered the %s with an HTTP %d redirect to %s; redirects are not followed, "+
			"so no credential is sent elsewhere (set kubernetes_host to the API server itself)", e.Host, e.Op, e.Redirect.Status, e.Redirect.To)
	case e.Timeout > 0:
		return fmt.Sprintf("kubernetes API at %s did not answer the %s within %s", e.Host, e.Op, e.Timeout)
	case e.TLS:
		return fmt.Sprintf("kubernetes API at %s failed TLS verification for the %s (check %s): %v", e.Host, e.Op, e.CAOrigin, e.Err)
	case e.Status != 0:
		return fmt.Sprintf("kubernetes API at %s refused the %s with HTTP %d: %v", e.Host, e.Op, e.Status, e.Err)
	default:
		return fmt.Sprintf("kubernetes API at %s is unreachable for the %s: %v", e.Host, e.Op, e.Err)
	}
}

func (e *APIError) Unwrap() error { return e.Err }

func (k *Client) apiError(op string, err error) error {
	e := &APIError{Op: op, Host: k.label, CAOrigin: k.caOrigin, Err: err}
	var status apierrors.APIStatus
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	var redirect *RedirectError
	switch {
	case errors.As(err, &redirect):
		e.Redirect = redirect
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		e.Timeout = k.timeout
	case errors.As(err, &certErr):
		e.TLS = true
	case errors.As(err, &status) && status.Status().Code != 0:
		e.Status = int(status.Status().Code)
		e.Err = errors.New(status.Status().Message)
	}
	return e
}

// Status is the HTTP status Kubernetes answered with, or 0: the one fact
// most callers decide on (a 404 is an answer, a 401 or 403 is about the
// credential).
func Status(err error) int {
	var e *APIError
	if errors.As(err, &e) {
		return e.Status
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

// NormalizeHost turns host or host:port into an https URL; client-go
// would otherwise pick plain http when no CA is configured.
func NormalizeHost(host string) string {
	host = strings.TrimRight(strings.TrimSpace(host), "/")
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	return host
}

// ValidateHost checks kubernetes_host: a host, host:port or http(s) URL.
// The error names the field, so a config write can return it as is.
func ValidateHost(host string) error {
	if host == "" {
		return errors.New("kubernetes_host: is required (host, host:port or https:// URL of the Kubernetes API)")
	}
	return ValidateAddress("kubernetes_host", host)
}

// ValidateAddress checks one address of the API server given in field.
func ValidateAddress(field, host string) error {
	u, err := url.Parse(NormalizeHost(host))
	if err != nil {
		return fmt.Errorf("%s: %q is not a valid host or URL: %w", field, host, err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%s: %q must use https:// (or http://), not %s://", field, host, u.Scheme)
	case u.Hostname() == "":
		return fmt.Errorf("%s: %q has no host name", field, host)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%s: %q must not have a query or fragment", field, host)
	case u.User != nil:
		return fmt.Errorf("%s: %q must not carry credentials; use token_reviewer_jwt", field, host)
	}
	if p := u.Port(); p != "" {
		if _, err := net.LookupPort("tcp", p); err != nil {
			return fmt.Errorf("%s: %q has an invalid port", field, host)
		}
	}
	return nil
}

// ValidateBearerToken rejects tokens that could not be sent in an
// Authorization header.
func ValidateBearerToken(token string) error {
	if strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return errors.New("must be a single bearer token without spaces or line breaks")
	}
	return nil
}

// Addresses is what the client knows of each address of the API server;
// one address, always in turn, without failover.
func (k *Client) Addresses() []AddressState {
	if k.pool == nil {
		return []AddressState{{URL: k.host}}
	}
	return k.pool.states()
}

// ProbeAddress is Probe sent to address i alone, whether it is in turn or
// not, and counting nothing against it.
func (k *Client) ProbeAddress(ctx context.Context, i int, now func() time.Time) Probe {
	if k.pool == nil {
		return k.Probe(ctx, now)
	}
	p := k.Probe(pinAddress(ctx, i), now)
	k.nameAddress(p.Err, i)
	return p
}

// PublishedKeysAt is PublishedKeys read from address i alone, whether it
// is in turn or not, and counting nothing against it: the addresses of one
// cluster publish its keys, another cluster's publish others.
func (k *Client) PublishedKeysAt(ctx context.Context, i int) ([]PublishedKey, error) {
	if k.pool == nil {
		return k.PublishedKeys(ctx)
	}
	keys, err := k.PublishedKeys(pinAddress(ctx, i))
	k.nameAddress(err, i)
	return keys, err
}

// nameAddress makes a pinned call's error name the address it went to,
// not the first one.
func (k *Client) nameAddress(err error, i int) {
	var api *APIError
	if errors.As(err, &api) {
		api.Host = k.pool.addrs[i].base.String()
	}
}
