package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// review_mode=local on a Vault that cannot reach the API server at all:
// kubernetes_host is an address where nothing answers and there is no
// reviewer credential, while jwks_url is the real API server's
// /openid/v1/jwks, which that cluster publishes to anonymous readers (the
// binding the Kubernetes documentation gives for OIDC discovery). Tokens the
// API server minted for "vault" log in with the identity they name, a forged
// one and one for another audience are refused, and a token past
// local_max_token_age is refused; the API server's own request counter shows
// that no TokenReview was made, and the plugin's metrics have no TokenReview
// sample. config/check says the key set at jwks_url is readable without a
// credential.
func TestLocalModeWithoutReviewer(t *testing.T) {
	t.Parallel()
	const maxAge = 12 * time.Second
	c := startCluster(t, otherIssuer(t))
	w := c.Mirror(t, stk.NewWorkload(t, "local", nil))
	publishKeysAnonymously(t, c)

	m := newMount(t)
	expectOK(t, root(t, http.MethodPost, "auth/"+m.path+"/config", map[string]any{
		"kubernetes_host":      "https://127.0.0.1:" + strconv.Itoa(closedPort(t)),
		"kubernetes_ca_cert":   c.CA,
		"disable_local_ca_jwt": true,
		"issuer":               c.Issuer,
		"jwks_url":             c.Host + "/openid/v1/jwks",
	}))
	m.bindRole(t, "local", w, map[string]any{"review_mode": "local", "local_max_token_age": maxAge.String()})
	reviewsBefore := apiserverTokenReviews(t, c)

	tok := clusterToken(t, c, w)
	minted := time.Now()
	for range 2 {
		md := m.mustLogin(t, "local", tok).StringMap("metadata")
		if md["service_account_uid"] != string(w.SA.UID) || md["service_account_name"] != w.SA.Name {
			t.Fatalf("metadata %v, want the service account %s/%s (%s)", md, w.Namespace, w.SA.Name, w.SA.UID)
		}
	}
	m.mustLogin(t, "local", clusterToken(t, c, w))
	other, err := c.RequestToken(realstack.KubeCtx(t), w.Namespace, w.SA.Name, realstack.TokenOptions{Audiences: []string{"not-vault"}})
	if err != nil {
		t.Fatal(err)
	}
	realstack.ExpectDenied(t, m.login(t, "local", other))
	realstack.ExpectDenied(t, m.login(t, "local", forgeToken(t, tok)))
	// A token of the suite's own cluster (another issuer, another key).
	realstack.ExpectDenied(t, m.login(t, "local", vaultToken(t, stk.NewWorkload(t, "elsewhere", nil))))

	check := m.configCheck(t).checks["jwks_url"]
	if check.Str("status") != "passed" || !strings.Contains(check.Str("detail"), "no credential") {
		t.Fatalf("config/check's jwks_url: %v", check)
	}

	sleepUntil(minted.Add(maxAge + time.Second))
	realstack.ExpectDenied(t, m.login(t, "local", tok))
	realstack.WaitForLog(t, stk.VaultLogPath(), 10*time.Second, "login refused", "role=local", "reason=token_too_old")

	if after := apiserverTokenReviews(t, c); after != reviewsBefore {
		t.Fatalf("the API server counted %v TokenReviews during the test, want none", after-reviewsBefore)
	}
	if n := sumSamples(t, scrape(t, m.path, stk.Vault.Token), "kubeauth_tokenreview_duration_seconds_count{", ""); n != 0 {
		t.Fatalf("the plugin's metrics count %v TokenReviews", n)
	}
}

// publishKeysAnonymously binds system:unauthenticated to the
// issuer-discovery role in cluster c and waits until its key set is served
// without a credential.
func publishKeysAnonymously(t *testing.T, c *realstack.Cluster) {
	t.Helper()
	if _, err := c.Kube.RbacV1().ClusterRoleBindings().Create(realstack.KubeCtx(t), &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "anonymous-issuer-discovery"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: issuerDiscovery},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "Group", Name: "system:unauthenticated"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(c.CA))
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(c.Host + "/openid/v1/jwks")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the key set of %s is not served anonymously after 30 s: %v %v", c.Host, resp, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// closedPort is a local TCP port where nothing listens (a listener's, once
// closed): a kubernetes_host Vault cannot reach.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

// apiserverTokenReviews is how many TokenReviews cluster c's API server has
// answered, by its own request counter.
func apiserverTokenReviews(t *testing.T, c *realstack.Cluster) float64 {
	t.Helper()
	body, err := c.Kube.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(realstack.KubeCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return sumSamples(t, string(body), "apiserver_request_total{", `resource="tokenreviews"`)
}

// sumSamples adds up the values of an exposition's samples whose line
// starts with prefix and holds label.
func sumSamples(t *testing.T, body, prefix, label string) float64 {
	t.Helper()
	var n float64
	for line := range strings.SplitSeq(body, "\n") {
		if !strings.HasPrefix(line, prefix) || !strings.Contains(line, label) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		n += v
	}
	return n
}

// jwks_url on the API server's own origin is read with the reviewer
// credential (the real API server refuses its key set to anonymous readers
// here): a local role logs in, one with a namespace selector looks the
// namespace up with the reviewer, and no TokenReview is made. The stored
// reviewer JWT stays where it was when a patch moves jwks_url alone.
func TestLocalModeJWKSURLWithReviewer(t *testing.T) {
	t.Parallel()
	m := newMount(t)
	m.configure(t, map[string]any{"issuer": stk.SAIssuer, "jwks_url": stk.KubeHost + "/openid/v1/jwks"})
	w := stk.NewWorkload(t, "localrev", map[string]string{"local-mode": "yes"})
	m.bindRole(t, "local", w, map[string]any{"review_mode": "local", "local_max_token_age": "10m"})
	m.writeRole(t, "local-selector", map[string]any{
		"bound_service_account_names":              w.SA.Name,
		"bound_service_account_namespace_selector": `{"matchLabels":{"local-mode":"yes"}}`,
		"audience":            "vault",
		"review_mode":         "local",
		"local_max_token_age": "10m",
	})
	jwt := vaultToken(t, w)
	m.mustLogin(t, "local", jwt)
	m.mustLogin(t, "local-selector", jwt)
	expectOK(t, root(t, http.MethodPatch, "auth/"+m.path+"/config", map[string]any{"jwks_url": strings.Replace(stk.KubeHost, "127.0.0.1", "localhost", 1) + "/openid/v1/jwks"}))
	// The same API server under another name is another origin: read
	// without the reviewer JWT, which this API server refuses (or whose
	// certificate may not name it). Either way the check fails and says
	// the read carried no credential.
	if check := m.configCheck(t).checks["jwks_url"]; check.Str("status") != "failed" || !strings.Contains(check.Str("detail"), "no credential") {
		t.Fatalf("config/check's jwks_url after moving it to another origin: %v", check)
	}
	if n := sumSamples(t, scrape(t, m.path, stk.Vault.Token), "kubeauth_tokenreview_duration_seconds_count{", ""); n != 0 {
		t.Fatalf("the plugin's metrics count %v TokenReviews", n)
	}
}
