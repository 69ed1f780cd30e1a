package kube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Origin is a URL's scheme, host and port, the port spelled out (443 for
// https, 80 for http) and the host lower-cased, so that two spellings of
// one server compare equal; "" for a URL that does not parse or has no host.
func Origin(rawURL string) string {
	u, err := url.Parse(NormalizeHost(rawURL))
	if err != nil || u.Hostname() == "" {
		return ""
	}
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return strings.ToLower(u.Scheme) + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// SameOrigin says whether rawURL is on the API server the client calls
// (scheme, host and port equal to one of its addresses, kubernetes_host or
// kubernetes_hosts): only there may a request carry the client's
// credential. A request there goes through the client, so it fails over
// like any other call.
func (k *Client) SameOrigin(rawURL string) bool {
	o := Origin(rawURL)
	if o == "" {
		return false
	}
	for _, a := range k.Addresses() {
		if o == Origin(a.URL) {
			return true
		}
	}
	return false
}

// GetURL GETs an absolute URL on the client's own API server (SameOrigin)
// with the client's transport, CA and credential, as GetPath does for a
// path. A URL on any other origin is refused without a request: the
// credential is never sent there (see AnonymousGetter).
func (k *Client) GetURL(ctx context.Context, rawURL string) ([]byte, error) {
	if !k.SameOrigin(rawURL) {
		return nil, fmt.Errorf("%s is not on the API server %s; it is fetched without a credential", redactURL(rawURL), k.host)
	}
	ctx, cancel, err := k.callContext(ctx, "")
	if err != nil {
		return nil, err
	}
	defer cancel()
	body, err := getBody(ctx, k.httpClient, rawURL)
	if err != nil {
		return nil, k.urlError(rawURL, err)
	}
	return body, nil
}

func (k *Client) urlError(rawURL string, err error) error {
	e := apiErrorFor("GET "+redactURL(rawURL), Origin(rawURL), k.caOrigin, err)
	if e.Timeout > 0 {
		e.Timeout = k.timeout
	}
	return e
}

// AnonymousGetter GETs URLs on an origin other than the API server's: no
// bearer token, no client certificate, nothing of the config's secrets. It
// trusts the system roots and the config's CA bundle (the CA is the
// operator's word on whom to trust for this cluster; a server it vouches
// for could already answer TokenReviews as it pleases, so trusting it for
// the cluster's keys too gives it nothing more). Redirects are refused and
// bodies bounded, as for the API server.
type AnonymousGetter struct {
	client    *http.Client
	transport *http.Transport
	caOrigin  string
	timeout   time.Duration
}

// NewAnonymousGetter builds the getter; caPEM "" trusts the system roots
// alone, and proxy nil uses the environment's proxy. caOrigin names the CA in TLS errors ("" is kubernetes_ca_cert).
func NewAnonymousGetter(caPEM, caOrigin string, timeout time.Duration, proxy *url.URL) (*AnonymousGetter, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caPEM != "" && !pool.AppendCertsFromPEM([]byte(caPEM)) {
		return nil, errors.New("the CA bundle holds no PEM certificate")
	}
	if caOrigin == "" {
		caOrigin = "kubernetes_ca_cert"
	}
	// kubernetes_proxy_url, when set, is how this Vault reaches the
	// cluster's network at all; else the environment's proxy.
	proxyFunc := http.ProxyFromEnvironment
	if proxy != nil {
		proxyFunc = http.ProxyURL(proxy)
	}
	t := &http.Transport{
		Proxy:               proxyFunc,
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool},
		TLSHandshakeTimeout: tlsHandshakeTimeout,
		DialContext:         (&net.Dialer{Timeout: dialTimeout, KeepAlive: dialKeepAlive}).DialContext,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
	}
	return &AnonymousGetter{
		client:    &http.Client{Transport: t, Timeout: timeout, CheckRedirect: refuseRedirect},
		transport: t,
		caOrigin:  caOrigin + " or the system trust store",
		timeout:   timeout,
	}, nil
}

// Get GETs rawURL without any credential.
func (g *AnonymousGetter) Get(ctx context.Context, rawURL string) ([]byte, error) {
	if g.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.timeout)
		defer cancel()
	}
	body, err := getBody(ctx, g.client, rawURL)
	if err != nil {
		e := apiErrorFor("GET "+redactURL(rawURL), Origin(rawURL), g.caOrigin, err)
		if e.Timeout > 0 {
			e.Timeout = g.timeout
		}
		return nil, e
	}
	return body, nil
}

// Close closes the getter's idle connections.
func (g *AnonymousGetter) Close() { g.transport.CloseIdleConnections() }

// statusError is a non-2xx answer to a GET of a URL.
type statusError struct{ code int }

func (e *statusError) Error() string { return fmt.Sprintf("HTTP %d", e.code) }

// getBody GETs rawURL with c, bounded by maxResponseBytes; an answer other
// than 2xx is a *statusError.
func getBody(ctx context.Context, c *http.Client, rawURL string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	// The kube-apiserver serves its key set only as application/jwk-set+json
	// and answers 406 to a request that accepts application/json alone.
	req.Header.Set("Accept", "application/jwk-set+json, application/json;q=0.9, */*;q=0.8")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxResponseBytes {
		return nil, errResponseTooLarge
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &statusError{code: resp.StatusCode}
	}
	return body, nil
}

// apiErrorFor reads a GET's error as an *APIError, as apiError does for
// client-go's calls.
func apiErrorFor(op, host, caOrigin string, err error) *APIError {
	e := &APIError{Op: op, Host: host, CAOrigin: caOrigin, Err: err}
	var status *statusError
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	var redirect *RedirectError
	switch {
	case errors.As(err, &redirect):
		e.Redirect = redirect
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		e.Timeout = time.Nanosecond // the caller sets its bound
	case errors.As(err, &certErr):
		e.TLS = true
	case errors.As(err, &status):
		e.Status = status.code
	}
	return e
}

// redactURL is rawURL without its query, which may hold a signed
// parameter, for messages and logs.
func redactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "the configured URL"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}
