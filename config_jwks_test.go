package kubeauth

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/diagnose"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// keyServer serves a fake API server's published keys at another origin,
// as a public OIDC address does, and records the Authorization header of
// every request.
type keyServer struct {
	srv   *httptest.Server
	url   string
	caPEM string

	mu      sync.Mutex
	headers []string
	gets    int
	status  int // answer with this status instead, when set
	body    string
}

func newKeyServer(t testing.TB, kube *fakeKube) *keyServer {
	t.Helper()
	k := &keyServer{}
	k.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.mu.Lock()
		k.headers = append(k.headers, r.Header.Get("Authorization"))
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			// A client certificate is a credential too.
			k.headers = append(k.headers, "client certificate "+r.TLS.PeerCertificates[0].Subject.CommonName)
		}
		k.gets++
		status, body := k.status, k.body
		k.mu.Unlock()
		switch {
		case !strings.Contains(r.Header.Get("Accept"), "application/jwk-set+json"):
			// As the kube-apiserver answers a client that does not accept
			// the key set's media type.
			http.Error(w, "not acceptable", http.StatusNotAcceptable)
		case status != 0:
			http.Error(w, "no", status)
		case body != "":
			_, _ = w.Write([]byte(body))
		default:
			kube.serveJWKS(w)
		}
	}))
	// Ask for a client certificate, so one sent would be seen.
	k.srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12}
	k.srv.StartTLS()
	t.Cleanup(k.srv.Close)
	k.url = k.srv.URL + "/keys/cluster.json"
	if k.caPEM = pemCert(k.srv); k.caPEM == kube.caPEM {
		k.caPEM = "" // httptest's one certificate: the fake's CA already trusts it
	}
	return k
}

// credentials are the Authorization headers the server got that were not
// empty.
func (k *keyServer) credentials() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for _, h := range k.headers {
		if strings.TrimSpace(h) != "" {
			out = append(out, h)
		}
	}
	return out
}

func (k *keyServer) answer(status int, body string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.status, k.body = status, body
}

// jwks_url is validated on write: a 400 naming it for anything but an
// absolute http(s) URL without credentials or fragment, nothing stored; a
// plain-HTTP one is stored with a warning; a config without it stores no
// jwks_url key at all.
func TestJWKSURLWrite(t *testing.T) {
	e := configured(t)
	if _, ok := e.rawEntry(configPath)["jwks_url"]; ok {
		t.Fatal("a config without jwks_url stores the key")
	}
	for _, bad := range []string{
		"relative/path", "/openid/v1/jwks", "ftp://keys.example/jwks", "https://", "https:///jwks",
		"https://user:pass@keys.example/jwks", "https://user@keys.example/jwks", "https://keys.example/jwks#frag",
		"https://keys.example/jwks#", " https://keys.example/jwks", "https://keys.example/jw ks", "https://keys.example:99999/jwks",
		"https://keys.example:port/jwks", "mailto:keys@example.com", "https:keys.example", "https://keys.example/\x00",
		"https://" + strings.Repeat("a", 2100) + ".example/jwks",
	} {
		t.Run(bad, func(t *testing.T) {
			data := e.configData()
			data["jwks_url"] = bad
			e.requireBadWrite(configPath, data, "jwks_url")
			resp, err := e.do(logical.UpdateOperation, configPath, data)
			if err == nil && resp != nil && strings.Contains(resp.Error().Error(), "pass") {
				t.Fatalf("the error repeats the password: %v", resp.Error())
			}
		})
	}
	for _, good := range []string{"https://keys.example/jwks", "https://KEYS.example:8443/a/b?x=1", e.kube.srv.URL + "/openid/v1/jwks"} {
		data := e.configData()
		data["jwks_url"] = good
		resp := e.mustDo(logical.UpdateOperation, configPath, data)
		if resp != nil && len(resp.Warnings) > 0 && strings.Contains(strings.Join(resp.Warnings, " "), "plain HTTP") {
			t.Fatalf("%s: warned %v", good, resp.Warnings)
		}
		if got := e.mustDo(logical.ReadOperation, configPath, nil).Data["jwks_url"]; got != good {
			t.Fatalf("read back %v, want %v", got, good)
		}
	}
	data := e.configData()
	data["jwks_url"] = "http://keys.example/jwks"
	resp := e.mustDo(logical.UpdateOperation, configPath, data)
	if resp == nil || !strings.Contains(strings.Join(resp.Warnings, " "), "jwks_url \"http://keys.example/jwks\" is plain HTTP") {
		t.Fatalf("no plain-HTTP warning: %#v", resp)
	}
	// A PATCH to null removes it from storage again.
	e.mustDo(logical.PatchOperation, configPath, map[string]any{"jwks_url": nil})
	if _, ok := e.rawEntry(configPath)["jwks_url"]; ok {
		t.Fatal("jwks_url still stored after a patch to null")
	}
}

