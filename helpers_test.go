package kubeauth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/helper/errutil"
	"github.com/hashicorp/vault/sdk/logical"
)

// The service account most tests log in as.
const (
	testNamespace = "apps"
	testSAName    = "web"
	testSAUID     = "7f3c2a8e-0d7b-4c1e-9a55-3f1f0b6e2d11"
	testReviewer  = "reviewer-token"
	testRole      = "web"
	// testIssuer is the issuer of the projected tokens tests mint, and the
	// one the fake API server announces.
	testIssuer = "https://kubernetes.default.svc.cluster.local"
)

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// privateKey loads a PKCS#8 or SEC 1 (EC) private key from testdata.
func privateKey(t testing.TB, name string) crypto.Signer {
	t.Helper()
	block, _ := pem.Decode([]byte(readTestdata(t, name)))
	if block == nil {
		t.Fatalf("testdata/%s is not PEM", name)
	}
	if block.Type == "EC PRIVATE KEY" {
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(crypto.Signer)
}

// tokenClaims are the claims of a projected service-account token, as a map
// so that tests can remove or alter any of them.
func tokenClaims(namespace, name, uid string, audience ...string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": testIssuer,
		"sub": "system:serviceaccount:" + namespace + ":" + name,
		"aud": audience,
		"exp": now.Add(time.Hour).Unix(),
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"kubernetes.io": map[string]any{
			"namespace":      namespace,
			"serviceaccount": map[string]any{"name": name, "uid": uid},
		},
	}
}

// legacyClaims are the claims of a Secret-based service-account token.
func legacyClaims(namespace, name, uid, secret string) map[string]any {
	return map[string]any{
		"iss":                                    "kubernetes/serviceaccount",
		"sub":                                    "system:serviceaccount:" + namespace + ":" + name,
		"kubernetes.io/serviceaccount/namespace": namespace,
		"kubernetes.io/serviceaccount/service-account.name": name,
		"kubernetes.io/serviceaccount/service-account.uid":  uid,
		"kubernetes.io/serviceaccount/secret.name":          secret,
	}
}

