package kubeauth

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/hashicorp/vault/sdk/logical"
	authv1 "k8s.io/api/authentication/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

func TestLoginSuccess(t *testing.T) {
	e := configured(t)
	e.writeRole(testRole, map[string]any{"token_ttl": "20m", "token_max_ttl": "1h", "token_bound_cidrs": "10.0.0.0/8"})

	resp, err := e.login("WEB", e.token())
	if err != nil || resp.IsError() {
		t.Fatalf("login: err=%v resp=%#v", err, resp)
	}
	auth := resp.Auth
	// The role is found whatever the case, and named as the client sent it,
	// as Vault's method does.
	wantMeta := map[string]string{
		"role":                        "WEB",
		"service_account_name":        testkit.SAName,
		"service_account_namespace":   testkit.Namespace,
		"service_account_secret_name": "",
		"service_account_uid":         testkit.SAUID,
	}
	if !reflect.DeepEqual(auth.Metadata, wantMeta) {
		t.Errorf("metadata %v, want %v", auth.Metadata, wantMeta)
	}
	if !reflect.DeepEqual(auth.Policies, []string{"web-read"}) {
		t.Errorf("policies %v", auth.Policies)
	}
	if auth.TTL != 20*time.Minute || auth.MaxTTL != time.Hour || !auth.Renewable {
		t.Errorf("ttl %v max %v renewable %v", auth.TTL, auth.MaxTTL, auth.Renewable)
	}
	if len(auth.BoundCIDRs) != 1 || auth.BoundCIDRs[0].String() != "10.0.0.0/8" {
		t.Errorf("bound cidrs %v", auth.BoundCIDRs)
	}
	if auth.DisplayName != "apps-web" {
		t.Errorf("display name %q", auth.DisplayName)
	}
	if auth.InternalData["role"] != "WEB" {
		t.Errorf("internal data %v", auth.InternalData)
	}
	if auth.Alias == nil || auth.Alias.Name != testkit.SAUID {
		t.Fatalf("alias %#v, want the service account UID", auth.Alias)
	}
	delete(wantMeta, "role")
	if !reflect.DeepEqual(auth.Alias.Metadata, wantMeta) {
		t.Errorf("alias metadata %v, want %v", auth.Alias.Metadata, wantMeta)
	}
	if spec := e.kube.lastReviewSpec(); !reflect.DeepEqual(spec.Audiences, []string{"vault"}) {
		t.Errorf("TokenReview audiences %v, want the role's [vault]", spec.Audiences)
	}
}

func TestLoginAliasNameSource(t *testing.T) {
	e := configured(t)
	e.writeRole(testRole, map[string]any{"alias_name_source": "serviceaccount_name"})
	resp, err := e.login(testRole, e.token())
	if err != nil || resp.IsError() {
		t.Fatalf("login: %v %#v", err, resp)
	}
	if resp.Auth.Alias.Name != "apps/web" {
		t.Fatalf("alias %q, want apps/web", resp.Auth.Alias.Name)
	}
}

