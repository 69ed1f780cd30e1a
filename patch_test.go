package kubeauth

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// patch sends a PATCH with a JSON merge patch body, as `vault patch` does.
func (e *testEnv) patch(path string, data map[string]any) (*logical.Response, error) {
	e.t.Helper()
	return e.do(logical.PatchOperation, path, data)
}

func statusOf(resp *logical.Response, err error) int {
	code, _ := logical.RespondErrorCommon(&logical.Request{Operation: logical.PatchOperation}, resp, err)
	if code == 0 && resp != nil {
		if c, ok := resp.Data[logical.HTTPStatusCode].(int); ok {
			return c
		}
	}
	return code
}

func TestRolePatchChangesOnlyWhatItSends(t *testing.T) {
	e := configured(t)
	e.writeRole(testRole, map[string]any{
		"token_policies": "a,b", "token_ttl": "1h", "review_mode": "cached",
		"bound_pod_names": "web-*", "alias_metadata": map[string]any{"team": "x", "env": "prod"},
	})
	before := e.mustDo(logical.ReadOperation, "role/"+testRole, nil).Data

	resp, err := e.patch("role/"+testRole, map[string]any{
		"token_ttl":       "30m",
		"review_mode":     nil, // back to unset
		"bound_pod_names": nil,
		"alias_metadata":  map[string]any{"env": nil, "owner": "ops"}, // merged member by member
	})
	if err != nil || (resp != nil && resp.IsError()) {
		t.Fatalf("patch: %v %#v", err, resp)
	}
	after := e.mustDo(logical.ReadOperation, "role/"+testRole, nil).Data
	if after["token_ttl"] != int64(1800) {
		t.Errorf("token_ttl %v, want 1800", after["token_ttl"])
	}
	for _, k := range []string{"token_policies", "bound_service_account_names", "bound_service_account_namespaces", "audience", "token_max_ttl"} {
		if !equalJSONish(before[k], after[k]) {
			t.Errorf("%s changed from %v to %v", k, before[k], after[k])
		}
	}
	md := after["alias_metadata"].(map[string]string)
	if md["team"] != "x" || md["owner"] != "ops" || md["env"] != "" {
		t.Errorf("alias_metadata %v, want team=x owner=ops", md)
	}
	raw := e.rawEntry(rolePrefix + testRole)
	for _, k := range []string{"review_mode", "bound_pod_names"} {
		if _, ok := raw[k]; ok {
			t.Errorf("%s sent as null is still stored: %v", k, raw)
		}
	}
}

func equalJSONish(a, b any) bool {
	as, aok := a.([]string)
	bs, bok := b.([]string)
	if aok && bok {
		return slices.Equal(as, bs)
	}
	return a == b
}

func TestRolePatchInvalidStoresNothing(t *testing.T) {
	e := configured(t)
	before := e.rawEntry(rolePrefix + testRole)
	for _, tc := range []struct {
		name string
		data map[string]any
		want string
	}{
		{"bad value", map[string]any{"bound_pod_label_selector": "{}"}, "selects every pod"},
		{"whole role invalid", map[string]any{"bound_service_account_names": nil}, "bound_service_account_names: is required"},
		{"unparsable", map[string]any{"token_ttl": "soon"}, "token_ttl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := e.patch("role/"+testRole, tc.data)
			requireBadRequest(t, resp, err, tc.want)
			if after := e.rawEntry(rolePrefix + testRole); !equalMaps(before, after) {
				t.Fatalf("stored after an invalid patch:\n%v\n%v", before, after)
			}
		})
	}
}

func equalMaps(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !equalJSONishAny(v, b[k]) {
			return false
		}
	}
	return true
}

