package kube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// Connection settings, the same as client-go applies to the transports it
// builds, so that owning the transport changes nothing on the wire.
const (
	dialTimeout         = 30 * time.Second
	dialKeepAlive       = 30 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
	maxIdleConnsPerHost = 25
)

// tlsOptions are what a config decides about the connection itself.
type tlsOptions struct {
	caPEM      string // "" trusts the system roots
	serverName string // the name the server's certificate must hold; "" the dialled host
	clientCert *tls.Certificate
	proxy      *url.URL // nil: the proxy from the environment
}

// newTransport builds the one *http.Transport a kube client uses. client-go
// would otherwise hand out a transport from its process-wide cache, shared
// by every client with the same CA and never closed, so a replaced client
// could not release its connections.
func newTransport(o tlsOptions, conns *connSet) (*http.Transport, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.serverName}
	if o.caPEM != "" {
		// The same parsing client-go applies to CA data, so a stored
		// config that worked before keeps working.
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(o.caPEM)) {
			return nil, errors.New("the CA bundle holds no PEM certificate")
		}
		tlsConfig.RootCAs = pool
	}
	if o.clientCert != nil {
		tlsConfig.Certificates = []tls.Certificate{*o.clientCert}
	}
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: dialKeepAlive}
	t := &http.Transport{
		TLSClientConfig:     tlsConfig,
		TLSHandshakeTimeout: tlsHandshakeTimeout,
		MaxIdleConnsPerHost: maxIdleConnsPerHost,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return conns.track(c), nil
		},
	}
	if o.proxy != nil {
		// CONNECT for https targets, credentials in the URL sent as
		// Proxy-Authorization: what net/http does for a proxy URL.
		t.Proxy = http.ProxyURL(o.proxy)
	}
	// The proxy from the environment (with CIDRs in NO_PROXY) when none is
	// configured, the idle timeout and HTTP/2, as client-go sets them.
	return utilnet.SetTransportDefaults(t), nil
}

// connSet holds a transport's open connections so that they can all be
// closed once no request uses the transport any more. CloseIdleConnections
// alone misses an HTTP/2 connection whose last stream is still being torn
// down when it runs.
type connSet struct {
	mu     sync.Mutex // guards conns and closed
	conns  map[*trackedConn]struct{}
	closed bool
}

func newConnSet() *connSet { return &connSet{conns: map[*trackedConn]struct{}{}} }

func (s *connSet) track(c net.Conn) net.Conn {
	tc := &trackedConn{Conn: c, set: s}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		// Dialed after the close, by a dial that was already under way.
		_ = c.Close()
		return tc
	}
	s.conns[tc] = struct{}{}
	return tc
}

func (s *connSet) forget(c *trackedConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// closeAll closes every connection and any dialed later.
func (s *connSet) closeAll() {
	s.mu.Lock()
	s.closed = true
	conns := s.conns
	s.conns = map[*trackedConn]struct{}{}
	s.mu.Unlock()
	for c := range conns {
		_ = c.Conn.Close()
	}
}

type trackedConn struct {
	net.Conn
	set *connSet
}

func (c *trackedConn) Close() error {
	c.set.forget(c)
	return c.Conn.Close()
}

// RedirectError is a 3xx answer from kubernetes_host. It is never followed:
// the request carries the reviewer token and the login JWT, and the place it
// names (a proxy's idea of a backend, or an attacker's host) is not the API
// server the operator configured and trusts.
type RedirectError struct {
	Status int
	To     string // scheme://host only: the path and query may hold secrets
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("HTTP %d redirect to %s", e.Status, e.To)
}

// refuseRedirect is the http.Client's CheckRedirect: no redirect is
// followed, and the request is not sent to the new location.
func refuseRedirect(req *http.Request, _ []*http.Request) error {
	e := &RedirectError{To: req.URL.Scheme + "://" + req.URL.Host}
	if req.Response != nil {
		e.Status = req.Response.StatusCode
	}
	return e
}