// Without a role audience the TokenReview checks the token's own audiences,
// so a token minted for Vault is not judged against the API server's.
func TestLoginWithoutRoleAudience(t *testing.T) {
	e := configured(t)
	e.writeRole(testRole, map[string]any{"audience": ""})
	tok := testkit.SignJWT(t, e.signer, jose.RS256, testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault", "other"))
	if resp, err := e.login(testRole, tok); err != nil || resp.IsError() {
		t.Fatalf("login: %v %#v", err, resp)
	}
	if spec := e.kube.lastReviewSpec(); !reflect.DeepEqual(spec.Audiences, []string{"vault", "other"}) {
		t.Fatalf("TokenReview audiences %v, want the token's", spec.Audiences)
	}
}

// A legacy Secret-based token (no exp, flat claims) logs in, and its secret
// name is reported.
func TestLoginLegacyToken(t *testing.T) {
	e := configured(t)
	e.writeRole(testRole, map[string]any{"audience": ""})
	claims := testkit.LegacyClaims(testkit.Namespace, testkit.SAName, testkit.SAUID, "web-token-abcde")
	claims["aud"] = []string{fakeAPIAudience}
	resp, err := e.login(testRole, testkit.SignJWT(t, e.signer, jose.RS256, claims))
	if err != nil || resp.IsError() {
		t.Fatalf("login: %v %#v", err, resp)
	}
	if got := resp.Auth.Metadata["service_account_secret_name"]; got != "web-token-abcde" {
		t.Fatalf("secret name %q", got)
	}
}

func TestLoginAnnotationsAsAliasMetadata(t *testing.T) {
	e := configured(t)
	e.writeConfig(map[string]any{"use_annotations_as_alias_metadata": true})
	e.kube.addServiceAccount(testkit.Namespace, testkit.SAName, testkit.SAUID, map[string]string{
		"vault.hashicorp.com/alias-metadata-team": "payments",
		"vault.hashicorp.com/alias-metadata-env":  "prod",
		"vault.hashicorp.com/role":                "ignored",
	})
	resp, err := e.login(testRole, e.token())
	if err != nil || resp.IsError() {
		t.Fatalf("login: %v %#v", err, resp)
	}
	md := resp.Auth.Alias.Metadata
	if md["team"] != "payments" || md["env"] != "prod" || md["service_account_uid"] != testkit.SAUID || len(md) != 6 {
		t.Fatalf("alias metadata %v", md)
	}
	if _, ok := resp.Auth.Metadata["team"]; ok {
		t.Fatal("annotations leaked into token metadata")
	}

	// An annotation that would overwrite a reserved key is refused with a
	// message naming it.
	e.kube.addServiceAccount(testkit.Namespace, testkit.SAName, testkit.SAUID, map[string]string{
		"vault.hashicorp.com/alias-metadata-service_account_name": "admin",
	})
	resp, err = e.login(testRole, e.token())
	requireBadRequest(t, resp, err, "vault.hashicorp.com/alias-metadata-service_account_name")

	// Without use_annotations_as_alias_metadata no lookup happens at all.
	e.writeConfig(nil)
	if resp, err := e.login(testRole, e.token()); err != nil || resp.IsError() {
		t.Fatalf("login: %v %#v", err, resp)
	}
}

func TestLoginGlobs(t *testing.T) {
	cases := []struct {
		names, namespaces string
		ok                bool
	}{
		{"web", "apps", true},
		{"*", "*", true},
		{"we*", "ap*", true},
		{"*eb", "*ps", true},
		{"api,web", "other,apps", true},
		{"w*b", "a*s", true},
		{"web-*", "apps", false},
		{"web", "apps-*", false},
		{"Web", "apps", false},
	}
	for _, tc := range cases {
		t.Run(tc.names+"_"+tc.namespaces, func(t *testing.T) {
			e := configured(t)
			e.writeRole(testRole, map[string]any{"bound_service_account_names": tc.names, "bound_service_account_namespaces": tc.namespaces})
			resp, err := e.login(testRole, e.token())
			if tc.ok && (err != nil || resp.IsError()) {
				t.Fatalf("want success, got %v %#v", err, resp)
			}
			if !tc.ok && err == nil {
				t.Fatal("want a refusal")
			}
		})
	}
}

func TestLoginNamespaceSelector(t *testing.T) {
	e := configured(t)
	e.writeRole(testRole, map[string]any{
		"bound_service_account_namespaces":         "",
		"bound_service_account_namespace_selector": "matchLabels:\n  vault: enabled\nmatchExpressions:\n- {key: tier, operator: In, values: [web, api]}\n",
	})
	e.kube.setNamespaceLabels(testkit.Namespace, map[string]string{"vault": "enabled", "tier": "web"})
	if resp, err := e.login(testRole, e.token()); err != nil || resp.IsError() {
		t.Fatalf("labels match: %v %#v", err, resp)
	}

	e.kube.setNamespaceLabels(testkit.Namespace, map[string]string{"vault": "enabled", "tier": "db"})
	resp, err := e.login(testRole, e.token())
	e.requireDenied(resp, err, refusal.ReasonNamespace)

	// Globs bind on their own; the selector only widens them.
	e.writeRole(testRole, map[string]any{"bound_service_account_namespaces": "app*"})
	if resp, err := e.login(testRole, e.token()); err != nil || resp.IsError() {
		t.Fatalf("glob binds although the selector does not: %v %#v", err, resp)
	}
}

// A namespace the API server no longer has is not bound by any selector
// (the TokenReview, which runs first, still vouches for the token here).
func TestLoginNamespaceSelectorMissingNamespace(t *testing.T) {
	e := configured(t)
	e.writeRole(testRole, map[string]any{"bound_service_account_namespaces": "", "bound_service_account_namespace_selector": `{"matchLabels":{"a":"b"}}`})
	e.kube.addServiceAccount("gone", testkit.SAName, testkit.SAUID, nil)
	e.kube.mu.Lock()
	delete(e.kube.namespaces, "gone")
	e.kube.mu.Unlock()
	tok := testkit.SignJWT(t, e.signer, jose.RS256, testkit.Claims("gone", testkit.SAName, testkit.SAUID, "vault"))
	resp, err := e.login(testRole, tok)
	e.requireDenied(resp, err, refusal.ReasonNamespace)
	if !strings.Contains(e.logs.String(), `namespace \"gone\" does not exist`) {
		t.Fatalf("log does not say the namespace is missing:\n%s", e.logs.String())
	}
}

// Each check refuses with 403 and logs its own reason; the TokenReview is
// never reached by a token the local checks refuse.
func TestLoginRefusals(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name     string
		config   map[string]any
		role     map[string]any
		claims   func(c map[string]any)
		key      string // testdata signing key; default the trusted one
		kube     func(f *fakeKube)
		reason   string
		reviewed bool // whether the refusal comes from the TokenReview
	}{
		{name: "client address outside token_bound_cidrs", role: map[string]any{"token_bound_cidrs": "192.168.0.0/16"}, reason: refusal.ReasonCIDR},
		{name: "client address outside legacy bound_cidrs", role: map[string]any{"bound_cidrs": "192.168.0.0/16"}, reason: refusal.ReasonCIDR},
		{name: "expired", claims: func(c map[string]any) { c["exp"] = now.Add(-2 * time.Minute).Unix() }, reason: refusal.ReasonExpired},
		{name: "not yet valid", claims: func(c map[string]any) { c["nbf"] = now.Add(10 * time.Minute).Unix() }, reason: refusal.ReasonNotYetValid},
		{name: "issued in the future", claims: func(c map[string]any) { c["iat"] = now.Add(10 * time.Minute).Unix() }, reason: refusal.ReasonNotYetValid},
		{name: "unknown signing key with pem_keys", config: map[string]any{"pem_keys": "signer.pub"}, key: "other.key", reason: refusal.ReasonSignature},
		{name: "unknown signing key without pem_keys", key: "other.key", reason: refusal.ReasonReviewRejected, reviewed: true},
		{name: "issuer mismatch", config: map[string]any{"disable_iss_validation": false, "issuer": "https://issuer.example"}, reason: refusal.ReasonIssuer},
		{name: "default issuer enforced", config: map[string]any{"disable_iss_validation": false}, reason: refusal.ReasonIssuer},
		{name: "audience not in token", claims: func(c map[string]any) { c["aud"] = []string{"other"} }, reason: refusal.ReasonAudienceMismatch},
		{name: "no audience in token", claims: func(c map[string]any) { delete(c, "aud") }, reason: refusal.ReasonAudienceMismatch},
		{name: "no uid claim", claims: func(c map[string]any) {
			c["kubernetes.io"] = map[string]any{"namespace": testkit.Namespace, "serviceaccount": map[string]any{"name": testkit.SAName}}
		}, reason: refusal.ReasonClaims},
		{name: "no namespace claim", claims: func(c map[string]any) {
			c["kubernetes.io"] = map[string]any{"serviceaccount": map[string]any{"name": testkit.SAName, "uid": testkit.SAUID}}
		}, reason: refusal.ReasonClaims},
		{name: "subject disagrees with claims", claims: func(c map[string]any) { c["sub"] = "system:serviceaccount:kube-system:admin" }, reason: refusal.ReasonClaims},
		{name: "name not bound", role: map[string]any{"bound_service_account_names": "api"}, reason: refusal.ReasonName},
		{name: "namespace not bound", role: map[string]any{"bound_service_account_namespaces": "prod"}, reason: refusal.ReasonNamespace},
		{name: "service account deleted", kube: func(f *fakeKube) { f.deleteServiceAccount(testkit.Namespace, testkit.SAName) }, reason: refusal.ReasonReviewRejected, reviewed: true},
		{name: "service account recreated with a new UID", kube: func(f *fakeKube) { f.addServiceAccount(testkit.Namespace, testkit.SAName, "new-uid", nil) }, reason: refusal.ReasonReviewRejected, reviewed: true},
		{name: "review authenticates someone else", kube: reviewAnswers(authv1.TokenReviewStatus{Authenticated: true,
			User: authv1.UserInfo{Username: "system:serviceaccount:apps:admin", UID: testkit.SAUID}, Audiences: []string{"vault"}}), reason: refusal.ReasonReviewMismatch, reviewed: true},
		{name: "review authenticates a user", kube: reviewAnswers(authv1.TokenReviewStatus{Authenticated: true,
			User: authv1.UserInfo{Username: "alice", UID: testkit.SAUID}, Audiences: []string{"vault"}}), reason: refusal.ReasonReviewMismatch, reviewed: true},
		{name: "review UID differs", kube: reviewAnswers(authv1.TokenReviewStatus{Authenticated: true,
			User: authv1.UserInfo{Username: "system:serviceaccount:apps:web", UID: "other"}, Audiences: []string{"vault"}}), reason: refusal.ReasonReviewMismatch, reviewed: true},
		{name: "review audiences lack the role's", kube: reviewAnswers(authv1.TokenReviewStatus{Authenticated: true,
			User: authv1.UserInfo{Username: "system:serviceaccount:apps:web", UID: testkit.SAUID}, Audiences: []string{"api"}}), reason: refusal.ReasonAudienceMismatch, reviewed: true},
		{name: "review status.error", kube: reviewAnswers(authv1.TokenReviewStatus{Error: "token has been invalidated"}), reason: refusal.ReasonReviewRejected, reviewed: true},
		{name: "review unauthenticated without error", kube: reviewAnswers(authv1.TokenReviewStatus{}), reason: refusal.ReasonReviewRejected, reviewed: true},
		{name: "self-review forbidden", config: map[string]any{"token_reviewer_jwt": ""}, kube: func(f *fakeKube) {
			f.setReviewerToken("")
			f.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
				f.reviews.Add(1)
				writeStatus(w, http.StatusForbidden, "tokenreviews.authentication.k8s.io is forbidden")
				return true
			})
		}, reason: refusal.ReasonReviewForbidden, reviewed: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := configured(t)
			token := refusalSetup{tc.config, tc.role, tc.claims, tc.key, tc.kube}.apply(t, e)
			before := e.kube.reviews.Load()
			resp, err := e.login(testRole, token)
			e.requireDenied(resp, err, tc.reason)
			if reviewed := e.kube.reviews.Load() > before; reviewed != tc.reviewed {
				t.Fatalf("TokenReview called: %v, want %v", reviewed, tc.reviewed)
			}
		})
	}
}

