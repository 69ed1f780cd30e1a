package diagnose

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	authv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/clusterkeys"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// testCACert is a self-signed CA certificate valid until notAfter.
func testCACert(t *testing.T, cn string, notAfter time.Time) *x509.Certificate {
	t.Helper()
	cert, _, _ := testkit.SelfSigned(t, testkit.CATemplate(t, cn, notAfter.Add(-10*365*24*time.Hour), notAfter))
	return cert
}

func TestInspectCA(t *testing.T) {
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	fine := testCACert(t, "cluster-ca", now.AddDate(5, 0, 0))
	soon := testCACert(t, "old-ca", now.Add(10*24*time.Hour))
	gone := testCACert(t, "gone-ca", now.Add(-time.Hour))
	for _, tc := range []struct {
		name   string
		certs  []*x509.Certificate
		err    error
		want   string
		detail string
	}{
		{"valid", []*x509.Certificate{fine}, nil, Passed, `"CN=cluster-ca", expires on 2035-06-01T12:00:00Z`},
		{"expires within 30 days", []*x509.Certificate{fine, soon}, nil, Warning, `"CN=old-ca" expires on 2030-06-11T12:00:00Z, in 10 days`},
		{"one of two expired", []*x509.Certificate{gone, fine}, nil, Warning, `"CN=gone-ca" expired`},
		{"all expired", []*x509.Certificate{gone}, nil, Failed, "every CA certificate"},
		{"system trust store", nil, nil, Skipped, "system trust store"},
		{"unreadable", nil, errors.New("the pod's CA file cannot be read"), Failed, "cannot be read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := CA(tc.certs, "kubernetes_ca_cert", tc.err, now)
			if r.Status != tc.want || !strings.Contains(r.Detail, tc.detail) {
				t.Fatalf("got %s: %s; want %s containing %q", r.Status, r.Detail, tc.want, tc.detail)
			}
			if r.Problem() != (r.Fix != "") {
				t.Fatalf("a problem comes with a fix and only a problem does: %+v", r)
			}
		})
	}
}

