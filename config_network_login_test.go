package kubeauth

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elazarl/goproxy"
)

// connectProxy is a CONNECT proxy that counts the tunnels it opened and,
// when user is set, refuses a tunnel without that user's credentials.
type connectProxy struct {
	srv      *httptest.Server
	tunnels  atomic.Int64
	refusals atomic.Int64
}

func newConnectProxy(t *testing.T, user, password string) *connectProxy {
	t.Helper()
	p := &connectProxy{}
	proxy := goproxy.NewProxyHttpServer()
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	proxy.OnRequest().HandleConnectFunc(func(host string, ctx *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
		if user != "" && ctx.Req.Header.Get("Proxy-Authorization") != want {
			p.refusals.Add(1)
			return &goproxy.ConnectAction{Action: goproxy.ConnectHijack, Hijack: answer407}, host
		}
		p.tunnels.Add(1)
		return goproxy.OkConnect, host
	})
	p.srv = httptest.NewServer(proxy)
	t.Cleanup(p.srv.Close)
	return p
}

// answer407 refuses a tunnel as a proxy does when its credentials are
// missing or wrong.
func answer407(_ *http.Request, client net.Conn, _ *goproxy.ProxyCtx) {
	_, _ = client.Write([]byte("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"proxy\"\r\nContent-Length: 0\r\n\r\n"))
	_ = client.Close()
}

func (p *connectProxy) url(user, password string) string {
	u, _ := url.Parse(p.srv.URL)
	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	return u.String()
}

func mustLogIn(t *testing.T, e *testEnv) {
	t.Helper()
	resp, err := e.login(testRole, e.token())
	if err != nil || resp == nil || resp.IsError() || resp.Auth == nil {
		t.Fatalf("login: err=%v resp=%#v", err, resp)
	}
}

func mustNotLogIn(t *testing.T, e *testEnv) {
	t.Helper()
	resp, err := e.login(testRole, e.token())
	if err == nil && resp != nil && resp.Auth != nil {
		t.Fatal("login succeeded")
	}
}

// Through the proxy, with and without its credentials: a login's calls go
// through a tunnel the proxy opened, and a wrong password opens none.
func TestLoginThroughProxy(t *testing.T) {
	e := configured(t)
	open := newConnectProxy(t, "", "")
	e.writeConfig(map[string]any{"kubernetes_proxy_url": open.url("", "")})
	mustLogIn(t, e)
	if open.tunnels.Load() == 0 {
		t.Fatal("the login's TokenReview did not go through the proxy")
	}

	guarded := newConnectProxy(t, "vault", "s3cret")
	e.writeConfig(map[string]any{"kubernetes_proxy_url": guarded.url("vault", "s3cret")})
	mustLogIn(t, e)
	if guarded.tunnels.Load() == 0 || guarded.refusals.Load() != 0 {
		t.Fatalf("tunnels %d refusals %d, want tunnels and no refusal", guarded.tunnels.Load(), guarded.refusals.Load())
	}
	e.writeConfig(map[string]any{"kubernetes_proxy_url": guarded.url("vault", "wrong")})
	mustNotLogIn(t, e)
	if guarded.refusals.Load() == 0 {
		t.Fatal("the proxy refused nothing with a wrong password")
	}
}

// tls_server_name: an address the certificate does not name fails TLS
// verification, and succeeds when the name the certificate holds is set.
func TestTLSServerNameVerifiesAnotherName(t *testing.T) {
	e := configured(t)
	// The test server's certificate names example.com and 127.0.0.1, not
	// localhost.
	u, _ := url.Parse(e.kube.srv.URL)
	byName := "https://localhost:" + u.Port()
	e.writeConfig(map[string]any{"kubernetes_host": byName})
	mustNotLogIn(t, e)
	if !strings.Contains(e.logs.String(), "kubernetes_tls") {
		t.Fatalf("the failure is not a TLS fault in the log:\n%s", e.logs.String())
	}
	e.writeConfig(map[string]any{"kubernetes_host": byName, "tls_server_name": "example.com"})
	mustLogIn(t, e)
	e.writeConfig(map[string]any{"kubernetes_host": byName, "tls_server_name": "not-named.example"})
	mustNotLogIn(t, e)
}

