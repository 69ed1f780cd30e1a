package realstack

import (
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elazarl/goproxy"
)

// A Proxy is an HTTP proxy the suite runs on a loopback port, built on
// github.com/elazarl/goproxy (the proxy is the library's, not ours): it
// tunnels CONNECT requests to any address, may require basic credentials
// (Proxy-Authorization), and counts the tunnels it opened and the requests
// it refused for want of credentials, so a test can tell that a client's
// calls went through it. It serves from the test binary; Vault and its
// plugins reach it over loopback TCP like any other proxy.
type Proxy struct {
	// Addr is its address (127.0.0.1:<port>); URL returns its URL.
	Addr string

	user, password string
	srv            *http.Server

	connects atomic.Int64
	refused  atomic.Int64

	mu      sync.Mutex
	targets []string   // the CONNECT targets it tunneled to, in order
	tunnels []net.Conn // its connections to those targets, closed by Close
	closed  bool
}

// ProxyOptions say how a Proxy is started.
type ProxyOptions struct {
	// User and Password, when User is set, are the credentials it
	// requires; without them (or with others) a CONNECT is answered 407.
	User, Password string
	// LogPath is where the library's warnings go ("" for nowhere).
	LogPath string
}

// StartProxy starts a proxy on a port the system chooses. The caller
// closes it (Close).
func StartProxy(opts ProxyOptions) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: ln.Addr().String(), user: opts.User, password: opts.Password}
	gp := goproxy.NewProxyHttpServer()
	if gp.Logger, err = proxyLogger(opts.LogPath); err != nil {
		_ = ln.Close()
		return nil, err
	}
	// Never a proxy of the environment's behind this one: it dials the
	// target itself, and remembers the connection so Close can cut it.
	gp.ConnectDial = p.dial
	gp.Tr = &http.Transport{Proxy: nil}
	gp.OnRequest().HandleConnectFunc(p.handleConnect)
	gp.OnRequest().DoFunc(p.handlePlain)
	p.srv = &http.Server{Handler: gp, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func proxyLogger(path string) (*log.Logger, error) {
	if path == "" {
		return log.New(discard{}, "", 0), nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return log.New(f, "goproxy ", log.LstdFlags|log.Lmicroseconds), nil
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

// URL is the proxy's URL, http://127.0.0.1:<port>, with the credentials
// given ("" user: none).
func (p *Proxy) URL(user, password string) string {
	u := url.URL{Scheme: "http", Host: p.Addr}
	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	return u.String()
}

// Connects is how many CONNECT tunnels it opened (with good credentials,
// when it requires some).
func (p *Proxy) Connects() int64 { return p.connects.Load() }

// Refused is how many requests it answered 407.
func (p *Proxy) Refused() int64 { return p.refused.Load() }

// Targets are the addresses (host:port) it opened tunnels to, in order.
func (p *Proxy) Targets() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.targets)
}

// Close stops listening and cuts every tunnel it opened.
func (p *Proxy) Close() error {
	err := p.srv.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.tunnels {
		_ = c.Close()
	}
	p.tunnels, p.closed = nil, true
	return err
}

func (p *Proxy) handleConnect(host string, ctx *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
	if !p.authorized(ctx.Req) {
		p.refused.Add(1)
		return &goproxy.ConnectAction{Action: goproxy.ConnectProxyAuthHijack, Hijack: challenge}, host
	}
	p.connects.Add(1)
	p.mu.Lock()
	p.targets = append(p.targets, host)
	p.mu.Unlock()
	return goproxy.OkConnect, host
}

// handlePlain refuses a plain-HTTP request without the credentials, as a
// CONNECT; with them the library forwards it.
func (p *Proxy) handlePlain(req *http.Request, _ *goproxy.ProxyCtx) (*http.Request, *http.Response) {
	if p.authorized(req) {
		return req, nil
	}
	p.refused.Add(1)
	resp := goproxy.NewResponse(req, goproxy.ContentTypeText, http.StatusProxyAuthRequired, "proxy credentials required\n")
	resp.Header.Set("Proxy-Authenticate", proxyRealm)
	return req, resp
}

const proxyRealm = `Basic realm="kubeauth-e2e-proxy"`

// challenge ends a 407 answer to a CONNECT the library has begun (its
// status line) and closes the connection.
func challenge(_ *http.Request, client net.Conn, _ *goproxy.ProxyCtx) {
	defer func() { _ = client.Close() }()
	_, _ = fmt.Fprintf(client, "Proxy-Authenticate: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", proxyRealm)
}

// authorized: the request's Proxy-Authorization is Basic with the
// proxy's credentials, or the proxy requires none.
func (p *Proxy) authorized(req *http.Request) bool {
	if p.user == "" {
		return true
	}
	asAuth := &http.Request{Header: http.Header{"Authorization": req.Header.Values("Proxy-Authorization")}}
	user, password, ok := asAuth.BasicAuth()
	return ok && user == p.user && password == p.password
}

func (p *Proxy) dial(network, addr string) (net.Conn, error) {
	c, err := net.DialTimeout(network, addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return nil, errors.New("the proxy is closed")
	}
	p.tunnels = append(p.tunnels, c)
	return c, nil
}