func TestInspectReviewerCredential(t *testing.T) {
	signer := testkit.PrivateKey(t, "signer.key")
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	token := func(claims map[string]any) string {
		claims["sub"] = "system:serviceaccount:vault-auth:reviewer"
		return testkit.SignJWT(t, signer, jose.RS256, claims)
	}
	for _, tc := range []struct {
		name, source, token string
		err                 error
		want, detail, fix   string
	}{
		{name: "fresh", source: credentialConfigured, want: Passed, detail: "expires on 2030-06-02T06:00:00Z, in 18h0m0s",
			token: token(map[string]any{"iat": now.Add(-6 * time.Hour).Unix(), "exp": now.Add(18 * time.Hour).Unix()})},
		{name: "last fifth of its life", source: credentialConfigured, want: Warning, detail: "in 4h0m0s",
			fix:   "kubectl create token reviewer -n vault-auth",
			token: token(map[string]any{"iat": now.Add(-20 * time.Hour).Unix(), "exp": now.Add(4 * time.Hour).Unix()})},
		{name: "no iat, a day left", source: credentialConfigured, want: Warning, detail: "expires on",
			token: token(map[string]any{"exp": now.Add(23 * time.Hour).Unix()})},
		{name: "no iat, days left", source: credentialConfigured, want: Passed, detail: "in 3 days",
			token: token(map[string]any{"exp": now.Add(72 * time.Hour).Unix()})},
		{name: "expired", source: credentialConfigured, want: Failed, detail: "expired on 2030-06-01T11:00:00Z (1h0m0s ago)",
			fix:   "write it as token_reviewer_jwt",
			token: token(map[string]any{"iat": now.Add(-25 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()})},
		{name: "expired pod token", source: credentialPodToken, want: Failed, detail: "the pod's service-account token /var/token",
			fix:   "kubelet",
			token: token(map[string]any{"iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()})},
		{name: "no exp", source: credentialConfigured, want: Passed, detail: "without an expiry",
			token: token(map[string]any{})},
		{name: "opaque", source: credentialConfigured, want: Skipped, detail: "not a JWT", token: "abcdef.0123456789abcdef"},
		{name: "unreadable", source: credentialPodToken, want: Failed, err: errors.New("reading the pod's service-account token: no such file"),
			detail: "no such file"},
		{name: "self review", source: credentialLoginJWT, want: Skipped, detail: "each login's own JWT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ReviewerCredential(tc.source, "/var/token", tc.token, tc.err, now)
			if r.Status != tc.want || !strings.Contains(r.Detail, tc.detail) || !strings.Contains(r.Fix, tc.fix) {
				t.Fatalf("got %s: %s (fix %q); want %s containing %q (fix %q)", r.Status, r.Detail, r.Fix, tc.want, tc.detail, tc.fix)
			}
			if tc.token != "" && strings.Contains(toJSON(t, r.Map()), tc.token) {
				t.Fatal("the result holds the token")
			}
		})
	}
}

func TestInspectClockSkew(t *testing.T) {
	vault := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		skew         time.Duration // API server's Date minus Vault's time
		want, detail string
	}{
		{0, Passed, "agree"},
		{-3 * time.Second, Passed, "ahead of"},
		{20 * time.Second, Warning, "behind"},
		{-20 * time.Second, Warning, "ahead of"},
		{2 * time.Minute, Failed, "token_not_yet_valid"},
		{-2 * time.Minute, Failed, "token_expired"},
	} {
		t.Run(tc.skew.String(), func(t *testing.T) {
			// The Date header has whole seconds, as HTTP dates do.
			r := ClockSkew(kube.Probe{VaultTime: vault, Date: vault.Add(tc.skew).Truncate(time.Second)})
			if r.Status != tc.want || !strings.Contains(r.Detail, tc.detail) {
				t.Fatalf("got %s: %s; want %s containing %q", r.Status, r.Detail, tc.want, tc.detail)
			}
		})
	}
	if r := ClockSkew(kube.Probe{VaultTime: vault}); r.Status != Skipped {
		t.Fatalf("without a Date header: %+v", r)
	}
}

func TestInspectIssuer(t *testing.T) {
	const cluster = "https://kubernetes.default.svc.cluster.local"
	for _, tc := range []struct {
		name       string
		cfg        Settings
		want, what string
	}{
		{"enforced and matching", Settings{Issuer: cluster, ExpectedIssuer: cluster}, Passed, "tokens must carry iss " + cluster},
		{"enforced, different", Settings{Issuer: "https://other", ExpectedIssuer: "https://other"}, Failed, "issuer_mismatch"},
		{"enforced default (legacy)", Settings{ExpectedIssuer: "kubernetes/serviceaccount"}, Warning, "only legacy Secret-based tokens"},
		{"not enforced, none set", Settings{DisableISSValidation: true}, Skipped, "issuer validation is off"},
		{"not enforced, matching", Settings{DisableISSValidation: true, Issuer: cluster}, Skipped, "not enforced"},
		{"not enforced, different", Settings{DisableISSValidation: true, Issuer: "https://other"}, Warning, "turning on issuer validation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Issuer(tc.cfg, kube.Discovery{Issuer: cluster})
			if r.Status != tc.want || !strings.Contains(r.Detail, tc.what) {
				t.Fatalf("got %s: %s; want %s containing %q", r.Status, r.Detail, tc.want, tc.what)
			}
			if r.Problem() && r.Fix != "write the config with issuer="+cluster {
				t.Fatalf("fix %q", r.Fix)
			}
		})
	}
}

func TestInspectPEMKeys(t *testing.T) {
	signer := testkit.PrivateKey(t, "signer.key").Public()
	other := testkit.PrivateKey(t, "other.key").Public()
	ec := testkit.PrivateKey(t, "ec-signer.key").Public()
	published := []kube.PublishedKey{{KID: "a", Key: signer}, {KID: "b", Key: ec}}
	for _, tc := range []struct {
		name       string
		configured []crypto.PublicKey
		want, what string
	}{
		{"same keys", []crypto.PublicKey{ec, signer}, Passed, "exactly the 2 key(s) the cluster publishes (kid a, b)"},
		{"one missing", []crypto.PublicKey{signer}, Failed, "(kid b)"},
		{"one extra", []crypto.PublicKey{signer, other, ec}, Warning, "entries [1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := PEMKeys(tc.configured, published)
			if r.Status != tc.want || !strings.Contains(r.Detail, tc.what) {
				t.Fatalf("got %s: %s; want %s containing %q", r.Status, r.Detail, tc.want, tc.what)
			}
		})
	}
}

