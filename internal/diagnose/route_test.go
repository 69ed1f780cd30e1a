package diagnose

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// Over every mix of answering and failing addresses: the check fails only
// when none answers, warns when some do not, and names each failing
// address with its own fix.
func TestAddressesVerdict(t *testing.T) {
	ok := kube.Probe{Status: http.StatusOK, RoundTrip: time.Millisecond}
	refused := kube.Probe{Err: &kube.APIError{Host: "x", Err: errors.New("connection refused")}}
	failing := kube.Probe{Status: http.StatusServiceUnavailable}
	kinds := map[string]kube.Probe{"ok": ok, "refused": refused, "503": failing}
	names := []string{"ok", "refused", "503"}
	for _, a := range names {
		for _, b := range names {
			for _, c := range names {
				layout := []string{a, b, c}
				t.Run(strings.Join(layout, ","), func(t *testing.T) {
					var states []kube.AddressState
					var probes []kube.Probe
					bad := 0
					for i, k := range layout {
						states = append(states, kube.AddressState{URL: fmt.Sprintf("https://10.0.0.%d", i+1)})
						probes = append(probes, kinds[k])
						if k != "ok" {
							bad++
						}
					}
					r := Addresses(states, probes, nil, nil, "kubernetes_ca_cert", Route{})
					want := map[int]string{0: Passed, 1: Warning, 2: Warning, 3: Failed}[bad]
					if r.Status != want {
						t.Fatalf("status %s, want %s: %s", r.Status, want, r.Detail)
					}
					for i, entry := range r.Data["addresses"].([]map[string]any) {
						_, hasFix := entry["fix"]
						if hasFix != (layout[i] != "ok") {
							t.Fatalf("address %d (%s): fix present %v", i, layout[i], hasFix)
						}
						if layout[i] != "ok" && !strings.Contains(r.Detail, states[i].URL) {
							t.Fatalf("detail %q does not name failing %s", r.Detail, states[i].URL)
						}
					}
				})
			}
		}
	}
}

// Each way the route can fail gets the fix that names its field: the
// proxy unreachable, refusing credentials or the tunnel; a certificate
// that does not name the address, or tls_server_name.
func TestRouteFixNamesTheField(t *testing.T) {
	tmpl := testkit.CATemplate(t, "kube-apiserver", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	tmpl.DNSNames = []string{"kubernetes.internal"}
	cert, _, _ := testkit.SelfSigned(t, tmpl)
	hostErr := &url.Error{Op: "Get", URL: "https://127.0.0.1/version", Err: &tlsVerifyError{x509.HostnameError{Certificate: cert, Host: "127.0.0.1"}}}
	proxyDown := &url.Error{Op: "Get", URL: "https://k/version", Err: &net.OpError{Op: "proxyconnect", Net: "tcp", Err: errors.New("connection refused")}}
	proxy407 := &url.Error{Op: "Get", URL: "https://k/version", Err: errors.New(http.StatusText(http.StatusProxyAuthRequired))}
	proxy403 := &url.Error{Op: "Get", URL: "https://k/version", Err: errors.New(http.StatusText(http.StatusForbidden))}
	proxy := "http://vault:xxxxx@proxy:3128"
	cases := []struct {
		name  string
		err   error
		route Route
		want  []string
	}{
		{"name not in cert", hostErr, Route{}, []string{"tls_server_name", "kubernetes.internal", "127.0.0.1"}},
		{"server name not in cert", hostErr, Route{ServerName: "wrong.example"}, []string{"tls_server_name \"wrong.example\"", "kubernetes.internal"}},
		{"proxy unreachable", proxyDown, Route{Proxy: proxy}, []string{"cannot reach the proxy kubernetes_proxy_url", proxy}},
		{"proxy credentials", proxy407, Route{Proxy: proxy}, []string{"refused its credentials", "407"}},
		{"proxy refuses tunnel", proxy403, Route{Proxy: proxy}, []string{"refused to open a tunnel", "Forbidden"}},
		{"no proxy, status text", proxy403, Route{}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fix := routeFix(c.err, "https://127.0.0.1:6443", c.route)
			if c.want == nil {
				if fix != "" {
					t.Fatalf("fix %q for a failure the route does not explain", fix)
				}
				return
			}
			for _, w := range c.want {
				if !strings.Contains(fix, w) {
					t.Fatalf("fix %q lacks %q", fix, w)
				}
			}
			if strings.Contains(fix, "s3cret") {
				t.Fatal("the fix shows a password")
			}
		})
	}
}

