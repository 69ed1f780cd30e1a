package kubeauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/hashicorp/vault/sdk/logical"
	authv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/satoken"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// recordRequests makes the fake remember every request it is sent, as
// "METHOD path", and serve it as usual.
func recordRequests(f *fakeKube) func() []string {
	var mu sync.Mutex
	var seen []string
	f.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, r.Method+" "+r.URL.Path)
		return false
	})
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

const (
	reviewRequest    = "POST /apis/authentication.k8s.io/v1/tokenreviews"
	namespaceRequest = "GET /api/v1/namespaces/" + testkit.Namespace
)

// selectorRole binds the default service account through the selector
// alone, and the fake gives its namespace matching labels.
func selectorRole(e *testEnv) {
	e.t.Helper()
	e.writeRole(testRole, map[string]any{"bound_service_account_namespaces": "", "bound_service_account_namespace_selector": `{"matchLabels":{"vault":"yes"}}`})
	e.kube.setNamespaceLabels(testkit.Namespace, map[string]string{"vault": "yes"})
}

// The namespace lookup for a selector comes after the TokenReview: a token
// Kubernetes does not vouch for never makes the reviewer read a namespace,
// and a token pem_keys refuse costs no request at all.
func TestLoginSelectorLookupAfterReview(t *testing.T) {
	t.Run("genuine token", func(t *testing.T) {
		e := configured(t)
		selectorRole(e)
		requests := recordRequests(e.kube)
		if resp, err := e.login(testRole, e.token()); err != nil || resp.IsError() {
			t.Fatalf("login: %v %#v", err, resp)
		}
		if got, want := requests(), []string{reviewRequest, namespaceRequest}; !reflect.DeepEqual(got, want) {
			t.Fatalf("requests %q, want %q", got, want)
		}
	})
	t.Run("forged token, no pem_keys", func(t *testing.T) {
		e := configured(t)
		selectorRole(e)
		requests := recordRequests(e.kube)
		forged := testkit.SignJWT(t, testkit.PrivateKey(t, "other.key"), jose.RS256, testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault"))
		resp, err := e.login(testRole, forged)
		e.requireDenied(resp, err, refusal.ReasonReviewRejected)
		if got, want := requests(), []string{reviewRequest}; !reflect.DeepEqual(got, want) {
			t.Fatalf("requests %q, want only the TokenReview %q", got, want)
		}
	})
	t.Run("forged token, pem_keys", func(t *testing.T) {
		e := configured(t)
		e.writeConfig(map[string]any{"pem_keys": testkit.Testdata(t, "signer.pub")})
		selectorRole(e)
		requests := recordRequests(e.kube)
		forged := testkit.SignJWT(t, testkit.PrivateKey(t, "other.key"), jose.RS256, testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault"))
		resp, err := e.login(testRole, forged)
		e.requireDenied(resp, err, refusal.ReasonSignature)
		if got := requests(); len(got) != 0 {
			t.Fatalf("requests %q, want none", got)
		}
	})
}

// Alias lookahead needs no network: not even for a selector role.
func TestLoginAliasLookaheadMakesNoRequest(t *testing.T) {
	e := configured(t)
	selectorRole(e)
	requests := recordRequests(e.kube)
	resp, err := lookahead(e, e.token())
	if err != nil || resp.Auth == nil || resp.Auth.Alias.Name != testkit.SAUID {
		t.Fatalf("lookahead: %v %#v", err, resp)
	}
	// A namespace neither the globs nor the selector bind is the login's to
	// refuse; lookahead still answers without a request.
	other := testkit.SignJWT(t, e.signer, jose.RS256, testkit.Claims("other", testkit.SAName, testkit.SAUID, "vault"))
	if resp, err := lookahead(e, other); err != nil || resp.Auth == nil {
		t.Fatalf("lookahead: %v %#v", err, resp)
	}
	if got := requests(); len(got) != 0 {
		t.Fatalf("alias lookahead sent %q, want no request", got)
	}
}

// Service-account name and namespace claims must be names Kubernetes could
// have given; forged ones are refused before any binding or lookup.
func TestLoginInvalidNameClaims(t *testing.T) {
	cases := []struct {
		name, namespace, saName, detail string
	}{
		{"namespace with a slash", "a/b", testkit.SAName, "not a valid namespace name"},
		{"namespace with a dot", "apps.x", testkit.SAName, "not a valid namespace name"},
		{"namespace upper case", "Apps", testkit.SAName, "not a valid namespace name"},
		{"namespace too long", strings.Repeat("a", 64), testkit.SAName, "not a valid namespace name"},
		{"name with a slash", testkit.Namespace, "web/../admin", "not a valid service-account name"},
		{"name with a colon", testkit.Namespace, "web:x", "not a valid service-account name"},
		{"name upper case", testkit.Namespace, "Web", "not a valid service-account name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := configured(t)
			// Globs that bind anything, and a selector: only the name check
			// stands between the claim and a namespace lookup.
			e.writeRole(testRole, map[string]any{"bound_service_account_names": "*", "bound_service_account_namespaces": "",
				"bound_service_account_namespace_selector": `{"matchLabels":{"vault":"yes"}}`})
			requests := recordRequests(e.kube)
			tok := testkit.SignJWT(t, testkit.PrivateKey(t, "other.key"), jose.RS256, testkit.Claims(tc.namespace, tc.saName, testkit.SAUID, "vault"))
			resp, err := e.login(testRole, tok)
			e.requireDenied(resp, err, refusal.ReasonClaims)
			if !strings.Contains(e.logs.String(), tc.detail) {
				t.Fatalf("log does not say %q:\n%s", tc.detail, e.logs.String())
			}
			if got := requests(); len(got) != 0 {
				t.Fatalf("requests %q, want none", got)
			}
		})
	}
}

// A JWT far larger than any real token is bad input, answered before any
// parsing or request, for a login and for alias lookahead.
func TestLoginJWTSizeCap(t *testing.T) {
	e := configured(t)
	requests := recordRequests(e.kube)
	tok := e.token()
	huge := tok + strings.Repeat("A", satoken.MaxJWTBytes+1-len(tok))
	resp, err := e.login(testRole, huge)
	requireBadRequest(t, resp, err, "jwt: is 65537 bytes; the limit is 65536 bytes (64 KiB)")
	resp, err = lookahead(e, huge)
	requireBadRequest(t, resp, err, "jwt: is 65537 bytes")
	if got := requests(); len(got) != 0 {
		t.Fatalf("requests %q, want none", got)
	}
	// A real token is far below the cap.
	if resp, err := e.login(testRole, tok); err != nil || resp.IsError() {
		t.Fatalf("login: %v %#v", err, resp)
	}
}

// A correctly signed token whose claims hold a duplicate key is refused for
// its claims, not for its signature: the two are different failures.
func TestLoginDuplicateClaimKeys(t *testing.T) {
	claims, err := json.Marshal(testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault"))
	if err != nil {
		t.Fatal(err)
	}
	body := strings.TrimSuffix(string(claims), "}")
	cases := map[string]string{
		"in an object no claim reads": body + `,"extra":{"a":1,"a":2}}`,
		"in the kubernetes.io object": strings.Replace(body, `"kubernetes.io":{`, `"kubernetes.io":{"namespace":"kube-system",`, 1) + "}",
		"at the top":                  body + `,"sub":"system:serviceaccount:kube-system:admin"}`,
	}
	for name, payload := range cases {
		t.Run(name, func(t *testing.T) {
			e := configured(t)
			e.writeConfig(map[string]any{"pem_keys": testkit.Testdata(t, "signer.pub")})
			resp, err := e.login(testRole, testkit.SignPayload(t, e.signer, payload))
			e.requireDenied(resp, err, refusal.ReasonClaims)
			if strings.Contains(e.logs.String(), refusal.ReasonSignature) {
				t.Fatalf("a good signature was reported as bad:\n%s", e.logs.String())
			}
			if n := e.kube.reviews.Load(); n != 0 {
				t.Fatalf("%d TokenReviews, want none", n)
			}
		})
	}
}

// A stored selector that selects everything (written before such selectors
// were refused, or by Vault's built-in method) keeps the built-in method's
// meaning: every namespace that exists is bound.
func TestLoginStoredSelectAllSelector(t *testing.T) {
	for _, stored := range []string{"{}", "null", "# only a comment"} {
		t.Run(stored, func(t *testing.T) {
			e := configured(t)
			putRawRole(t, e, map[string]any{
				"bound_service_account_names":              []string{testkit.SAName},
				"bound_service_account_namespace_selector": stored,
				"audience": "vault",
			})
			if resp, err := e.login(testRole, e.token()); err != nil || resp.IsError() {
				t.Fatalf("login: %v %#v", err, resp)
			}
			e.kube.addServiceAccount("gone", testkit.SAName, testkit.SAUID, nil)
			e.kube.mu.Lock()
			delete(e.kube.namespaces, "gone")
			e.kube.mu.Unlock()
			resp, err := e.login(testRole, testkit.SignJWT(t, e.signer, jose.RS256, testkit.Claims("gone", testkit.SAName, testkit.SAUID, "vault")))
			e.requireDenied(resp, err, refusal.ReasonNamespace)

			// The role can still be updated; the write warns about the selector.
			resp = e.mustDo(logical.UpdateOperation, "role/"+testRole, map[string]any{"token_ttl": "5m"})
			if resp == nil || !strings.Contains(strings.Join(resp.Warnings, "\n"), "bound_service_account_namespaces=*") {
				t.Fatalf("want a warning pointing to bound_service_account_namespaces=*, got %#v", resp)
			}
		})
	}
}

// A stored selector that does not parse is a fault for the logins that need
// it, answered without detail; logins the globs bind are unaffected.
func TestLoginStoredSelectorUnparsable(t *testing.T) {
	e := configured(t)
	putRawRole(t, e, map[string]any{
		"bound_service_account_names":              []string{testkit.SAName},
		"bound_service_account_namespaces":         []string{"other"},
		"bound_service_account_namespace_selector": `{"matchLabel":{"vault":"yes"}}`,
		"audience": "vault",
	})
	resp, err := e.login(testRole, e.token())
	if !errors.Is(err, refusal.ErrInternalFault) || resp != nil {
		t.Fatalf("want the generic internal fault, got err=%v resp=%#v", err, resp)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "stored role is invalid") || !strings.Contains(logs, `"kind":"internal"`) {
		t.Fatalf("log lacks the detail:\n%s", logs)
	}
	e.kube.addServiceAccount("other", testkit.SAName, testkit.SAUID, nil)
	if resp, err := e.login(testRole, testkit.SignJWT(t, e.signer, jose.RS256, testkit.Claims("other", testkit.SAName, testkit.SAUID, "vault"))); err != nil || resp.IsError() {
		t.Fatalf("login bound by glob: %v %#v", err, resp)
	}
}

// putRawRole stores a role as another writer (an older version, the
// built-in method) may have, bypassing this plugin's write checks.
func putRawRole(t *testing.T, e *testEnv, role map[string]any) {
	t.Helper()
	raw, err := json.Marshal(role)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.storage.Put(t.Context(), &logical.StorageEntry{Key: roleKey(testRole), Value: raw}); err != nil {
		t.Fatal(err)
	}
	e.b.Invalidate(t.Context(), roleKey(testRole))
}

// The selector is parsed when the role is loaded, and logins use that
// parsed selector rather than parsing the stored text again.
func TestLoginUsesSelectorParsedAtLoad(t *testing.T) {
	e := configured(t)
	selectorRole(e)
	r, err := e.b.roles.get(t.Context(), e.storage, testRole)
	if err != nil || r == nil {
		t.Fatalf("role: %v", err)
	}
	if r.namespaceSelector == nil || r.namespaceSelectorErr != nil {
		t.Fatalf("loaded role has no parsed selector (err %v)", r.namespaceSelectorErr)
	}
	// Swap the cached role's parsed selector for one that matches nothing:
	// a login that parsed the stored text would still pass.
	r.namespaceSelector = labels.Nothing()
	resp, err := e.login(testRole, e.token())
	e.requireDenied(resp, err, refusal.ReasonNamespace)
}

// A verified login says so at debug level, with what an operator needs to
// follow it; Vault shows it when it runs at debug.
func TestLoginPassedDebugLine(t *testing.T) {
	e := configured(t)
	if resp, err := e.login(testRole, e.token()); err != nil || resp.IsError() {
		t.Fatalf("login: %v %#v", err, resp)
	}
	var line map[string]any
	for _, l := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(l, `"@message":"login passed"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line == nil || line["@level"] != "debug" || line["role"] != testRole || line["service_account"] != "apps/web" ||
		line["remote_addr"] != "10.1.2.3" || line["token_review_duration"] == nil {
		t.Fatalf("no debug line \"login passed\" with role, service account, review duration and address:\n%s", e.logs.String())
	}
}

// The login-level view of the strict TokenReview checks, through the fake.
func TestLoginReviewAnswerStrict(t *testing.T) {
	user := authv1.UserInfo{Username: "system:serviceaccount:apps:web", UID: testkit.SAUID}
	cases := []struct {
		name   string
		role   map[string]any
		status authv1.TokenReviewStatus
		reason string
	}{
		{"authenticated with an error", nil, authv1.TokenReviewStatus{Authenticated: true, User: user, Audiences: []string{"vault"}, Error: "token has been invalidated"}, refusal.ReasonReviewRejected},
		{"no role audience, answer without audiences", map[string]any{"audience": ""}, authv1.TokenReviewStatus{Authenticated: true, User: user}, refusal.ReasonAudienceMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := configured(t)
			if tc.role != nil {
				e.writeRole(testRole, tc.role)
			}
			reviewAnswers(tc.status)(e.kube)
			resp, err := e.login(testRole, e.token())
			e.requireDenied(resp, err, tc.reason)
		})
	}
}
