package e2e

import (
	"crypto/rsa"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// issuerDiscovery is the ClusterRoleBinding every cluster starts with that
// lets every service account (the reviewer too) read the issuer discovery
// document and the key set.
const issuerDiscovery = "system:service-account-issuer-discovery"

// A hybrid role whose reviewer loses the discovery permission (the default
// binding deleted, on a second cluster of the test's own so that the
// suite's cluster keeps it): once a refresh of the keys is answered 403,
// young tokens log in through a TokenReview instead of on the plugin's
// old copy of the keys, config/check says so, and once the binding is
// back the next login refreshes the keys and verifies locally again. A
// token without kid is reviewed rather than refused. The metrics show each
// step: the key refreshes by result and the TokenReviews made.
func TestHybridKeysRefusedAreReviewed(t *testing.T) {
	t.Parallel()
	c := startCluster(t, otherIssuer(t))
	w := c.Mirror(t, stk.NewWorkload(t, "app", nil))
	m := newMount(t)
	expectOK(t, root(t, http.MethodPost, "auth/"+m.path+"/config", c.ReviewerConfig(nil)))
	m.bindRole(t, "fast", w, map[string]any{"review_mode": "hybrid"})
	counts := func() (reviews, refreshed, refreshFailed float64) {
		body := scrape(t, m.path, stk.Vault.Token)
		return sampleValue(t, body, `kubeauth_tokenreview_duration_seconds_count{cluster="default",result="authenticated"}`),
			sampleValue(t, body, `kubeauth_key_refreshes_total{cluster="default",result="success"}`),
			sampleValue(t, body, `kubeauth_key_refreshes_total{cluster="default",result="failure"}`)
	}
	requireCounts := func(what string, reviews, refreshed, refreshFailed float64) {
		t.Helper()
		if r, s, f := counts(); r != reviews || s != refreshed || f != refreshFailed {
			t.Fatalf("%s: %v TokenReviews, %v key refreshes and %v failed ones; want %v, %v and %v",
				what, r, s, f, reviews, refreshed, refreshFailed)
		}
	}

	m.mustLogin(t, "fast", clusterToken(t, c, w))
	keysFetched := time.Now()
	requireCounts("a young token, verified locally", 0, 1, 0)
	m.mustLogin(t, "fast", resign(t, clusterToken(t, c, w), c.SAKey, ""))
	requireCounts("a young token without kid, reviewed", 1, 1, 0)

	binding, err := c.Kube.RbacV1().ClusterRoleBindings().Get(realstack.KubeCtx(t), issuerDiscovery, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Kube.RbacV1().ClusterRoleBindings().Delete(realstack.KubeCtx(t), issuerDiscovery, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	reviewer := reviewerClient(t, c.Host, c.CA, c.ReviewerJWT)
	waitKeySetForbidden(t, reviewer, true)

	// A made-up kid makes the plugin refresh the keys (once the 5 s
	// throttle since the first fetch allows): refused. The API server
	// then refuses the token too, in the review.
	sleepUntil(keysFetched.Add(6 * time.Second))
	expectStatus(t, m.login(t, "fast", resign(t, clusterToken(t, c, w), c.SAKey, "made-up")), http.StatusForbidden)
	refusedAt := time.Now()
	_, _, failed := counts()
	if failed < 1 {
		t.Fatalf("no failed key refresh after a made-up kid")
	}
	for i := range 3 {
		r0, _, _ := counts()
		m.mustLogin(t, "fast", clusterToken(t, c, w))
		if r, _, _ := counts(); r != r0+1 {
			t.Fatalf("young token %d after the refused refresh: %v TokenReviews, want %v", i, r, r0+1)
		}
	}
	keys := m.configCheck(t).checks["cluster_keys"]
	if keys.Str("status") != "warning" || !strings.Contains(keys.Str("detail"), "review every token") ||
		!strings.Contains(keys.Str("fix"), "--clusterrole="+issuerDiscovery) {
		t.Fatalf("cluster_keys after the refused refresh: %v", keys)
	}

	// The binding is back: the first login after the throttle refreshes
	// the keys and is verified locally, as are the next.
	binding.ResourceVersion, binding.UID = "", ""
	if _, err := c.Kube.RbacV1().ClusterRoleBindings().Create(realstack.KubeCtx(t), &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: binding.Name, Labels: binding.Labels, Annotations: binding.Annotations},
		RoleRef:    binding.RoleRef, Subjects: binding.Subjects,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitKeySetForbidden(t, reviewer, false)
	sleepUntil(refusedAt.Add(6 * time.Second))
	reviews, refreshed, _ := counts()
	for range 3 {
		m.mustLogin(t, "fast", clusterToken(t, c, w))
	}
	if r, s, f := counts(); r != reviews || s != refreshed+1 || f != failed {
		t.Fatalf("after the binding is back: %v TokenReviews (want %v), %v good refreshes (want %v), %v failed (want %v)",
			r, reviews, s, refreshed+1, f, failed)
	}
	if keys := m.configCheck(t).checks["cluster_keys"]; keys.Str("status") != "passed" {
		t.Fatalf("cluster_keys after a good refresh: %v", keys)
	}
	if age := sampleValue(t, scrape(t, m.path, stk.Vault.Token), `kubeauth_cluster_keys_age_seconds{cluster="default"}`); age < 0 || age > 60 {
		t.Fatalf("kubeauth_cluster_keys_age_seconds %v after a good refresh", age)
	}
}

// resign signs tok's claims again with key, under kid ("" for none).
func resign(t *testing.T, tok string, key *rsa.PrivateKey, kid string) string {
	t.Helper()
	_, claims := peek(t, tok)
	sk := jose.SigningKey{Algorithm: jose.RS256, Key: key}
	if kid != "" {
		sk.Key = jose.JSONWebKey{Key: key, KeyID: kid}
	}
	signer, err := jose.NewSigner(sk, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitKeySetForbidden waits until the API server refuses (or serves) its
// key set to the reviewer: RBAC changes reach its authorizer a moment
// after they are written.
func waitKeySetForbidden(t *testing.T, reviewer *kubernetes.Clientset, forbidden bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := reviewer.RESTClient().Get().AbsPath("/openid/v1/jwks").DoRaw(realstack.KubeCtx(t))
		if apierrors.IsForbidden(err) == forbidden && (forbidden || err == nil) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the key set is still not forbidden=%v to the reviewer after 30 s: %v", forbidden, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func sleepUntil(when time.Time) {
	if d := time.Until(when); d > 0 {
		time.Sleep(d)
	}
}

// sampleValue is the value of the exposition's sample whose name and
// labels are exactly series, or -1 when there is none.
func sampleValue(t *testing.T, body, series string) float64 {
	t.Helper()
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("sample %q: %v", line, err)
			}
			return f
		}
	}
	return -1
}