// A client certificate as the reviewer: the TokenReview carries no bearer
// token at all (the login JWT is in the body only), and the API server
// knows the reviewer by the certificate.
func TestClientCertificateReviewer(t *testing.T) {
	e := configured(t)
	certPEM, keyPEM := clientCertPEM(t, "vault-reviewer")
	e.kube.acceptClientCert("vault-reviewer")
	e.kube.setReviewerToken("a-token-the-plugin-does-not-have")
	e.writeConfig(map[string]any{
		"token_reviewer_jwt":         "",
		"token_reviewer_client_cert": certPEM,
		"token_reviewer_client_key":  keyPEM,
	})
	before := e.kube.bearersSeen.Load()
	mustLogIn(t, e)
	if e.kube.reviews.Load() == 0 {
		t.Fatal("no TokenReview was made")
	}
	if n := e.kube.bearersSeen.Load() - before; n != 0 {
		t.Fatalf("%d requests carried a bearer token", n)
	}
	// Another certificate is not the reviewer.
	otherCert, otherKey := clientCertPEM(t, "someone-else")
	e.writeConfig(map[string]any{"token_reviewer_jwt": "", "token_reviewer_client_cert": otherCert, "token_reviewer_client_key": otherKey})
	mustNotLogIn(t, e)
}

// Logins keep working through every way the first address can fail, and
// an address that failed gets no login's call while it is down.
func TestLoginFailsOver(t *testing.T) {
	for _, failure := range []string{"closed", "503", "429", "frozen"} {
		t.Run(failure, func(t *testing.T) {
			e := configured(t)
			e.b.failoverAfter = time.Second
			first := newFakeKube(t, e.signer.Public())
			first.setReviewerToken(testReviewer)
			var hold chan struct{}
			switch failure {
			case "closed":
				first.srv.Close()
			case "503", "429":
				code := map[string]int{"503": http.StatusServiceUnavailable, "429": http.StatusTooManyRequests}[failure]
				first.answerStatus(everyPath, code, "failing")
			case "frozen":
				hold = make(chan struct{})
				t.Cleanup(func() { close(hold) })
				first.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
					select {
					case <-hold:
					case <-r.Context().Done():
					}
					return true
				})
			}
			e.writeConfig(map[string]any{"kubernetes_host": nil, "kubernetes_hosts": []string{first.srv.URL, e.kube.srv.URL}})
			mustLogIn(t, e)
			calls := first.calls.Load()
			if failure != "closed" && calls == 0 {
				t.Fatal("the first address was never tried")
			}
			for range 3 {
				mustLogIn(t, e)
			}
			if n := first.calls.Load(); n != calls {
				t.Fatalf("the failed address got %d more calls while down", n-calls)
			}
		})
	}
}

// config/check reports each way the route is wrong with the field to fix:
// a certificate that does not name the address, a proxy that refuses its
// credentials, an address that does not answer, and reads a client
// certificate as the reviewer credential.
func TestConfigCheckReportsRoute(t *testing.T) {
	e := configured(t)
	u, _ := url.Parse(e.kube.srv.URL)
	e.writeConfig(map[string]any{"kubernetes_host": "https://localhost:" + u.Port()})
	api := e.configCheck(t).get(t, "kubernetes_api")
	if api.Status != "failed" || !strings.Contains(api.Fix, "tls_server_name") || !strings.Contains(api.Fix, "example.com") {
		t.Errorf("certificate name: %s / %s", api.Detail, api.Fix)
	}

	guarded := newConnectProxy(t, "vault", "s3cret")
	e.writeConfig(map[string]any{"kubernetes_proxy_url": guarded.url("vault", "wrong")})
	a := e.configCheck(t)
	api = a.get(t, "kubernetes_api")
	if api.Status != "failed" || !strings.Contains(api.Fix, "kubernetes_proxy_url") || !strings.Contains(api.Fix, "407") {
		t.Errorf("proxy refusing: %s / %s", api.Detail, api.Fix)
	}
	if strings.Contains(a.raw, "wrong") {
		t.Error("config/check shows the proxy's password")
	}

	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	e.writeConfig(map[string]any{"kubernetes_host": nil, "kubernetes_hosts": []string{e.kube.srv.URL, dead.URL}})
	addrs := e.configCheck(t).get(t, "kubernetes_addresses")
	if addrs.Status != "warning" || !strings.Contains(addrs.Detail, dead.URL) {
		t.Errorf("addresses: %s %s", addrs.Status, addrs.Detail)
	}

	certPEM, keyPEM := clientCertPEM(t, "vault-reviewer")
	e.kube.acceptClientCert("vault-reviewer")
	e.writeConfig(map[string]any{"token_reviewer_jwt": "", "token_reviewer_client_cert": certPEM, "token_reviewer_client_key": keyPEM})
	a = e.configCheck(t)
	if c := a.get(t, "reviewer_credential"); c.Status != "passed" || c.Data["source"] != "token_reviewer_client_cert" || c.Data["subject"] != "vault-reviewer" {
		t.Errorf("client certificate credential: %+v", c)
	}
	if strings.Contains(a.raw, "PRIVATE KEY") {
		t.Error("config/check shows the client key")
	}
}

