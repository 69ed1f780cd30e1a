package kubeauth

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// clientCertPEM is a client certificate for user cn and its PKCS #8 key.
func clientCertPEM(t *testing.T, cn string) (certPEM, keyPEM string) {
	t.Helper()
	tmpl := testkit.CATemplate(t, cn, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	tmpl.IsCA = false
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	_, der, key := testkit.SelfSigned(t, tmpl)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return testkit.PEM(der), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}

// answerOf is the HTTP status Vault would answer resp, err with (0:
// success) and the error's message.
func answerOf(op logical.Operation, resp *logical.Response, err error) (int, string) {
	code, respErr := logical.RespondErrorCommon(&logical.Request{Operation: op}, resp, err)
	if respErr != nil {
		return code, respErr.Error()
	}
	return code, ""
}

// Every bad value of a connection field is a 400 that names the field, and
// leaves the stored config as it was, on config and on a cluster alike.
func TestNetworkFieldsRefusedStoreNothing(t *testing.T) {
	c := newClusterEnv(t, eastIssuer)
	certPEM, keyPEM := clientCertPEM(t, "reviewer")
	_, otherKey := clientCertPEM(t, "other")
	host := c.kube.srv.URL
	cases := []struct {
		name  string
		data  map[string]any
		field string
	}{
		{"hosts first differs", map[string]any{"kubernetes_host": host, "kubernetes_hosts": []string{"https://10.0.0.1", host}}, "kubernetes_host"},
		{"hosts empty entry", map[string]any{"kubernetes_hosts": host + ",,https://10.0.0.2"}, "kubernetes_hosts"},
		{"hosts twice", map[string]any{"kubernetes_hosts": []string{host, host + "/"}}, "kubernetes_hosts"},
		{"hosts bad scheme", map[string]any{"kubernetes_hosts": []string{host, "ftp://10.0.0.2"}}, "kubernetes_hosts"},
		{"hosts credentials", map[string]any{"kubernetes_hosts": []string{host, "https://u:p@10.0.0.2"}}, "kubernetes_hosts"},
		{"hosts too many", map[string]any{"kubernetes_hosts": manyHosts(maxHosts + 1)}, "kubernetes_hosts"},
		{"proxy scheme", map[string]any{"kubernetes_proxy_url": "socks5://proxy:1080"}, "kubernetes_proxy_url"},
		{"proxy path", map[string]any{"kubernetes_proxy_url": "http://proxy:3128/path"}, "kubernetes_proxy_url"},
		{"proxy no host", map[string]any{"kubernetes_proxy_url": "http://:3128"}, "kubernetes_proxy_url"},
		{"proxy redacted", map[string]any{"kubernetes_proxy_url": "http://user:xxxxx@proxy:3128"}, "kubernetes_proxy_url"},
		{"server name port", map[string]any{"tls_server_name": "kubernetes:443"}, "tls_server_name"},
		{"server name scheme", map[string]any{"tls_server_name": "https://kubernetes"}, "tls_server_name"},
		{"cert without key", map[string]any{"token_reviewer_client_cert": certPEM}, "token_reviewer_client_key"},
		{"key without cert", map[string]any{"token_reviewer_client_key": keyPEM}, "token_reviewer_client_cert"},
		{"key of another cert", map[string]any{"token_reviewer_client_cert": certPEM, "token_reviewer_client_key": otherKey}, "token_reviewer_client"},
		{"cert not PEM", map[string]any{"token_reviewer_client_cert": "cert", "token_reviewer_client_key": keyPEM}, "token_reviewer_client"},
		{"cert and jwt", map[string]any{"token_reviewer_client_cert": certPEM, "token_reviewer_client_key": keyPEM, "token_reviewer_jwt": testReviewer}, "token_reviewer_client_cert"},
	}
	for _, target := range []struct{ path, key string }{{"config", configPath}, {"cluster/east", clusterPrefix + "east"}} {
		for _, tc := range cases {
			t.Run(target.path+"/"+tc.name, func(t *testing.T) {
				before := c.rawEntry(target.key)
				data := c.configData()
				if target.path != "config" {
					data = c.eastConfig(map[string]any{"issuer": eastIssuer})
				}
				delete(data, "token_reviewer_jwt")
				for k, v := range tc.data {
					data[k] = v
				}
				resp, err := c.do(logical.UpdateOperation, target.path, data)
				code, msg := answerOf(logical.UpdateOperation, resp, err)
				if code != http.StatusBadRequest || !strings.HasPrefix(msg, tc.field) {
					t.Fatalf("want a 400 naming %s, got %d %q", tc.field, code, msg)
				}
				if strings.Contains(msg, "PRIVATE KEY") || strings.Contains(msg, "xxxxx@") {
					t.Fatalf("the error quotes a secret: %q", msg)
				}
				if after := c.rawEntry(target.key); !equalMaps(before, after) {
					t.Fatalf("a refused write changed storage:\n%v\n%v", before, after)
				}
			})
		}
	}
}

func manyHosts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "https://10.0.0." + string(rune('0'+i/10)) + string(rune('0'+i%10))
	}
	return out
}

