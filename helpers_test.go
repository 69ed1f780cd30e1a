package kubeauth

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/helper/errutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
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

// requireBadWrite sends data to path as an update and fails the test
// unless it is refused with a 400 naming want and the entry stored under
// path (its storage key too) is left as it was.
func (e *testEnv) requireBadWrite(path string, data map[string]any, want string) {
	e.t.Helper()
	before := e.rawEntry(path)
	resp, err := e.do(logical.UpdateOperation, path, data)
	requireBadRequest(e.t, resp, err, want)
	if after := e.rawEntry(path); !reflect.DeepEqual(before, after) {
		e.t.Fatalf("failed write changed storage:\nbefore %v\nafter  %v", before, after)
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

// useTestClock makes e's backend read time from a clock starting now, on a
// whole second as JWT times are.
func useTestClock(e *testEnv) *testkit.Clock {
	c := testkit.NewClock(time.Now().Truncate(time.Second))
	e.b.now = c.Now
	return c
}

// tokenNo is a token for the default service account that differs from
// e.token() and from other numbers' tokens (by its jti).
func (e *testEnv) tokenNo(n int) string {
	claims := testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault")
	claims["jti"] = fmt.Sprint("token-", n)
	return testkit.SignJWT(e.t, e.signer, jose.RS256, claims)
}

// mustLogin fails the test unless the login succeeds, with the log.
func (e *testEnv) mustLogin(role, token string) *logical.Auth {
	e.t.Helper()
	resp, err := e.login(role, token)
	if err != nil || resp == nil || resp.IsError() || resp.Auth == nil {
		e.t.Fatalf("login: err=%v resp=%#v\n%s", err, resp, e.logs.String())
	}
	return resp.Auth
}

// requireReviews fails the test unless the fake API server has answered
// want TokenReviews in all.
func (e *testEnv) requireReviews(want int64, what string) {
	e.t.Helper()
	if got := e.kube.reviews.Load(); got != want {
		e.t.Fatalf("%s: %d TokenReviews in all, want %d", what, got, want)
	}
}

// state is the backend's current state, released when the test ends.
func (e *testEnv) state() *liveCluster {
	e.t.Helper()
	st, err := e.b.liveDefault(e.t.Context(), e.storage)
	if err != nil || st == nil {
		e.t.Fatalf("state: %v %v", st, err)
	}
	e.t.Cleanup(st.release)
	return st
}

// requireFault asserts the generic fault public, as requireKubeFault does.
func (e *testEnv) requireFault(public error, resp *logical.Response, err error, logWant ...string) {
	e.t.Helper()
	if !errors.Is(err, public) || resp != nil {
		e.t.Fatalf("want the generic fault %q, got err=%v resp=%#v", public, err, resp)
	}
	if code, _ := logical.RespondErrorCommon(&logical.Request{Operation: logical.UpdateOperation}, resp, err); code != http.StatusInternalServerError {
		e.t.Fatalf("status %d, want 500", code)
	}
	for _, leak := range []string{e.kube.srv.URL, "127.0.0.1", "kubernetes_ca_cert", "token_reviewer_jwt", "tokenreviews", "namespaces"} {
		if strings.Contains(err.Error(), leak) {
			e.t.Fatalf("the caller's error %q reveals %q", err, leak)
		}
	}
	logs := e.logs.String()
	for _, want := range append([]string{`"@message":"login failed"`, `"role":"web"`, `"remote_addr":"10.1.2.3"`}, logWant...) {
		if !strings.Contains(logs, want) {
			e.t.Fatalf("log lacks %q:\n%s", want, logs)
		}
	}
}

// requireKubeFault asserts the generic HTTP 500 a caller gets when the
// Kubernetes API could not be reached or refused the check, that it says
// nothing of the setup, and that the log line "login failed" has the
// details (each of logWant) with the role and the client address.
func (e *testEnv) requireKubeFault(resp *logical.Response, err error, logWant ...string) {
	e.t.Helper()
	e.requireFault(refusal.ErrKubeFault, resp, err, logWant...)
}

// logLines parses the JSON log lines written after offset.
func (e *testEnv) logLines(offset int) []map[string]any {
	e.t.Helper()
	var out []map[string]any
	for line := range strings.Lines(e.logs.String()[offset:]) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			e.t.Fatalf("log line is not JSON: %v: %s", err, line)
		}
		out = append(out, m)
	}
	return out
}

// tokenFor mints a token for another service account with audience vault.
func (e *testEnv) tokenFor(namespace, name, uid string) string {
	return testkit.SignJWT(e.t, e.signer, jose.RS256, testkit.Claims(namespace, name, uid, "vault"))
}

func lookahead(e *testEnv, jwt string) (*logical.Response, error) {
	e.t.Helper()
	return e.b.HandleRequest(e.t.Context(), &logical.Request{
		Operation: logical.AliasLookaheadOperation, Path: "login", Storage: e.storage,
		Data: map[string]any{"role": testRole, "jwt": jwt}, Connection: &logical.Connection{RemoteAddr: "10.1.2.3"},
	})
}

// loginsSharingReview runs n logins with token at once, holding their
// TokenReview until all n wait for the one review they share, and returns
// each login's error (an error response as one) once all have ended.
func (e *testEnv) loginsSharingReview(n int, token string) []error {
	e.t.Helper()
	release := make(chan struct{})
	e.kube.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/tokenreviews") {
			<-release
		}
		return false
	})
	st := e.state()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, err := e.login(testRole, token)
			if err == nil && resp.IsError() {
				err = resp.Error()
			}
			errs[i] = err
		})
	}
	for st.reviews.Waiting() < n {
		select {
		case <-e.t.Context().Done():
			e.t.Fatal("the logins never all waited")
		case <-time.After(time.Millisecond):
		}
	}
	close(release)
	wg.Wait()
	return errs
}
