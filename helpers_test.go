package kubeauth

import (
	"context"
	"crypto"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/helper/errutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// The service account most tests log in as.
const (
	testReviewer = "reviewer-token"
	testRole     = "web"
)

// testEnv is a backend on in-memory storage wired to a fake API server that
// knows the default service account, plus the signing key of its tokens.
type testEnv struct {
	t       testing.TB
	b       *backend
	storage *logical.InmemStorage
	kube    *fakeKube
	signer  crypto.Signer
	logs    *testkit.SyncBuffer
}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	signer := testkit.PrivateKey(t, "signer.key")
	kube := newFakeKube(t, signer.Public())
	kube.addServiceAccount(testkit.Namespace, testkit.SAName, testkit.SAUID, nil)
	kube.setReviewerToken(testReviewer)

	logs := &testkit.SyncBuffer{}
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
		"bound_service_account_names":      testkit.SAName,
		"bound_service_account_namespaces": testkit.Namespace,
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
	return testkit.SignJWT(e.t, e.signer, jose.RS256, testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault"))
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