// reviewAnswers makes the fake answer every TokenReview with status.
func reviewAnswers(status authv1.TokenReviewStatus) func(f *fakeKube) {
	return func(f *fakeKube) {
		f.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
			if !strings.HasSuffix(r.URL.Path, "/tokenreviews") {
				return false
			}
			f.reviews.Add(1)
			writeJSON(w, http.StatusCreated, authv1.TokenReview{Status: status})
			return true
		})
	}
}

func TestLoginBadInput(t *testing.T) {
	e := configured(t)
	rsaNone := strings.Split(e.token(), ".")
	cases := []struct {
		name string
		data map[string]any
		want string
	}{
		{"no role", map[string]any{"jwt": e.token()}, "role: is required"},
		{"no jwt", map[string]any{"role": testRole}, "jwt: is required"},
		{"unknown role", map[string]any{"role": "nope", "jwt": e.token()}, `role: "nope" does not exist`},
		{"garbage jwt", map[string]any{"role": testRole, "jwt": "garbage"}, "jwt: is not a signed JWT"},
		{"claims not JSON", map[string]any{"role": testRole, "jwt": rsaNone[0] + "." + testkit.B64("not json") + "." + rsaNone[2]}, "jwt: claims are not a valid JSON object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.kube.reviews.Load()
			resp, err := e.do(logical.UpdateOperation, "login", tc.data)
			requireBadRequest(t, resp, err, tc.want)
			if e.kube.reviews.Load() != before {
				t.Fatal("bad input reached the TokenReview")
			}
		})
	}
}