// explain says how the TokenReview traveled when the config sets a
// connection field, without the proxy's password, and says nothing of the
// route for a config that sets none.
func TestExplainShowsRoute(t *testing.T) {
	e := configured(t)
	e.writeRole(testRole, nil)
	out, _ := e.explain(testRole, e.token())
	requireStep(t, out, "review", "passed", "", "Kubernetes' TokenReview authenticated")

	open := newConnectProxy(t, "vault", "s3cret")
	second := newFakeKube(t, e.signer.Public())
	second.setReviewerToken(testReviewer)
	e.writeConfig(map[string]any{
		"kubernetes_host":      nil,
		"kubernetes_hosts":     []string{e.kube.srv.URL, second.srv.URL},
		"kubernetes_proxy_url": open.url("vault", "s3cret"),
		"tls_server_name":      "example.com",
	})
	out, raw := e.explain(testRole, e.token())
	for _, want := range []string{"2 of 2 addresses in turn", "through the proxy http://vault:xxxxx@", `verified for \"example.com\"`} {
		if !strings.Contains(raw, want) {
			t.Errorf("explain lacks %q: %s", want, raw)
		}
	}
	if strings.Contains(raw, "s3cret") {
		t.Fatal("explain shows the proxy's password")
	}
	requireStep(t, out, "review", "passed", "", "(sent to the first of 2 of 2 addresses")
}

// With every address out of turn, logins fail at once as a Kubernetes
// fault, telling the caller nothing of the addresses; the log names them.
func TestEveryAddressDownFailsFast(t *testing.T) {
	e := configured(t)
	e.b.failoverAfter = time.Second
	a, b := newFakeKube(t, e.signer.Public()), newFakeKube(t, e.signer.Public())
	a.answerStatus(everyPath, http.StatusServiceUnavailable, "down")
	b.answerStatus(everyPath, http.StatusBadGateway, "down")
	e.writeConfig(map[string]any{"kubernetes_host": nil, "kubernetes_hosts": []string{a.srv.URL, b.srv.URL}})
	mustNotLogIn(t, e) // takes both out of turn
	calls := a.calls.Load() + b.calls.Load()
	if calls == 0 {
		t.Fatal("no address was tried")
	}
	for range 5 {
		resp, err := e.login(testRole, e.token())
		if err == nil && resp != nil && resp.Auth != nil {
			t.Fatal("login succeeded")
		}
		answer := fmt.Sprint(resp, err)
		if strings.Contains(answer, a.srv.URL) || strings.Contains(answer, b.srv.URL) {
			t.Fatalf("the caller's answer names an address: %s", answer)
		}
	}
	if n := a.calls.Load() + b.calls.Load(); n != calls {
		t.Fatalf("%d calls sent while every address was down", n-calls)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "kubernetes_unreachable") || !strings.Contains(logs, "every address of kubernetes_hosts is down") {
		t.Fatalf("the log does not say every address is down as fault kubernetes_unreachable:\n%s", logs)
	}
}