func signJWT(t testing.TB, key crypto.Signer, alg jose.SignatureAlgorithm, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signJWTWithKid signs claims with a kid header, as the API server does.
func signJWTWithKid(t testing.TB, key crypto.Signer, kid string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// syncBuffer is a log sink safe for concurrent logins.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// testEnv is a backend on in-memory storage wired to a fake API server that
// knows the default service account, plus the signing key of its tokens.
type testEnv struct {
	t       testing.TB
	b       *backend
	storage *logical.InmemStorage
	kube    *fakeKube
	signer  crypto.Signer
	logs    *syncBuffer
}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	signer := privateKey(t, "signer.key")
	kube := newFakeKube(t, signer.Public())
	kube.addServiceAccount(testNamespace, testSAName, testSAUID, nil)
	kube.setReviewerToken(testReviewer)

	logs := &syncBuffer{}
	conf := logical.TestBackendConfig()
	conf.StorageView = &logical.InmemStorage{}
	conf.Logger = hclog.New(&hclog.LoggerOptions{Output: logs, JSONFormat: true, Level: hclog.Debug})

	b := newBackend()
	// Never pick up a real pod's files from the machine running the tests.
	b.localFiles = localFiles{dir: t.TempDir()}
	if err := b.Setup(context.Background(), conf); err != nil {
		t.Fatal(err)
	}
	return &testEnv{t: t, b: b, storage: conf.StorageView.(*logical.InmemStorage), kube: kube, signer: signer, logs: logs}
}

func (e *testEnv) do(op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	e.t.Helper()
	req := &logical.Request{
		Operation:  op,
		Path:       path,
		Data:       data,
		Storage:    e.storage,
		Connection: &logical.Connection{RemoteAddr: "10.1.2.3"},
	}
	if op == logical.CreateOperation || op == logical.UpdateOperation {
		// Vault asks the existence check which of the two a write is.
		exists, found, err := e.b.HandleExistenceCheck(context.Background(), req)
		var userErr errutil.UserError
		if errors.As(err, &userErr) {
			// Vault answers a field that fails to parse here with a 400.
			return logical.ErrorResponse(userErr.Error()), nil
		}
		if err != nil {
			e.t.Fatalf("existence check %s: %v", path, err)
		}
		if found {
			req.Operation = logical.CreateOperation
			if exists {
				req.Operation = logical.UpdateOperation
			}
		}
	}
	return e.b.HandleRequest(context.Background(), req)
}

// mustDo fails the test unless the request succeeded.
func (e *testEnv) mustDo(op logical.Operation, path string, data map[string]any) *logical.Response {
	e.t.Helper()
	resp, err := e.do(op, path, data)
	if err != nil || resp.IsError() {
		e.t.Fatalf("%s %s: err=%v resp=%#v", op, path, err, resp)
	}
	return resp
}

// configData is a working config for the fake API server.
func (e *testEnv) configData() map[string]any {
	return map[string]any{
		"kubernetes_host":    e.kube.srv.URL,
		"kubernetes_ca_cert": e.kube.caPEM,
		"token_reviewer_jwt": testReviewer,
	}
}

func (e *testEnv) writeConfig(overrides map[string]any) {
	e.t.Helper()
	data := e.configData()
	for k, v := range overrides {
		data[k] = v
	}
	e.mustDo(logical.UpdateOperation, "config", data)
}

// roleData is a role that binds the default service account.
func roleData() map[string]any {
	return map[string]any{
		"bound_service_account_names":      testSAName,
		"bound_service_account_namespaces": testNamespace,
		"audience":                         "vault",
		"token_policies":                   "web-read",
	}
}

func (e *testEnv) writeRole(name string, overrides map[string]any) {
	e.t.Helper()
	data := roleData()
	for k, v := range overrides {
		if v == nil {
			delete(data, k)
			continue
		}
		data[k] = v
	}
	e.mustDo(logical.UpdateOperation, "role/"+name, data)
}

// token mints a token for the default service account with audience vault.
func (e *testEnv) token() string {
	return signJWT(e.t, e.signer, jose.RS256, tokenClaims(testNamespace, testSAName, testSAUID, "vault"))
}

func (e *testEnv) login(role, token string) (*logical.Response, error) {
	e.t.Helper()
	return e.do(logical.UpdateOperation, "login", map[string]any{"role": role, "jwt": token})
}

// configured is an env with a config and the default role.
func configured(t testing.TB) *testEnv {
	t.Helper()
	e := newTestEnv(t)
	e.writeConfig(nil)
	e.writeRole(testRole, nil)
	return e
}

// requireBadRequest asserts an HTTP 400 whose message contains want.
func requireBadRequest(t testing.TB, resp *logical.Response, err error, want string) {
	t.Helper()
	code, respErr := logical.RespondErrorCommon(&logical.Request{Operation: logical.UpdateOperation}, resp, err)
	if code != http.StatusBadRequest || respErr == nil {
		t.Fatalf("want a 400 containing %q, got status %d: resp=%#v err=%v", want, code, resp, err)
	}
	if msg := respErr.Error(); !strings.Contains(msg, want) {
		t.Fatalf("error %q does not contain %q", msg, want)
	}
}

// requireDenied asserts a 403 and that the log names the reason code.
func (e *testEnv) requireDenied(resp *logical.Response, err error, reason string) {
	e.t.Helper()
	if !errors.Is(err, logical.ErrPermissionDenied) {
		e.t.Fatalf("want permission denied (reason %s), got err=%v resp=%#v", reason, err, resp)
	}
	if code, _ := logical.RespondErrorCommon(&logical.Request{Operation: logical.UpdateOperation}, resp, err); code != 403 {
		e.t.Fatalf("status %d, want 403", code)
	}
	if !strings.Contains(e.logs.String(), `"reason":"`+reason+`"`) {
		e.t.Fatalf("log does not record reason %q:\n%s", reason, e.logs.String())
	}
}

// rawEntry returns a stored entry as a generic JSON object.
func (e *testEnv) rawEntry(key string) map[string]any {
	e.t.Helper()
	entry, err := e.storage.Get(context.Background(), key)
	if err != nil {
		e.t.Fatal(err)
	}
	if entry == nil {
		return nil
	}
	var m map[string]any
	if err := entry.DecodeJSON(&m); err != nil {
		e.t.Fatal(err)
	}
	return m
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// hmacToken is a well-formed token signed with a shared secret (HS256).
func hmacToken(t testing.TB) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(tokenClaims(testNamespace, testSAName, testSAUID, "vault")).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