// Well-formed tokens signed with an algorithm Kubernetes never uses are
// refused (403), with the algorithm in the log.
func TestLoginDisallowedAlgorithms(t *testing.T) {
	e := configured(t)
	payload := strings.Split(e.token(), ".")[1]
	for name, tok := range map[string]string{
		"none":  testkit.B64(`{"alg":"none","typ":"JWT"}`) + "." + payload + ".",
		"HS256": testkit.HMACToken(t),
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := e.login(testRole, tok)
			e.requireDenied(resp, err, refusal.ReasonAlgorithm)
			if !strings.Contains(e.logs.String(), `signing algorithm \"`+name+`\" is not allowed`) {
				t.Fatalf("log does not name the algorithm %s", name)
			}
			if e.kube.reviews.Load() != 0 {
				t.Fatal("a disallowed algorithm reached the TokenReview")
			}
		})
	}
}

func TestLoginUnconfigured(t *testing.T) {
	e := newTestEnv(t)
	e.writeRole(testRole, nil)
	_, err := e.login(testRole, e.token())
	if err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Fatalf("want a not-configured error, got %v", err)
	}
}

// Kubernetes being down, slow or refusing the reviewer is a fault, never a
// refusal: HTTP 500 with a generic message, since the login path is
// unauthenticated, and the details (which API, what went wrong, which
// permission is missing) in the log with the role and the client address.
func TestLoginKubernetesFaults(t *testing.T) {
	t.Run("unreachable", func(t *testing.T) {
		e := configured(t)
		e.kube.srv.Close()
		resp, err := e.login(testRole, e.token())
		e.requireKubeFault(resp, err, "is unreachable for the TokenReview", `"kind":"kubernetes_unreachable"`)
	})
	t.Run("timeout", func(t *testing.T) {
		e := newTestEnv(t)
		e.b.requestTimeout = 200 * time.Millisecond
		e.writeConfig(nil)
		e.writeRole(testRole, nil)
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		e.kube.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return true
		})
		resp, err := e.login(testRole, e.token())
		e.requireKubeFault(resp, err, "did not answer the TokenReview within 200ms", `"kind":"kubernetes_timeout"`)
	})
	t.Run("reviewer lacks permission", func(t *testing.T) {
		e := configured(t)
		e.kube.answerStatus(everyPath, http.StatusForbidden, "forbidden")
		resp, err := e.login(testRole, e.token())
		e.requireKubeFault(resp, err, "create on tokenreviews", `"kind":"kubernetes_forbidden"`)
	})
	t.Run("server error", func(t *testing.T) {
		e := configured(t)
		e.kube.answerStatus(everyPath, http.StatusInternalServerError, "etcd is down")
		resp, err := e.login(testRole, e.token())
		e.requireKubeFault(resp, err, "HTTP 500", "etcd is down")
	})
	t.Run("TLS verification", func(t *testing.T) {
		e := configured(t)
		// A CA that did not sign the fake's certificate.
		e.writeConfig(map[string]any{"kubernetes_ca_cert": testkit.Testdata(t, "signer.crt")})
		resp, err := e.login(testRole, e.token())
		e.requireKubeFault(resp, err, "failed TLS verification", "check kubernetes_ca_cert")
	})
	t.Run("namespace lookup forbidden", func(t *testing.T) {
		e := configured(t)
		e.writeRole(testRole, map[string]any{"bound_service_account_namespaces": "", "bound_service_account_namespace_selector": `{"matchLabels":{"a":"b"}}`})
		e.kube.answerStatus("/namespaces/", http.StatusForbidden, "namespaces is forbidden")
		resp, err := e.login(testRole, e.token())
		e.requireKubeFault(resp, err, "get on namespaces")
	})
}