// What is written reads back, secrets never: the client key's text and the
// proxy's password appear nowhere in a read, and a config that sets none
// of the fields reads and stores none of them.
func TestNetworkFieldsReadBack(t *testing.T) {
	e := newTestEnv(t)
	certPEM, keyPEM := clientCertPEM(t, "reviewer")
	e.kube.acceptClientCert("reviewer")
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	e.writeConfig(map[string]any{
		"kubernetes_host":            nil,
		"kubernetes_hosts":           []string{e.kube.srv.URL, dead.URL},
		"kubernetes_proxy_url":       "",
		"tls_server_name":            "example.com",
		"token_reviewer_jwt":         "",
		"token_reviewer_client_cert": certPEM,
		"token_reviewer_client_key":  keyPEM,
	})
	read := e.mustDo(logical.ReadOperation, "config", nil).Data
	if read["kubernetes_host"] != e.kube.srv.URL {
		t.Errorf("kubernetes_host reads %v, want the first address", read["kubernetes_host"])
	}
	if got, _ := json.Marshal(read["kubernetes_hosts"]); string(got) != `["`+e.kube.srv.URL+`","`+dead.URL+`"]` {
		t.Errorf("kubernetes_hosts reads %s", got)
	}
	if read["token_reviewer_client_key_set"] != true || read["token_reviewer_client_cert"] != certPEM || read["tls_server_name"] != "example.com" {
		t.Errorf("read %v", read)
	}
	all, _ := json.Marshal(read)
	if strings.Contains(string(all), "PRIVATE KEY") {
		t.Fatal("the read returned the client key")
	}

	e.writeConfig(map[string]any{"kubernetes_proxy_url": "http://vault:s3cret@proxy.internal:3128"})
	read = e.mustDo(logical.ReadOperation, "config", nil).Data
	if read["kubernetes_proxy_url"] != "http://vault:xxxxx@proxy.internal:3128" {
		t.Errorf("proxy reads %v", read["kubernetes_proxy_url"])
	}
	if all, _ := json.Marshal(read); strings.Contains(string(all), "s3cret") {
		t.Fatal("the read returned the proxy's password")
	}
	// Patched without the proxy, the password is kept; written back as
	// read, it is refused rather than replaced by the placeholder.
	e.mustDo(logical.PatchOperation, "config", map[string]any{"issuer": "https://kubernetes.default.svc"})
	if raw := e.rawEntry(configPath); raw["kubernetes_proxy_url"] != "http://vault:s3cret@proxy.internal:3128" {
		t.Fatalf("a patch without the proxy stored %v", raw["kubernetes_proxy_url"])
	}

	// None set: nothing stored, nothing read beyond the built-in's fields.
	e.writeConfig(nil)
	for _, k := range []string{"kubernetes_hosts", "kubernetes_proxy_url", "tls_server_name", "token_reviewer_client_cert", "token_reviewer_client_key"} {
		if _, ok := e.rawEntry(configPath)[k]; ok {
			t.Errorf("%s stored by a write that did not set it", k)
		}
	}
	for _, k := range []string{"kubernetes_hosts", "kubernetes_proxy_url", "tls_server_name", "token_reviewer_client_cert", "token_reviewer_client_key_set"} {
		if _, ok := e.mustDo(logical.ReadOperation, "config", nil).Data[k]; ok {
			t.Errorf("%s read from a config that does not set it", k)
		}
	}
}

// A list of one address is kubernetes_host, stored as before; a patch that
// sends one of kubernetes_host and kubernetes_hosts sets the addresses
// from it.
func TestHostsAndHost(t *testing.T) {
	e := newTestEnv(t)
	e.writeConfig(map[string]any{"kubernetes_host": nil, "kubernetes_hosts": e.kube.srv.URL})
	raw := e.rawEntry(configPath)
	if raw["host"] != e.kube.srv.URL || raw["kubernetes_hosts"] != nil {
		t.Fatalf("a list of one stored as %v / %v", raw["host"], raw["kubernetes_hosts"])
	}
	other := "https://10.9.9.9:6443"
	e.mustDo(logical.PatchOperation, "config", map[string]any{"kubernetes_hosts": []string{other, e.kube.srv.URL}, "token_reviewer_jwt": testReviewer})
	if raw := e.rawEntry(configPath); raw["host"] != other {
		t.Fatalf("after a patch of kubernetes_hosts, host is %v", raw["host"])
	}
	e.mustDo(logical.PatchOperation, "config", map[string]any{"kubernetes_host": e.kube.srv.URL, "token_reviewer_jwt": testReviewer})
	if raw := e.rawEntry(configPath); raw["host"] != e.kube.srv.URL || raw["kubernetes_hosts"] != nil {
		t.Fatalf("after a patch of kubernetes_host: %v / %v", raw["host"], raw["kubernetes_hosts"])
	}
}