// tlsVerifyError wraps a verification error as crypto/tls does.
type tlsVerifyError struct{ err error }

func (e *tlsVerifyError) Error() string { return "tls: " + e.err.Error() }
func (e *tlsVerifyError) Unwrap() error { return e.err }

// The client certificate's times decide the credential check, as a JWT's do.
func TestClientCertCredentialTimes(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name      string
		from, to  time.Time
		want      string
		fixWanted bool
	}{
		{"valid", now.Add(-24 * time.Hour), now.Add(30 * 24 * time.Hour), Passed, false},
		{"expiring", now.Add(-30 * 24 * time.Hour), now.Add(24 * time.Hour), Warning, true},
		{"expired", now.Add(-48 * time.Hour), now.Add(-time.Hour), Failed, true},
		{"not yet valid", now.Add(time.Hour), now.Add(48 * time.Hour), Failed, true},
	}
	for _, c := range cases {
		cert := &x509.Certificate{NotBefore: c.from, NotAfter: c.to}
		cert.Subject.CommonName = "vault-reviewer"
		r := ClientCertCredential(cert, now)
		if r.Status != c.want || (r.Fix != "") != c.fixWanted {
			t.Errorf("%s: status %s fix %q, want %s", c.name, r.Status, r.Fix, c.want)
		}
		if r.Data["source"] != credentialClientCert || r.Data["subject"] != "vault-reviewer" {
			t.Errorf("%s: data %v", c.name, r.Data)
		}
	}
}

// A credential the API server takes for an anonymous caller (a client
// certificate its client CA did not sign) fails reviewer_identity and
// blocks the permission checks, which would otherwise ask about nobody.
func TestAnonymousReviewerFails(t *testing.T) {
	r, who := ReviewerIdentity(authv1.UserInfo{Username: "system:anonymous"}, nil, kube.ClientCertificate{})
	if r.Status != Failed || !who.credentialRejected || !strings.Contains(r.Fix, "--client-ca-file") {
		t.Fatalf("result %+v, who %+v", r, who)
	}
}

// Run adds kubernetes_addresses after kubernetes_api only where there are
// several addresses, and reads a client certificate as the credential.
func TestRunWithAddressesAndCertificate(t *testing.T) {
	c := &fakeClient{cred: kube.ClientCertificate{},
		addrs:  []kube.AddressState{{URL: "https://10.0.0.1"}, {URL: "https://10.0.0.2"}},
		probes: []kube.Probe{{Status: http.StatusOK}, {Err: errors.New("connection refused")}},
	}
	cert := &x509.Certificate{NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	results := Run(t.Context(), Target{Client: c, Settings: Settings{ClientCert: cert}, Now: time.Now}, Usage{})
	if results[0].Name != CheckAPI || results[1].Name != CheckAddresses || results[1].Status != Warning {
		t.Fatalf("first checks %s, %s (%s)", results[0].Name, results[1].Name, results[1].Status)
	}
	for _, r := range results {
		if r.Name == CheckCredential && r.Data["source"] != credentialClientCert {
			t.Fatalf("credential check %+v", r)
		}
	}
	one := Run(t.Context(), Target{Client: &fakeClient{cred: kube.StaticToken("x")}, Now: time.Now}, Usage{})
	for _, r := range one {
		if r.Name == CheckAddresses {
			t.Fatal("kubernetes_addresses on a config with one address")
		}
	}
}