func TestLoginAliasLookahead(t *testing.T) {
	e := configured(t)
	req := func(jwt string) (*logical.Response, error) {
		return e.b.HandleRequest(t.Context(), &logical.Request{
			Operation: logical.AliasLookaheadOperation, Path: "login", Storage: e.storage,
			Data: map[string]any{"role": testRole, "jwt": jwt}, Connection: &logical.Connection{RemoteAddr: "10.1.2.3"},
		})
	}
	resp, err := req(e.token())
	if err != nil || resp.Auth == nil || resp.Auth.Alias.Name != testkit.SAUID {
		t.Fatalf("lookahead: %v %#v", err, resp)
	}
	if n := e.kube.reviews.Load(); n != 0 {
		t.Fatalf("lookahead made %d TokenReviews", n)
	}
	wrong := testkit.SignJWT(t, e.signer, jose.RS256, testkit.Claims("other", testkit.SAName, testkit.SAUID, "vault"))
	resp, err = req(wrong)
	e.requireDenied(resp, err, refusal.ReasonNamespace)
}

func TestLoginResolveRole(t *testing.T) {
	e := configured(t)
	resolve := func(role string) (*logical.Response, error) {
		return e.b.HandleRequest(t.Context(), &logical.Request{
			Operation: logical.ResolveRoleOperation, Path: "login", Storage: e.storage,
			Data: map[string]any{"role": role, "jwt": "x"},
		})
	}
	resp, err := resolve("Web")
	if err != nil || resp.Data["role"] != testRole {
		t.Fatalf("resolve-role: %v %#v", err, resp)
	}
	resp, err = resolve("nope")
	requireBadRequest(t, resp, err, `role: "nope" does not exist`)
}

