package kubeauth

import (
	"net"
	"net/url"
	"strings"
	"testing"
)

// FuzzNetworkFields: the connection fields' checks never panic, and what
// they accept keeps their promises: a proxy's password never shows in its
// read form, and that form is refused when written back; an accepted
// server name has no scheme, port or path; accepted addresses make
// kubernetes_host the first of them; a certificate error never quotes the
// key.
func FuzzNetworkFields(f *testing.F) {
	f.Add("https://10.0.0.1,https://10.0.0.2:6443", "http://user:pass@proxy:3128", "kubernetes.internal", "", "")
	f.Add(",", "https://:1", "https://x", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
	f.Add("10.0.0.1", "http://u:xxxxx@p:1", "::1", "x", "y")
	f.Fuzz(func(t *testing.T, hosts, proxy, serverName, certPEM, keyPEM string) {
		if u, err := parseProxyURL(proxy); err == nil && u != nil {
			checkProxyRedaction(t, proxy, u)
		}
		if validateServerName(serverName) == nil && serverName != "" && net.ParseIP(serverName) == nil &&
			strings.ContainsAny(serverName, ":/ ") {
			t.Fatalf("server name %q accepted", serverName)
		}
		cfg := &clusterConfig{}
		list := strings.Split(hosts, ",")
		if cfg.setHosts(list) == nil && len(list) > 0 {
			if cfg.Host != strings.TrimSpace(list[0]) {
				t.Fatalf("kubernetes_host %q, want the first address %q", cfg.Host, list[0])
			}
			if got := len(cfg.addresses()); got != len(list) {
				t.Fatalf("%d addresses from %d", got, len(list))
			}
		}
		cfg = &clusterConfig{ReviewerClientCert: certPEM, ReviewerClientKey: keyPEM}
		if _, err := cfg.clientCertificate(); err != nil && keyPEM != "" && len(keyPEM) > 8 && strings.Contains(err.Error(), keyPEM) {
			t.Fatalf("the error quotes the key: %v", err)
		}
	})
}

func checkProxyRedaction(t *testing.T, raw string, u *url.URL) {
	t.Helper()
	password, set := u.User.Password()
	if !set || password == "" {
		return
	}
	shown := redactedProxyURL(raw)
	if strings.Contains(shown, ":"+password+"@") {
		t.Fatalf("the read form %q shows the password", shown)
	}
	if _, err := parseProxyURL(shown); err == nil {
		t.Fatalf("the read form %q is accepted as a write", shown)
	}
}
