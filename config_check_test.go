package kubeauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"math/big"
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
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             notAfter.Add(-10 * 365 * 24 * time.Hour),
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
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
		{"valid", []*x509.Certificate{fine}, nil, checkPassed, `"CN=cluster-ca", expires on 2035-06-01T12:00:00Z`},
		{"expires within 30 days", []*x509.Certificate{fine, soon}, nil, checkWarning, `"CN=old-ca" expires on 2030-06-11T12:00:00Z, in 10 days`},
		{"one of two expired", []*x509.Certificate{gone, fine}, nil, checkWarning, `"CN=gone-ca" expired`},
		{"all expired", []*x509.Certificate{gone}, nil, checkFailed, "every CA certificate"},
		{"system trust store", nil, nil, checkSkipped, "system trust store"},
		{"unreadable", nil, errors.New("the pod's CA file cannot be read"), checkFailed, "cannot be read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := inspectCA(tc.certs, "kubernetes_ca_cert", tc.err, now)
			if r.status != tc.want || !strings.Contains(r.detail, tc.detail) {
				t.Fatalf("got %s: %s; want %s containing %q", r.status, r.detail, tc.want, tc.detail)
			}
			if r.problem() != (r.fix != "") {
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
		{name: "fresh", source: credentialConfigured, want: checkPassed, detail: "expires on 2030-06-02T06:00:00Z, in 18h0m0s",
			token: token(map[string]any{"iat": now.Add(-6 * time.Hour).Unix(), "exp": now.Add(18 * time.Hour).Unix()})},
		{name: "last fifth of its life", source: credentialConfigured, want: checkWarning, detail: "in 4h0m0s",
			fix:   "kubectl create token reviewer -n vault-auth",
			token: token(map[string]any{"iat": now.Add(-20 * time.Hour).Unix(), "exp": now.Add(4 * time.Hour).Unix()})},
		{name: "no iat, a day left", source: credentialConfigured, want: checkWarning, detail: "expires on",
			token: token(map[string]any{"exp": now.Add(23 * time.Hour).Unix()})},
		{name: "no iat, days left", source: credentialConfigured, want: checkPassed, detail: "in 3 days",
			token: token(map[string]any{"exp": now.Add(72 * time.Hour).Unix()})},
		{name: "expired", source: credentialConfigured, want: checkFailed, detail: "expired on 2030-06-01T11:00:00Z (1h0m0s ago)",
			fix:   "write it as token_reviewer_jwt",
			token: token(map[string]any{"iat": now.Add(-25 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()})},
		{name: "expired pod token", source: credentialPodToken, want: checkFailed, detail: "the pod's service-account token /var/token",
			fix:   "kubelet",
			token: token(map[string]any{"iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()})},
		{name: "no exp", source: credentialConfigured, want: checkPassed, detail: "without an expiry",
			token: token(map[string]any{})},
		{name: "opaque", source: credentialConfigured, want: checkSkipped, detail: "not a JWT", token: "abcdef.0123456789abcdef"},
		{name: "unreadable", source: credentialPodToken, want: checkFailed, err: errors.New("reading the pod's service-account token: no such file"),
			detail: "no such file"},
		{name: "self review", source: credentialLoginJWT, want: checkSkipped, detail: "each login's own JWT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := inspectReviewerCredential(tc.source, "/var/token", tc.token, tc.err, now)
			if r.status != tc.want || !strings.Contains(r.detail, tc.detail) || !strings.Contains(r.fix, tc.fix) {
				t.Fatalf("got %s: %s (fix %q); want %s containing %q (fix %q)", r.status, r.detail, r.fix, tc.want, tc.detail, tc.fix)
			}
			if tc.token != "" && strings.Contains(toJSON(t, r.toMap()), tc.token) {
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
		{0, checkPassed, "agree"},
		{-3 * time.Second, checkPassed, "ahead of"},
		{20 * time.Second, checkWarning, "behind"},
		{-20 * time.Second, checkWarning, "ahead of"},
		{2 * time.Minute, checkFailed, "token_not_yet_valid"},
		{-2 * time.Minute, checkFailed, "token_expired"},
	} {
		t.Run(tc.skew.String(), func(t *testing.T) {
			// The Date header has whole seconds, as HTTP dates do.
			r := inspectClockSkew(kube.Probe{VaultTime: vault, Date: vault.Add(tc.skew).Truncate(time.Second)})
			if r.status != tc.want || !strings.Contains(r.detail, tc.detail) {
				t.Fatalf("got %s: %s; want %s containing %q", r.status, r.detail, tc.want, tc.detail)
			}
		})
	}
	if r := inspectClockSkew(kube.Probe{VaultTime: vault}); r.status != checkSkipped {
		t.Fatalf("without a Date header: %+v", r)
	}
}

func TestInspectIssuer(t *testing.T) {
	const cluster = "https://kubernetes.default.svc.cluster.local"
	for _, tc := range []struct {
		name       string
		cfg        kubeConfig
		want, what string
	}{
		{"enforced and matching", kubeConfig{Issuer: cluster}, checkPassed, "tokens must carry iss " + cluster},
		{"enforced, different", kubeConfig{Issuer: "https://other"}, checkFailed, "issuer_mismatch"},
		{"enforced default (legacy)", kubeConfig{}, checkWarning, "only legacy Secret-based tokens"},
		{"not enforced, none set", kubeConfig{DisableISSValidation: true}, checkSkipped, "issuer validation is off"},
		{"not enforced, matching", kubeConfig{DisableISSValidation: true, Issuer: cluster}, checkSkipped, "not enforced"},
		{"not enforced, different", kubeConfig{DisableISSValidation: true, Issuer: "https://other"}, checkWarning, "turning on issuer validation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := inspectIssuer(&tc.cfg, kube.Discovery{Issuer: cluster})
			if r.status != tc.want || !strings.Contains(r.detail, tc.what) {
				t.Fatalf("got %s: %s; want %s containing %q", r.status, r.detail, tc.want, tc.what)
			}
			if r.problem() && r.fix != "write the config with issuer="+cluster {
				t.Fatalf("fix %q", r.fix)
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
		{"same keys", []crypto.PublicKey{ec, signer}, checkPassed, "exactly the 2 key(s) the cluster publishes (kid a, b)"},
		{"one missing", []crypto.PublicKey{signer}, checkFailed, "(kid b)"},
		{"one extra", []crypto.PublicKey{signer, other, ec}, checkWarning, "entries [1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := inspectPEMKeys(tc.configured, published)
			if r.status != tc.want || !strings.Contains(r.detail, tc.what) {
				t.Fatalf("got %s: %s; want %s containing %q", r.status, r.detail, tc.want, tc.what)
			}
		})
	}
}

func TestInspectPermissionFix(t *testing.T) {
	denied := authzv1.SubjectAccessReviewStatus{Allowed: false}
	for _, tc := range []struct {
		name string
		who  reviewer
		want string
	}{
		{"service account", reviewer{username: "system:serviceaccount:ns1:rev", namespace: "ns1", saName: "rev"},
			"kubectl create clusterrolebinding rev-auth-delegator --clusterrole=system:auth-delegator --serviceaccount=ns1:rev"},
		{"user", reviewer{username: "vault@example.com"},
			"kubectl create clusterrolebinding vault-reviewer-auth-delegator --clusterrole=system:auth-delegator --user=vault@example.com"},
		{"unknown", reviewer{identityUnavailable: true}, "--serviceaccount=<namespace>:<name>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := inspectPermission(permTokenReviews, denied, nil, tc.who)
			if r.status != checkFailed || !strings.HasSuffix(r.fix, tc.want) || !strings.Contains(r.detail, "every login fails") {
				t.Fatalf("got %+v; want a fix ending %q", r, tc.want)
			}
		})
	}
	allowed := inspectPermission(permNamespaces, authzv1.SubjectAccessReviewStatus{Allowed: true}, nil, reviewer{username: "u"})
	if allowed.status != checkPassed || allowed.fix != "" {
		t.Fatalf("allowed: %+v", allowed)
	}
}

func TestInspectReviewerIdentity(t *testing.T) {
	r, who := inspectReviewerIdentity(authv1.UserInfo{Username: "system:serviceaccount:ns1:rev"}, nil, kube.StaticToken("x"))
	if r.status != checkPassed || who.namespace != "ns1" || who.saName != "rev" {
		t.Fatalf("got %+v %+v", r, who)
	}
	r, who = inspectReviewerIdentity(authv1.UserInfo{}, &kube.APIError{Status: 401, Err: errors.New("Unauthorized")}, kube.StaticToken("x"))
	if r.status != checkFailed || !who.credentialRejected {
		t.Fatalf("401: %+v %+v", r, who)
	}
	r, who = inspectReviewerIdentity(authv1.UserInfo{}, &kube.APIError{Status: 403, Err: errors.New("forbidden")}, kube.StaticToken("x"))
	if r.status != checkPassed || who.credentialRejected {
		t.Fatalf("403: %+v %+v", r, who)
	}
}

func TestVerdict(t *testing.T) {
	ok := []checkResult{{name: "a", status: checkPassed}, {name: "b", status: checkSkipped}, {name: "c", status: checkPassed}}
	if got, want := verdict(ok), "ok: 2 checks passed, 1 skipped"; got != want {
		t.Fatalf("verdict %q, want %q", got, want)
	}
	bad := append(ok, checkResult{name: "d", status: checkFailed}, checkResult{name: "e", status: checkWarning})
	if got, want := verdict(bad), "2 problems: d (failed), e (warning); see each check's fix"; got != want {
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
	for _, tc := range []struct {
		name string
		err  error
		cred kube.Credential
		want string
	}{
		{"not served", notFound, kube.StaticToken("x"), "is not an https URL"},
		{"refused to the reviewer", forbidden, kube.StaticToken("x"), "to token_reviewer_jwt (HTTP 403), so there is nothing to compare with; ClusterRole system:service-account-issuer-discovery"},
		{"refused without credentials", forbidden, nil, "to a caller without credentials (HTTP 403)"},
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
	who := reviewer{username: "system:serviceaccount:ns1:rev", namespace: "ns1", saName: "rev"}
	fetched := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	fresh := clusterkeys.KeysStatus{Loaded: true, FetchedAt: fetched, Age: 90 * time.Second, MaxAge: 15 * time.Minute, Fresh: true, Kids: []string{"k1"}}
	old := clusterkeys.KeysStatus{Loaded: true, FetchedAt: fetched, Age: 20 * time.Minute, MaxAge: 15 * time.Minute,
		LastErr: errors.New("connection refused"), Kids: []string{"k1"}}
	refused := clusterkeys.KeysStatus{Loaded: true, FetchedAt: fetched, Age: time.Minute, MaxAge: 15 * time.Minute, Denied: true,
		LastErr: forbidden, Kids: []string{"k1"}}
	for _, tc := range []struct {
		name            string
		cfg             kubeConfig
		self            bool
		discErr, keyErr error
		held            clusterkeys.KeysStatus
		want, detail    string
		fix             string
		data            map[string]any // a subset of the answer's data
	}{
		{name: "both from the cluster", want: checkPassed,
			detail: "with the issuer the cluster announces (https://issuer.example) and the 1 key(s) it publishes (kid k1)",
			data:   map[string]any{"key_set_loaded": false, "key_set_max_age_seconds": int64(900)}},
		{name: "keys held, fresh", held: fresh, want: checkPassed, detail: "verify young tokens locally",
			data: map[string]any{"key_set_loaded": true, "key_set_age_seconds": int64(90), "key_set_fresh": true,
				"key_set_fetched_at": "2030-01-02T03:04:05Z", "key_set_max_age_seconds": int64(900)}},
		{name: "keys held, stale", held: old, want: checkWarning,
			detail: "the plugin's copy of the keys is 20m0s old, over 15m0s, and refreshing it failed: connection refused: until a refresh succeeds they review every token",
			fix:    "the next hybrid login refreshes the keys",
			data:   map[string]any{"key_set_age_seconds": int64(1200), "key_set_fresh": false, "key_set_last_refresh_error": "connection refused"}},
		{name: "keys held, refresh refused", held: refused, want: checkWarning, detail: "had a refresh refused the credential since it was fetched",
			data: map[string]any{"key_set_age_seconds": int64(60), "key_set_fresh": false}},
		{name: "issuer configured", cfg: kubeConfig{Issuer: "https://mine"}, discErr: forbidden, want: checkPassed,
			detail: "the configured issuer and the 1 key(s)"},
		{name: "keys configured", cfg: kubeConfig{PEMKeys: []string{"x"}}, keyErr: forbidden, want: checkPassed,
			detail: "(https://issuer.example) and pem_keys"},
		{name: "keys configured, the held set is not used", cfg: kubeConfig{PEMKeys: []string{"x"}}, held: old, want: checkPassed,
			detail: "(https://issuer.example) and pem_keys"},
		{name: "discovery refused", discErr: forbidden, want: checkWarning, detail: "OIDC discovery document",
			fix: "kubectl create clusterrolebinding rev-issuer-discovery --clusterrole=system:service-account-issuer-discovery --serviceaccount=ns1:rev"},
		{name: "keys refused, and so was the held set's refresh", keyErr: forbidden, held: refused, want: checkWarning,
			detail: "HTTP 403: forbidden; they review every token as cached does", fix: "kubectl create clusterrolebinding rev-issuer-discovery",
			data: map[string]any{"key_set_fresh": false}},
		{name: "keys not published", keyErr: notFound, want: checkWarning, detail: "key set", fix: "review_mode=cached"},
		{name: "no credential", self: true, want: checkWarning, detail: "review every token", fix: "set token_reviewer_jwt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := inspectClusterKeys([]string{"fast"}, &tc.cfg, tc.self, disc, tc.discErr, keys, tc.keyErr, who, tc.held)
			if r.status != tc.want || !strings.Contains(r.detail, tc.detail) || !strings.Contains(r.fix, tc.fix) {
				t.Fatalf("got %s: %s (fix %q); want %s containing %q (fix %q)", r.status, r.detail, r.fix, tc.want, tc.detail, tc.fix)
			}
			if r.problem() && r.fix == "" {
				t.Fatalf("a %s without a fix", r.status)
			}
			for k, v := range tc.data {
				if !reflect.DeepEqual(r.data[k], v) {
					t.Fatalf("data[%s] = %#v, want %#v (data %v)", k, r.data[k], v, r.data)
				}
			}
			if len(tc.cfg.PEMKeys) > 0 {
				if _, ok := r.data["key_set_loaded"]; ok {
					t.Fatalf("with pem_keys the key set's age is not reported: %v", r.data)
				}
			}
		})
	}
}