func TestLoginRenew(t *testing.T) {
	e := configured(t)
	e.writeRole(testRole, map[string]any{"token_ttl": "10m", "token_max_ttl": "1h"})
	resp, err := e.login(testRole, e.token())
	if err != nil || resp.IsError() {
		t.Fatalf("login: %v %#v", err, resp)
	}
	auth := resp.Auth
	renew := func() (*logical.Response, error) {
		auth.IssueTime = time.Now()
		return e.b.HandleRequest(t.Context(), &logical.Request{
			Operation: logical.RenewOperation, Path: "login", Storage: e.storage, Auth: auth,
		})
	}

	// TTLs come from the role as it is now.
	e.writeRole(testRole, map[string]any{"token_ttl": "15m"})
	r, err := renew()
	if err != nil || r.Auth.TTL != 15*time.Minute || r.Auth.MaxTTL != time.Hour {
		t.Fatalf("renew: %v %#v", err, r)
	}

	e.writeRole(testRole, map[string]any{"bound_service_account_names": "api"})
	if _, err := renew(); err == nil || !strings.HasPrefix(err.Error(), `renewal refused (service_account_name_not_bound)`) {
		t.Fatalf("renew after unbinding: %v", err)
	}

	e.mustDo(logical.DeleteOperation, "role/"+testRole, nil)
	if _, err := renew(); err == nil || !strings.Contains(err.Error(), `role "web" no longer exists`) {
		t.Fatalf("renew after delete: %v", err)
	}
}

func TestLoginRenewNamespaceSelector(t *testing.T) {
	e := configured(t)
	e.writeRole(testRole, map[string]any{"bound_service_account_namespaces": "", "bound_service_account_namespace_selector": `{"matchLabels":{"vault":"yes"}}`})
	e.kube.setNamespaceLabels(testkit.Namespace, map[string]string{"vault": "yes"})
	resp, err := e.login(testRole, e.token())
	if err != nil || resp.IsError() {
		t.Fatalf("login: %v %#v", err, resp)
	}
	renew := func() error {
		_, err := e.b.HandleRequest(t.Context(), &logical.Request{
			Operation: logical.RenewOperation, Path: "login", Storage: e.storage, Auth: resp.Auth,
		})
		return err
	}
	if err := renew(); err != nil {
		t.Fatalf("renew: %v", err)
	}
	e.kube.setNamespaceLabels(testkit.Namespace, map[string]string{"vault": "no"})
	if err := renew(); err == nil || !strings.HasPrefix(err.Error(), "renewal refused (namespace_not_bound)") {
		t.Fatalf("renew after relabel: %v", err)
	}
}

// refusalSetup is what a refusal case changes from the configured
// environment: config and role fields, the fake API server, the claims and
// the signing key of the token it then mints.
type refusalSetup struct {
	config, role map[string]any
	claims       func(c map[string]any)
	key          string // testdata signing key; default the trusted one
	kube         func(f *fakeKube)
}

// apply makes the changes to e and returns the token to present. A config
// value "signer.pub" stands for that testdata key's PEM.
func (s refusalSetup) apply(t *testing.T, e *testEnv) string {
	t.Helper()
	if s.config != nil {
		cfg := map[string]any{}
		for k, v := range s.config {
			if v == "signer.pub" {
				v = testkit.Testdata(t, "signer.pub")
			}
			cfg[k] = v
		}
		e.writeConfig(cfg)
	}
	if s.role != nil {
		e.writeRole(testRole, s.role)
	}
	if s.kube != nil {
		s.kube(e.kube)
	}
	claims := testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault")
	if s.claims != nil {
		s.claims(claims)
	}
	key := e.signer
	if s.key != "" {
		key = testkit.PrivateKey(t, s.key)
	}
	return testkit.SignJWT(t, key, jose.RS256, claims)
}
