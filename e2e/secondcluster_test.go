package e2e

import (
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	authnv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// clusterSlots is how many second clusters may run at once: each is a
// kube-apiserver, and the machine is shared with the stack's.
const clusterSlots = 3

// startCluster starts a second cluster (its own kube-apiserver over the
// stack's etcd, see realstack.Cluster) with the issuer, on a port of the
// suite's, waiting for one while three run. It is stopped when the test
// ends, whatever happened, and the test may stop it earlier.
func startCluster(t *testing.T, issuer string) *realstack.Cluster {
	t.Helper()
	return startClusterWith(t, realstack.ClusterOptions{Issuer: issuer})
}

// startClusterWith is startCluster with more options; the name and port
// are the suite's to choose.
func startClusterWith(t *testing.T, opts realstack.ClusterOptions) *realstack.Cluster {
	t.Helper()
	select {
	case opts.Port = <-stk.clusterPorts:
	case <-time.After(10 * time.Minute):
		t.Fatal("no port for a second cluster freed up within 10 minutes")
	}
	opts.Name = realstack.UniqueName(t, "c")
	start := time.Now()
	c, err := stk.StartCluster(realstack.KubeCtx(t), opts)
	if err != nil {
		stk.clusterPorts <- opts.Port
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Stop()
		stk.clusterPorts <- opts.Port
	})
	t.Logf("cluster %s: kube-apiserver on %s (issuer %s) ready after %v; log %s",
		opts.Name, c.Host, opts.Issuer, time.Since(start).Round(100*time.Millisecond), c.LogPath)
	return c
}

// otherIssuer is an issuer no other cluster of the run has.
func otherIssuer(t *testing.T) string {
	t.Helper()
	return "https://" + realstack.UniqueName(t, "iss") + ".clusters.kubeauth.test"
}

// clusterToken mints a token for the "vault" audience in cluster c for its
// copy of a workload.
func clusterToken(t *testing.T, c *realstack.Cluster, w realstack.Workload) string {
	t.Helper()
	tok, err := c.RequestToken(realstack.KubeCtx(t), w.Namespace, w.SA.Name, realstack.TokenOptions{Audiences: []string{"vault"}})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// peek reads a JWT's key ID and claims without verifying anything.
func peek(t *testing.T, tok string) (kid string, claims map[string]any) {
	t.Helper()
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("parsing a JWT: %v", err)
	}
	if err := parsed.UnsafeClaimsWithoutVerification(&claims); err != nil {
		t.Fatal(err)
	}
	return parsed.Headers[0].KeyID, claims
}