func equalJSONishAny(a, b any) bool {
	switch av := a.(type) {
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for i := range av {
			if !equalJSONishAny(av[i], bv[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		bv, ok := b.(map[string]any)
		return ok && equalMaps(av, bv)
	}
	return a == b
}

func TestPatchMissingIs404(t *testing.T) {
	e := newTestEnv(t)
	for _, path := range []string{"role/nope", "config"} {
		resp, err := e.patch(path, map[string]any{"token_ttl": "1h", "issuer": "x"})
		if code := statusOf(resp, err); code != http.StatusNotFound {
			t.Errorf("PATCH %s: status %d, want 404 (resp=%#v err=%v)", path, code, resp, err)
		}
	}
	if e.rawEntry(rolePrefix+"nope") != nil || e.rawEntry(configPath) != nil {
		t.Fatal("a PATCH created something")
	}
}

func TestConfigPatch(t *testing.T) {
	e := configured(t)
	e.writeConfig(map[string]any{"issuer": testkit.Issuer, "disable_iss_validation": false})

	resp, err := e.patch("config", map[string]any{"use_annotations_as_alias_metadata": true})
	if err != nil || (resp != nil && resp.IsError()) {
		t.Fatalf("patch: %v %#v", err, resp)
	}
	raw := e.rawEntry(configPath)
	if raw["use_annotations_as_alias_metadata"] != true || raw["issuer"] != testkit.Issuer ||
		raw["disable_iss_validation"] != false || raw["token_reviewer_jwt"] != testReviewer || raw["host"] != e.kube.srv.URL {
		t.Fatalf("stored %v", raw)
	}
	// Logins still work with the kept reviewer JWT.
	if resp, err := e.login(testRole, e.token()); err != nil || resp.Auth == nil {
		t.Fatalf("login after the patch: %v %#v", err, resp)
	}

	// null returns a field to its default: disable_iss_validation's is true.
	e.mustDo(logical.PatchOperation, "config", map[string]any{"disable_iss_validation": nil})
	if raw := e.rawEntry(configPath); raw["disable_iss_validation"] != true {
		t.Errorf("disable_iss_validation %v after null, want the default true", raw["disable_iss_validation"])
	}

	// The reviewer JWT is replaced, then cleared, without being read back.
	e.kube.setReviewerToken("rotated-token")
	e.mustDo(logical.PatchOperation, "config", map[string]any{"token_reviewer_jwt": "rotated-token"})
	if raw := e.rawEntry(configPath); raw["token_reviewer_jwt"] != "rotated-token" {
		t.Fatalf("token_reviewer_jwt %v", raw["token_reviewer_jwt"])
	}
	if resp, err := e.login(testRole, e.token()); err != nil || resp.Auth == nil {
		t.Fatalf("login with the replaced reviewer: %v %#v", err, resp)
	}
	e.mustDo(logical.PatchOperation, "config", map[string]any{"token_reviewer_jwt": nil})
	if raw := e.rawEntry(configPath); raw["token_reviewer_jwt"] != "" {
		t.Fatalf("token_reviewer_jwt %v after null", raw["token_reviewer_jwt"])
	}

	// An invalid result stores nothing.
	before := e.rawEntry(configPath)
	resp, err = e.patch("config", map[string]any{"kubernetes_host": nil})
	requireBadRequest(t, resp, err, "kubernetes_host")
	if after := e.rawEntry(configPath); !equalMaps(before, after) {
		t.Fatalf("stored after an invalid patch:\n%v\n%v", before, after)
	}
}

// The OpenAPI document lists the patch operations.
func TestPatchInOpenAPI(t *testing.T) {
	conf := logical.TestBackendConfig()
	conf.StorageView = &logical.InmemStorage{}
	conf.System.(*logical.StaticSystemView).PluginEnvironment = &logical.PluginEnvironment{VaultVersion: "v1.21.1"}
	b := newBackend()
	if err := b.Setup(t.Context(), conf); err != nil {
		t.Fatal(err)
	}
	resp, err := b.HandleRequest(t.Context(), &logical.Request{Operation: logical.HelpOperation, Path: "", Storage: conf.StorageView})
	if err != nil {
		t.Fatal(err)
	}
	doc, ok := resp.Data["openapi"].(*framework.OASDocument)
	if !ok {
		t.Fatalf("no OpenAPI document: %#v", resp.Data)
	}
	for _, path := range []string{"/role/{name}", "/config", "/cluster/{name}"} {
		item := doc.Paths[path]
		if item == nil || item.Patch == nil {
			t.Errorf("%s has no patch operation in the OpenAPI document", path)
			continue
		}
		if item.Patch.OperationID == "" {
			t.Errorf("%s: patch has no operation id", path)
		}
	}
	// Clients generated from the document need every operation id once.
	seen := map[string]string{}
	for path, item := range doc.Paths {
		for _, op := range []*framework.OASOperation{item.Get, item.Post, item.Delete, item.Patch} {
			if op == nil || op.OperationID == "" {
				continue
			}
			if other, dup := seen[op.OperationID]; dup {
				t.Errorf("operation id %q on both %s and %s", op.OperationID, other, path)
			}
			seen[op.OperationID] = path
		}
	}
}

// captureServer stands for a server a PATCH points a cluster at: it
// records the Authorization header of every request and answers none of
// them usefully. It listens in plain HTTP and in TLS (with its own CA).
type captureServer struct {
	plain, tls *httptest.Server
	caPEM      string

	mu   sync.Mutex
	auth []string
}

func newCaptureServer(t *testing.T) *captureServer {
	t.Helper()
	c := &captureServer{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.auth = append(c.auth, r.Header.Get("Authorization"))
		c.mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	c.plain = httptest.NewServer(h)
	// A certificate of its own: every httptest server shares one, which
	// the fake API servers' CA would then trust.
	cert, certPEM := selfSignedCert(t)
	c.tls = httptest.NewUnstartedServer(h)
	c.tls.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	c.tls.Config.ErrorLog = log.New(io.Discard, "", 0)
	c.tls.StartTLS()
	t.Cleanup(c.plain.Close)
	t.Cleanup(c.tls.Close)
	c.caPEM = certPEM
	return c
}

// selfSignedCert is a serving certificate for 127.0.0.1 that is its own CA.
func selfSignedCert(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	tmpl := testkit.CATemplate(t, "capture", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	_, der, key := testkit.SelfSigned(t, tmpl)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, testkit.PEM(der)
}

// seen counts the requests that carried bearer token tok, and forgets them.
func (c *captureServer) seen(tok string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, a := range c.auth {
		if a == "Bearer "+tok {
			n++
		}
	}
	c.auth = nil
	return n
}

// No field that a read hides is ever sent to a server the request chose:
// for every combination of what a PATCH of config or cluster/<name>
// changes, the stored reviewer JWT never reaches the capture server
// through the requests that follow (config/check, cluster/<name>/check,
// a login through each cluster). A patch that moves the credential
// without sending token_reviewer_jwt is a 400 that stores nothing; one
// that sends it (or null) is accepted, and so is any patch that does not
// move it.
func TestPatchNeverSendsStoredReviewerElsewhere(t *testing.T) {
	c := newClusterEnv(t, eastIssuer)
	c.b.requestTimeout = 5 * time.Second
	c.writeRole(testRole, map[string]any{"bound_clusters": "*"})
	capture := newCaptureServer(t)
	const patchedJWT = "patched-reviewer-jwt"

	targets := []struct {
		path, key string
		fake      *fakeKube
		reset     func()
	}{
		{"config", configPath, c.kube, func() { c.writeConfig(nil) }},
		{"cluster/east", clusterPrefix + "east", c.east, func() { c.writeEast(map[string]any{"issuer": eastIssuer}) }},
	}
	hosts := []string{"keep", "same-reformatted", "capture-http", "capture-tls"}
	cas := []string{"keep", "capture", "null"}
	jwts := []string{"absent", "sent", "null"}
	others := []string{"none", "issuer", "disable_local_ca_jwt"}

	for _, tg := range targets {
		for _, host := range hosts {
			for _, ca := range cas {
				for _, jwt := range jwts {
					for _, other := range others {
						name := strings.Join([]string{tg.path, "host=" + host, "ca=" + ca, "jwt=" + jwt, "other=" + other}, ",")
						t.Run(name, func(t *testing.T) {
							c.writeConfig(nil)
							c.writeEast(map[string]any{"issuer": eastIssuer})
							defer tg.reset()
							capture.seen("")
							before := c.rawEntry(tg.key)

							patch := map[string]any{}
							moves := false
							switch host {
							case "same-reformatted":
								patch["kubernetes_host"] = tg.fake.srv.URL + "/"
							case "capture-http":
								patch["kubernetes_host"] = capture.plain.URL
								moves = true
							case "capture-tls":
								patch["kubernetes_host"] = capture.tls.URL
								moves = true
							}
							switch ca {
							case "capture":
								patch["kubernetes_ca_cert"] = capture.caPEM
								moves = true
							case "null":
								patch["kubernetes_ca_cert"] = nil
								moves = true
							}
							switch other {
							case "issuer":
								patch["issuer"] = "https://patched.example"
							case "disable_local_ca_jwt":
								patch["disable_local_ca_jwt"] = true
								moves = moves || ca == "null"
							}
							switch jwt {
							case "sent":
								patch["token_reviewer_jwt"] = patchedJWT
							case "null":
								patch["token_reviewer_jwt"] = nil
							}

							resp, err := c.patch(tg.path, patch)
							code, respErr := logical.RespondErrorCommon(&logical.Request{Operation: logical.PatchOperation}, resp, err)
							if moves && jwt == "absent" {
								if code != http.StatusBadRequest || !strings.Contains(respErr.Error(), "send token_reviewer_jwt again") {
									t.Errorf("want a 400 asking for token_reviewer_jwt, got %d %v", code, respErr)
								}
								if after := c.rawEntry(tg.key); !equalMaps(before, after) {
									t.Errorf("stored after the refused patch:\n%v\n%v", before, after)
								}
							} else if code != 0 {
								t.Errorf("patch refused: %d %v", code, respErr)
							}

							c.do(logical.ReadOperation, "config/check", nil)
							c.do(logical.ReadOperation, "cluster/east/check", nil)
							c.login(testRole, c.defaultToken())
							c.login(testRole, c.eastToken(eastIssuer))

							if n := capture.seen(testReviewer); n > 0 {
								t.Fatalf("the stored reviewer JWT reached the server the patch chose %d times", n)
							}
						})
					}
				}
			}
		}
	}

	// The capture server does see what a patch sends with the move, so
	// the count above can fail.
	c.mustDo(logical.PatchOperation, "cluster/east", map[string]any{"kubernetes_host": capture.plain.URL, "token_reviewer_jwt": patchedJWT})
	c.do(logical.ReadOperation, "cluster/east/check", nil)
	if capture.seen(patchedJWT) == 0 {
		t.Fatal("the capture server saw no request with the JWT the patch sent")
	}
}