func TestInspectPermissionFix(t *testing.T) {
	denied := authzv1.SubjectAccessReviewStatus{Allowed: false}
	for _, tc := range []struct {
		name string
		who  reviewerAccount
		want string
	}{
		{"service account", reviewerAccount{username: "system:serviceaccount:ns1:rev", namespace: "ns1", saName: "rev"},
			"kubectl create clusterrolebinding rev-auth-delegator --clusterrole=system:auth-delegator --serviceaccount=ns1:rev"},
		{"user", reviewerAccount{username: "vault@example.com"},
			"kubectl create clusterrolebinding vault-reviewer-auth-delegator --clusterrole=system:auth-delegator --user=vault@example.com"},
		{"unknown", reviewerAccount{identityUnavailable: true}, "--serviceaccount=<namespace>:<name>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Permission(permTokenReviews, denied, nil, tc.who)
			if r.Status != Failed || !strings.HasSuffix(r.Fix, tc.want) || !strings.Contains(r.Detail, "every login fails") {
				t.Fatalf("got %+v; want a fix ending %q", r, tc.want)
			}
		})
	}
	allowed := Permission(permNamespaces, authzv1.SubjectAccessReviewStatus{Allowed: true}, nil, reviewerAccount{username: "u"})
	if allowed.Status != Passed || allowed.Fix != "" {
		t.Fatalf("allowed: %+v", allowed)
	}
}

func TestInspectReviewerIdentity(t *testing.T) {
	r, who := ReviewerIdentity(authv1.UserInfo{Username: "system:serviceaccount:ns1:rev"}, nil, kube.StaticToken("x"))
	if r.Status != Passed || who.namespace != "ns1" || who.saName != "rev" {
		t.Fatalf("got %+v %+v", r, who)
	}
	r, who = ReviewerIdentity(authv1.UserInfo{}, &kube.APIError{Status: 401, Err: errors.New("Unauthorized")}, kube.StaticToken("x"))
	if r.Status != Failed || !who.credentialRejected {
		t.Fatalf("401: %+v %+v", r, who)
	}
	r, who = ReviewerIdentity(authv1.UserInfo{}, &kube.APIError{Status: 403, Err: errors.New("forbidden")}, kube.StaticToken("x"))
	if r.Status != Passed || who.credentialRejected {
		t.Fatalf("403: %+v %+v", r, who)
	}
}

func TestVerdict(t *testing.T) {
	ok := []Result{{Name: "a", Status: Passed}, {Name: "b", Status: Skipped}, {Name: "c", Status: Passed}}
	if got, want := Verdict(ok), "ok: 2 checks passed, 1 skipped"; got != want {
		t.Fatalf("verdict %q, want %q", got, want)
	}
	bad := append(ok, Result{Name: "d", Status: Failed}, Result{Name: "e", Status: Warning})
	if got, want := Verdict(bad), "2 problems: d (failed), e (warning); see each check's fix"; got != want {
		t.Fatalf("verdict %q, want %q", got, want)
	}
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDiscoveryUnavailable(t *testing.T) {
	notFound := &kube.APIError{Status: http.StatusNotFound, Err: errors.New("not found")}
	forbidden := &kube.APIError{Status: http.StatusForbidden, Err: errors.New("forbidden")}
	unauthorized := &kube.APIError{Status: http.StatusUnauthorized, Err: errors.New("Unauthorized")}
	for _, tc := range []struct {
		name string
		err  error
		cred kube.Credential
		want string
	}{
		{"not served", notFound, kube.StaticToken("x"), "is not an https URL"},
		{"refused to the reviewer", forbidden, kube.StaticToken("x"), "to token_reviewer_jwt (HTTP 403), so there is nothing to compare with; ClusterRole system:service-account-issuer-discovery"},
		{"refused without credentials", forbidden, nil, "to a caller without credentials (HTTP 403)"},
		{"reviewer not accepted", unauthorized, kube.StaticToken("x"), "does not accept token_reviewer_jwt (HTTP 401)"},
		{"unauthorized without credentials", unauthorized, nil, "to a caller without credentials (HTTP 401)"},
		{"other", errors.New("connection reset"), kube.StaticToken("x"), "could not read the key set: connection reset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := discoveryUnavailable("the key set", tc.err, tc.cred); !strings.Contains(got, tc.want) {
				t.Fatalf("%q does not contain %q", got, tc.want)
			}
		})
	}
}