// reviewerClient calls an API server as its token reviewer does, with the
// reviewer's JWT as the bearer token.
func reviewerClient(t *testing.T, host, caPEM, reviewerJWT string) *kubernetes.Clientset {
	t.Helper()
	c, err := kubernetes.NewForConfig(&rest.Config{
		Host:            host,
		BearerToken:     reviewerJWT,
		TLSClientConfig: rest.TLSClientConfig{CAData: []byte(caPEM)},
		Timeout:         10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// review asks an API server whether it authenticates tok for the audience
// "vault".
func review(t *testing.T, kube *kubernetes.Clientset, tok string) authnv1.TokenReviewStatus {
	t.Helper()
	tr, err := kube.AuthenticationV1().TokenReviews().Create(realstack.KubeCtx(t), &authnv1.TokenReview{
		Spec: authnv1.TokenReviewSpec{Token: tok, Audiences: []string{"vault"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenReview: %v", err)
	}
	return tr.Status
}

// discovery reads an API server's OpenID discovery document and key set as
// the reviewer: what a Vault mount fetches to tell clusters apart.
func discovery(t *testing.T, kube *kubernetes.Clientset) (issuer string, jwks jose.JSONWebKeySet) {
	t.Helper()
	ctx := realstack.KubeCtx(t)
	raw, err := kube.RESTClient().Get().AbsPath("/.well-known/openid-configuration").DoRaw(ctx)
	if err != nil {
		t.Fatalf("reading the discovery document: %v", err)
	}
	var doc struct {
		Issuer string `json:"issuer"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("discovery document %s: %v", raw, err)
	}
	if raw, err = kube.RESTClient().Get().AbsPath("/openid/v1/jwks").DoRaw(ctx); err != nil {
		t.Fatalf("reading the key set: %v", err)
	}
	if err := json.Unmarshal(raw, &jwks); err != nil {
		t.Fatalf("key set %s: %v", raw, err)
	}
	return doc.Issuer, jwks
}

// The harness's second cluster is a cluster of its own: its API server
// authenticates the tokens it mints and refuses the stack's, and the
// stack's refuses its tokens, with a distinct issuer and with the same one
// (the signing keys differ); it sees none of the stack's objects; its
// discovery document and key set announce its issuer and key; and once it
// is stopped, the stack's API server still reviews its own tokens.
func TestSecondClusterIsAClusterOfItsOwn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		issuer func(t *testing.T) string
	}{
		{"distinct issuer", otherIssuer},
		{"same issuer", func(*testing.T) string { return stk.SAIssuer }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			issuer := tc.issuer(t)
			c := startCluster(t, issuer)
			w := stk.NewWorkload(t, "app", nil)
			mirror := c.Mirror(t, w)
			if mirror.SA.UID == w.SA.UID {
				t.Fatalf("the service account has the same UID %s in both clusters", w.SA.UID)
			}
			here, there := vaultToken(t, w), clusterToken(t, c, mirror)
			hereKid, hereClaims := peek(t, here)
			thereKid, thereClaims := peek(t, there)
			if hereClaims["iss"] != stk.SAIssuer || thereClaims["iss"] != issuer {
				t.Fatalf("iss %v and %v, want %s and %s", hereClaims["iss"], thereClaims["iss"], stk.SAIssuer, issuer)
			}
			if hereKid == "" || hereKid == thereKid {
				t.Fatalf("key IDs %q and %q: want two different ones", hereKid, thereKid)
			}

			stackReviewer := reviewerClient(t, stk.KubeHost, stk.KubeCA, stk.ReviewerJWT)
			clusterReviewer := reviewerClient(t, c.Host, c.CA, c.ReviewerJWT)
			for _, r := range []struct {
				who    string
				kube   *kubernetes.Clientset
				tok    string
				wantOK bool
				uid    string
			}{
				{"the stack's API server, its own token", stackReviewer, here, true, string(w.SA.UID)},
				{"the second API server, its own token", clusterReviewer, there, true, string(mirror.SA.UID)},
				{"the stack's API server, the second's token", stackReviewer, there, false, ""},
				{"the second API server, the stack's token", clusterReviewer, here, false, ""},
			} {
				st := review(t, r.kube, r.tok)
				if st.Authenticated != r.wantOK || st.User.UID != r.uid {
					t.Errorf("%s: authenticated=%v uid=%q (error %q), want authenticated=%v uid=%q",
						r.who, st.Authenticated, st.User.UID, st.Error, r.wantOK, r.uid)
				}
				if r.wantOK && st.User.Username != "system:serviceaccount:"+w.Namespace+":"+w.SA.Name {
					t.Errorf("%s: user %q", r.who, st.User.Username)
				}
			}

			// Its own objects only: a namespace made in the stack is not there.
			elsewhere := stk.NewNamespace(t, nil)
			if _, err := c.Kube.CoreV1().Namespaces().Get(realstack.KubeCtx(t), elsewhere, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("the stack's namespace %s in the second cluster: want NotFound, got %v", elsewhere, err)
			}

			gotIssuer, jwks := discovery(t, clusterReviewer)
			if gotIssuer != issuer {
				t.Errorf("the second cluster's discovery document names issuer %q, want %q", gotIssuer, issuer)
			}
			if keys := jwks.Key(thereKid); len(keys) != 1 || !c.SAKey.PublicKey.Equal(keys[0].Key) {
				t.Errorf("the second cluster's key set %v has no key %q that is its signing key", jwks, thereKid)
			}

			// Stopped, it answers nothing; the stack's API server goes on.
			c.Stop()
			if c.Running() {
				t.Fatal("the second API server still runs after Stop")
			}
			conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port())), 5*time.Second)
			if err == nil {
				conn.Close()
			}
			if err == nil || !strings.Contains(err.Error(), "connection refused") {
				t.Errorf("the stopped API server's port: want connection refused, got %v", err)
			}
			if st := review(t, stackReviewer, vaultToken(t, w)); !st.Authenticated {
				t.Errorf("the stack's API server after the second stopped: %+v", st)
			}
		})
	}
}