// Which credential a key fetch carries, by where jwks_url points: over
// every origin spelling and credential source, a secret (the reviewer JWT,
// Vault's pod token) reaches only the API server's origin, the login JWT
// reaches no key fetch at all, and another origin is read anonymously.
func TestJWKSURLCredentialByOrigin(t *testing.T) {
	type source struct {
		name   string
		config func(e *testEnv) map[string]any
		secret string // the credential the API server's origin gets
	}
	sources := []source{
		{"reviewer JWT", func(*testEnv) map[string]any { return map[string]any{} }, testReviewer},
		{"pod token", func(e *testEnv) map[string]any {
			dir := t.TempDir()
			e.b.localFiles = localFiles{dir: dir}
			if err := os.WriteFile(filepath.Join(dir, "token"), []byte("pod-token\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			e.kube.setReviewerToken("pod-token")
			return map[string]any{"token_reviewer_jwt": ""}
		}, "pod-token"},
		{"no reviewer", func(*testEnv) map[string]any {
			return map[string]any{"token_reviewer_jwt": "", "disable_local_ca_jwt": true}
		}, ""},
	}
	for _, src := range sources {
		for _, where := range []string{"other origin", "same origin", "same origin, other spelling"} {
			t.Run(src.name+"/"+where, func(t *testing.T) {
				e := newTestEnv(t)
				bearers := watchBearers(e.kube)
				keys := newKeyServer(t, e.kube)
				cfg := src.config(e)
				cfg["issuer"] = testkit.Issuer
				cfg["kubernetes_ca_cert"] = e.kube.caPEM + keys.caPEM
				host := e.kube.srv.URL
				switch where {
				case "other origin":
					cfg["jwks_url"] = keys.url
				case "same origin":
					cfg["jwks_url"] = host + "/openid/v1/jwks"
				default:
					u, _ := url.Parse(host)
					cfg["jwks_url"] = "https://" + strings.ToUpper(u.Hostname()) + ":" + u.Port() + "/openid/v1/jwks"
				}
				if src.secret == "" && where != "other origin" {
					// The fake refuses anonymous reads; a cluster that
					// allows them (system:unauthenticated bound to the
					// issuer-discovery role) answers.
					e.kube.setIntercept(anonymousKeys(e.kube, bearers))
				}
				e.writeConfig(cfg)
				e.writeRole(testRole, localRole("5m"))
				jwt := e.boundToken(time.Now(), nil)
				e.mustLogin(testRole, jwt)
				if got := keys.credentials(); len(got) > 0 {
					t.Fatalf("the key server on another origin got credentials %q", got)
				}
				if paths := bearers.carried(jwt); len(paths) > 0 {
					t.Fatalf("the login JWT was sent to %v", paths)
				}
				apiGets := bearers.at("/openid/v1/jwks")
				switch {
				case where == "other origin" && len(apiGets) != 0:
					t.Fatalf("the API server's key set was read %d times; jwks_url is elsewhere", len(apiGets))
				case where != "other origin" && (len(apiGets) == 0 || apiGets[0] != src.secret):
					t.Fatalf("the API server's key set was read with %q, want %q", apiGets, src.secret)
				}
				e.requireReviews(0, "local mode")
			})
		}
	}
}

// anonymousKeys serves the key set to anonymous reads, as a cluster that
// binds system:unauthenticated to system:service-account-issuer-discovery
// does, still recording every bearer.
func anonymousKeys(f *fakeKube, l *bearerLog) func(http.ResponseWriter, *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		l.mu.Lock()
		l.seen[r.URL.Path] = append(l.seen[r.URL.Path], bearer)
		l.mu.Unlock()
		if bearer == "" && r.URL.Path == "/openid/v1/jwks" {
			f.serveJWKS(w)
			return true
		}
		return false
	}
}

// A patch that moves jwks_url alone, while a reviewer JWT is stored, is
// accepted: the JWT still goes only to kubernetes_host's origin, whatever
// jwks_url names.
func TestJWKSURLPatchKeepsTheReviewerHome(t *testing.T) {
	e := configured(t)
	keys := newKeyServer(t, e.kube)
	e.writeConfig(map[string]any{"issuer": testkit.Issuer, "kubernetes_ca_cert": e.kube.caPEM + keys.caPEM})
	e.writeRole(testRole, localRole("5m"))
	for _, to := range []string{keys.url, e.kube.srv.URL + "/openid/v1/jwks", keys.srv.URL + "/openid/v1/jwks"} {
		e.mustDo(logical.PatchOperation, configPath, map[string]any{"jwks_url": to})
		e.mustLogin(testRole, e.boundToken(time.Now(), nil))
		if got := keys.credentials(); len(got) > 0 {
			t.Fatalf("after a patch to %s, the key server got %q", to, got)
		}
	}
	if raw := e.rawEntry(configPath); raw["token_reviewer_jwt"] != testReviewer {
		t.Fatalf("the reviewer JWT was not kept: %v", raw["token_reviewer_jwt"])
	}
}

// config/check reports a jwks_url that cannot be read or holds no usable
// key, with its fix, and is silent for a config without one.
func TestJWKSURLCheck(t *testing.T) {
	e := configured(t)
	for _, c := range e.configCheck(t).Checks {
		if c.Name == diagnose.CheckJWKSURL {
			t.Fatal("a config without jwks_url has a jwks_url check")
		}
	}
	keys := newKeyServer(t, e.kube)
	e.writeConfig(map[string]any{"jwks_url": keys.url, "kubernetes_ca_cert": e.kube.caPEM + keys.caPEM})
	e.writeRole(testRole, localRole("5m"))
	if c := e.configCheck(t).get(t, diagnose.CheckJWKSURL); c.Status != diagnose.Passed {
		t.Fatalf("a good key set: %+v", c)
	}
	for _, tc := range []struct {
		status int
		body   string
		fix    string
	}{
		{http.StatusNotFound, "", "nothing is published at jwks_url"},
		{http.StatusForbidden, "", "publish the key set without authentication"},
		{0, `{"keys":[]}`, "point jwks_url at the cluster's JSON Web Key Set"},
		{0, `<html>`, "point jwks_url at the cluster's JSON Web Key Set"},
		{0, `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`, "point jwks_url at the cluster's JSON Web Key Set"},
	} {
		keys.answer(tc.status, tc.body)
		c := e.configCheck(t).get(t, diagnose.CheckJWKSURL)
		if c.Status != diagnose.Failed || !strings.Contains(c.Fix, tc.fix) {
			t.Fatalf("status %d body %q: %+v", tc.status, tc.body, c)
		}
	}
	if got := keys.credentials(); len(got) > 0 {
		t.Fatalf("config/check sent %q to another origin", got)
	}
}

// explain says where a local login's keys came from.
func TestJWKSURLExplain(t *testing.T) {
	e := configured(t)
	keys := newKeyServer(t, e.kube)
	e.writeConfig(map[string]any{"jwks_url": keys.url, "kubernetes_ca_cert": e.kube.caPEM + keys.caPEM, "issuer": testkit.Issuer})
	e.writeRole(testRole, localRole("5m"))
	resp := e.mustDo(logical.UpdateOperation, "explain", map[string]any{"role": testRole, "jwt": e.boundToken(time.Now(), nil)})
	raw, _ := json.Marshal(resp.Data)
	if !strings.Contains(string(raw), "jwks_url "+keys.url+", read without a credential") {
		t.Fatalf("explain does not say where the keys came from: %s", raw)
	}
	if strings.Contains(string(raw), "Kubernetes vouches for the signature") {
		t.Fatalf("explain says Kubernetes vouches in local mode: %s", raw)
	}
}

// FuzzJWKSURL: what validateJWKSURL accepts is an absolute http(s) URL
// with a host, a valid port, no userinfo and no fragment, whose origin is
// known (so a fetch can tell whether it is the API server's); what it
// refuses, it refuses naming jwks_url and without repeating a password.
func FuzzJWKSURL(f *testing.F) {
	for _, s := range []string{"", "https://keys.example/jwks", "http://10.0.0.1:8080/k?x=1", "https://u:secret@h/x",
		"https://h/#f", "https://[::1]:443/openid/v1/jwks", "https://h:0/", "HTTPS://H/", "https://h%00/", "//h/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		err := validateJWKSURL(raw)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "jwks_url: ") {
				t.Fatalf("error does not name jwks_url: %v", err)
			}
			if u, perr := url.Parse(raw); perr == nil && u.User != nil {
				if p, ok := u.User.Password(); ok && len(p) > 3 && strings.Contains(err.Error(), p) {
					t.Fatalf("error repeats the password: %v", err)
				}
			}
			return
		}
		if raw == "" {
			return
		}
		u, perr := url.Parse(raw)
		switch {
		case perr != nil:
			t.Fatalf("accepted %q, which does not parse: %v", raw, perr)
		case u.Scheme != "https" && u.Scheme != "http", u.Hostname() == "", u.User != nil, strings.Contains(raw, "#"):
			t.Fatalf("accepted %q", raw)
		case kube.Origin(raw) == "" || !strings.HasPrefix(kube.Origin(raw), u.Scheme+"://"):
			t.Fatalf("accepted %q, whose origin is %q", raw, kube.Origin(raw))
		}
	})
}

// Hybrid mode without a reviewer verifies young tokens locally with the
// keys at jwks_url (read without a credential), where before it reviewed
// every token; an old token is still reviewed.
func TestJWKSURLHybridWithoutReviewer(t *testing.T) {
	e := newTestEnv(t)
	e.kube.setReviewerToken("") // each login JWT reviews itself
	keys := newKeyServer(t, e.kube)
	e.writeConfig(map[string]any{"token_reviewer_jwt": "", "disable_local_ca_jwt": true, "issuer": testkit.Issuer,
		"jwks_url": keys.url, "kubernetes_ca_cert": e.kube.caPEM + keys.caPEM})
	e.writeRole(testRole, map[string]any{"review_mode": "hybrid", "local_max_token_age": "2m"})
	e.mustLogin(testRole, e.boundToken(time.Now(), nil))
	e.requireReviews(0, "a young token")
	e.mustLogin(testRole, e.boundToken(time.Now().Add(-3*time.Minute), nil))
	e.requireReviews(1, "an old token")
	if got := keys.credentials(); len(got) > 0 {
		t.Fatalf("the key server got %q", got)
	}
}