func TestInspectClusterKeys(t *testing.T) {
	signer := testkit.PrivateKey(t, "signer.key").Public()
	keys := []kube.PublishedKey{{KID: "k1", Key: signer}}
	disc := kube.Discovery{Issuer: "https://issuer.example"}
	forbidden := &kube.APIError{Status: http.StatusForbidden, Err: errors.New("forbidden")}
	notFound := &kube.APIError{Status: http.StatusNotFound, Err: errors.New("not found")}
	who := reviewerAccount{username: "system:serviceaccount:ns1:rev", namespace: "ns1", saName: "rev"}
	fetched := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	fresh := clusterkeys.KeysStatus{Loaded: true, FetchedAt: fetched, Age: 90 * time.Second, MaxAge: 15 * time.Minute, Fresh: true, Kids: []string{"k1"}}
	old := clusterkeys.KeysStatus{Loaded: true, FetchedAt: fetched, Age: 20 * time.Minute, MaxAge: 15 * time.Minute,
		LastErr: errors.New("connection refused"), Kids: []string{"k1"}}
	refused := clusterkeys.KeysStatus{Loaded: true, FetchedAt: fetched, Age: time.Minute, MaxAge: 15 * time.Minute, Denied: true,
		LastErr: forbidden, Kids: []string{"k1"}}
	for _, tc := range []struct {
		name            string
		cfg             Settings
		self            bool
		discErr, keyErr error
		held            clusterkeys.KeysStatus
		want, detail    string
		fix             string
		data            map[string]any // a subset of the answer's data
	}{
		{name: "both from the cluster", want: Passed,
			detail: "with the issuer the cluster announces (https://issuer.example) and the 1 key(s) it publishes (kid k1)",
			data:   map[string]any{"key_set_loaded": false, "key_set_max_age_seconds": int64(900)}},
		{name: "keys held, fresh", held: fresh, want: Passed, detail: "verify young tokens locally",
			data: map[string]any{"key_set_loaded": true, "key_set_age_seconds": int64(90), "key_set_fresh": true,
				"key_set_fetched_at": "2030-01-02T03:04:05Z", "key_set_max_age_seconds": int64(900)}},
		{name: "keys held, stale", held: old, want: Warning,
			detail: "the plugin's copy of the keys is 20m0s old, over 15m0s, and refreshing it failed: connection refused: until a refresh succeeds they review every token",
			fix:    "the next hybrid login refreshes the keys",
			data:   map[string]any{"key_set_age_seconds": int64(1200), "key_set_fresh": false, "key_set_last_refresh_error": "connection refused"}},
		{name: "keys held, refresh refused", held: refused, want: Warning, detail: "had a refresh refused the credential since it was fetched",
			data: map[string]any{"key_set_age_seconds": int64(60), "key_set_fresh": false}},
		{name: "issuer configured", cfg: Settings{Issuer: "https://mine"}, discErr: forbidden, want: Passed,
			detail: "the configured issuer and the 1 key(s)"},
		{name: "keys configured", cfg: Settings{PEMKeys: true}, keyErr: forbidden, want: Passed,
			detail: "(https://issuer.example) and pem_keys"},
		{name: "keys configured, the held set is not used", cfg: Settings{PEMKeys: true}, held: old, want: Passed,
			detail: "(https://issuer.example) and pem_keys"},
		{name: "discovery refused", discErr: forbidden, want: Warning, detail: "OIDC discovery document",
			fix: "kubectl create clusterrolebinding rev-issuer-discovery --clusterrole=system:service-account-issuer-discovery --serviceaccount=ns1:rev"},
		{name: "keys refused, and so was the held set's refresh", keyErr: forbidden, held: refused, want: Warning,
			detail: "HTTP 403: forbidden; they review every token as cached does", fix: "kubectl create clusterrolebinding rev-issuer-discovery",
			data: map[string]any{"key_set_fresh": false}},
		{name: "keys not published", keyErr: notFound, want: Warning, detail: "key set", fix: "review_mode=cached"},
		{name: "no credential", self: true, want: Warning, detail: "review every token", fix: "set token_reviewer_jwt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ClusterKeys(KeysObserved{HybridRoles: []string{"fast"}, Settings: tc.cfg, SelfReview: tc.self, Discovery: disc,
				DiscoveryErr: tc.discErr, Keys: keys, KeysErr: tc.keyErr, Reviewer: who, Held: tc.held})
			if r.Status != tc.want || !strings.Contains(r.Detail, tc.detail) || !strings.Contains(r.Fix, tc.fix) {
				t.Fatalf("got %s: %s (fix %q); want %s containing %q (fix %q)", r.Status, r.Detail, r.Fix, tc.want, tc.detail, tc.fix)
			}
			if r.Problem() && r.Fix == "" {
				t.Fatalf("a %s without a fix", r.Status)
			}
			for k, v := range tc.data {
				if !reflect.DeepEqual(r.Data[k], v) {
					t.Fatalf("data[%s] = %#v, want %#v (data %v)", k, r.Data[k], v, r.Data)
				}
			}
			if tc.cfg.PEMKeys {
				if _, ok := r.Data["key_set_loaded"]; ok {
					t.Fatalf("with pem_keys the key set's age is not reported: %v", r.Data)
				}
			}
		})
	}
}