// The invariant of the route fields under PATCH: a patch that lets the
// stored reviewer JWT reach a server it did not reach before (a new
// address, another proxy, another certificate name) without sending the
// JWT again is refused and stores nothing; one that only reorders or drops
// addresses is not. Whatever is patched, the stored JWT never reaches the
// capture server.
func TestPatchRouteNeverSendsStoredReviewerElsewhere(t *testing.T) {
	e := newTestEnv(t)
	e.b.requestTimeout = 3 * time.Second
	e.b.failoverAfter = time.Second
	capture := newCaptureServer(t)
	second := newFakeKube(t, e.signer.Public())
	second.setReviewerToken(testReviewer)
	start := map[string]any{"kubernetes_host": nil, "kubernetes_hosts": []string{e.kube.srv.URL, second.srv.URL}}
	e.writeRole(testRole, nil)
	routes := []struct {
		name  string
		patch map[string]any
		moves bool
	}{
		{"reorder", map[string]any{"kubernetes_hosts": []string{second.srv.URL, e.kube.srv.URL}}, false},
		{"drop one", map[string]any{"kubernetes_hosts": []string{second.srv.URL}}, false},
		{"host one of them", map[string]any{"kubernetes_host": second.srv.URL}, false},
		{"add capture first", map[string]any{"kubernetes_hosts": []string{capture.plain.URL, e.kube.srv.URL}}, true},
		{"add capture last", map[string]any{"kubernetes_hosts": []string{e.kube.srv.URL, capture.plain.URL}}, true},
		{"host capture", map[string]any{"kubernetes_host": capture.plain.URL}, true},
		{"proxy capture", map[string]any{"kubernetes_proxy_url": capture.plain.URL}, true},
		{"server name", map[string]any{"tls_server_name": "example.com"}, true},
		{"issuer only", map[string]any{"issuer": "https://other.example"}, false},
	}
	for _, r := range routes {
		for _, jwt := range []string{"absent", "sent"} {
			t.Run(r.name+"/jwt="+jwt, func(t *testing.T) {
				e.writeConfig(start)
				capture.seen("")
				before := e.rawEntry(configPath)
				patch := map[string]any{}
				for k, v := range r.patch {
					patch[k] = v
				}
				if jwt == "sent" {
					patch["token_reviewer_jwt"] = "patched-reviewer-jwt"
				}
				resp, err := e.patch("config", patch)
				code, msg := answerOf(logical.PatchOperation, resp, err)
				switch {
				case r.moves && jwt == "absent":
					if code != http.StatusBadRequest || !strings.Contains(msg, "send token_reviewer_jwt again") {
						t.Fatalf("want a 400 asking for token_reviewer_jwt, got %d %q", code, msg)
					}
					if after := e.rawEntry(configPath); !equalMaps(before, after) {
						t.Fatalf("stored after a refused patch:\n%v\n%v", before, after)
					}
				case code != 0:
					t.Fatalf("patch refused: %d %q", code, msg)
				}
				e.do(logical.ReadOperation, "config/check", nil)
				_, _ = e.login(testRole, e.token())
				if n := capture.seen(testReviewer); n > 0 {
					t.Fatalf("the stored reviewer JWT reached the capture server %d times", n)
				}
			})
		}
	}
	// The capture server does see a JWT a patch sends with the move, so
	// the count above can fail.
	e.writeConfig(start)
	e.mustDo(logical.PatchOperation, "config", map[string]any{"kubernetes_hosts": []string{capture.plain.URL, e.kube.srv.URL}, "token_reviewer_jwt": "patched-reviewer-jwt"})
	_, _ = e.login(testRole, e.token())
	if capture.seen("patched-reviewer-jwt") == 0 {
		t.Fatal("the capture server saw no request with the JWT the patch sent")
	}
}

// A write that stores a risky connection setting says so; one that sets
// none of the fields gets no new warning.
func TestNetworkWarnings(t *testing.T) {
	e := newTestEnv(t)
	expired := testkit.CATemplate(t, "old", time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour))
	expired.IsCA = false
	_, der, key := testkit.SelfSigned(t, expired)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	cases := []struct {
		data map[string]any
		want string
	}{
		{map[string]any{"kubernetes_host": nil, "kubernetes_hosts": []string{e.kube.srv.URL, "http://10.0.0.2:8080"}}, "kubernetes_hosts: \"http://10.0.0.2:8080\" is plain HTTP"},
		{map[string]any{"kubernetes_proxy_url": "http://u:p@proxy:3128"}, "in clear text"},
		{map[string]any{"token_reviewer_jwt": "", "token_reviewer_client_cert": testkit.PEM(der),
			"token_reviewer_client_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))}, "token_reviewer_client_cert is valid only from"},
		{nil, ""},
	}
	for _, c := range cases {
		data := e.configData()
		for k, v := range c.data {
			data[k] = v
		}
		resp := e.mustDo(logical.UpdateOperation, "config", data)
		var warnings []string
		if resp != nil {
			warnings = resp.Warnings
		}
		joined := strings.Join(warnings, "\n")
		if c.want == "" && len(warnings) != 0 || c.want != "" && !strings.Contains(joined, c.want) {
			t.Errorf("write %v: warnings %q, want %q", c.data, warnings, c.want)
		}
	}
}
