package kubeauth

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"
	authv1 "k8s.io/api/authentication/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// BenchmarkLogin is a whole login through the backend (routing, role
// lookup, JWT checks, the review step, token assembly).
//
// "always-tls" runs parallel clients against the TLS fake API server, with
// a TokenReview over keep-alive TLS per login (compare it with
// BenchmarkTokenReviewOnly). The other sub-benchmarks run one client per
// review mode with a zero-latency TokenReview (an in-process answer, no
// network, no server) and the log at Vault's default level (info), so
// ns/op and allocs/op are the plugin's own work per login on one core: "always" reviews each login, "cached" answers a
// repeated token from the review cache, "hybrid" verifies a different
// young bound token each login against the cluster's key (one RSA
// signature check per login).
//
// "clusters-always", "clusters-cached" and "clusters-hybrid" are those
// modes on mounts with one cluster (config alone), ten and fifty (config
// and cluster/<name> entries): what choosing a login's cluster from the
// token costs (issue 12), up to the cost curves' largest mount. Compare
// their mount= sub-benchmarks with `benchstat -col /mount`.
func BenchmarkLogin(b *testing.B) {
	b.Run("always-tls", func(b *testing.B) {
		e := configured(b)
		var clients atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			// A token per client: concurrent logins with one token would
			// share their TokenReviews.
			token := e.tokenNo(int(clients.Add(1)))
			for pb.Next() {
				benchLogin(b, e, token)
			}
		})
	})
	for _, mode := range []string{reviewAlways, reviewCached, reviewHybrid} {
		b.Run(mode, func(b *testing.B) {
			e := configured(b)
			// Vault's default log level: the debug line is not written.
			e.b.Logger().SetLevel(hclog.Info)
			e.writeRole(testRole, map[string]any{"review_mode": mode})
			st := e.state()
			st.review = instantReview
			tokens := []string{e.token()}
			if mode == reviewHybrid {
				tokens = make([]string, 256)
				for i := range tokens {
					tokens[i] = e.boundToken(time.Now(), func(c map[string]any) { c["jti"] = fmt.Sprint(i) })
				}
			}
			benchLogin(b, e, tokens[0]) // warm: the role, the cache, the key set
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				benchLogin(b, e, tokens[i%len(tokens)])
				i++
			}
			b.StopTimer()
			if mode != reviewAlways && e.kube.reviews.Load() != 0 {
				b.Fatalf("%d TokenReviews reached the API server", e.kube.reviews.Load())
			}
		})
	}
	for _, mode := range []string{reviewAlways, reviewCached, reviewHybrid} {
		b.Run("clusters-"+mode, func(b *testing.B) {
			for _, m := range clusterMounts {
				b.Run("mount="+m.name, func(b *testing.B) { benchClusterChoice(b, mode, m) })
			}
		})
	}
}

func benchLogin(b *testing.B, e *testEnv, token string) *logical.Response {
	resp, err := e.b.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.UpdateOperation, Path: "login", Storage: e.storage,
		Data:       map[string]any{"role": testRole, "jwt": token},
		Connection: &logical.Connection{RemoteAddr: "10.1.2.3"},
	})
	if err != nil || resp.Auth == nil {
		b.Fatalf("login: %v %#v", err, resp)
	}
	return resp
}

// instantAnswer is the fake API server's answer for the default service
// account and audience vault, given without any work.
var instantAnswer = &authv1.TokenReviewStatus{
	Authenticated: true,
	User: authv1.UserInfo{
		Username: "system:serviceaccount:" + testkit.Namespace + ":" + testkit.SAName,
		UID:      testkit.SAUID,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + testkit.Namespace, "system:authenticated"},
	},
	Audiences: []string{"vault"},
}

func instantReview(context.Context, string, []string) (*authv1.TokenReviewStatus, error) {
	return instantAnswer, nil
}

// BenchmarkTokenReviewOnly is the baseline for BenchmarkLogin/always-tls:
// the same TokenReview against the same fake server, with nothing of the
// plugin around it. Login cost over this is the plugin's own overhead.
func BenchmarkTokenReviewOnly(b *testing.B) {
	e := configured(b)
	token := e.token()
	st, err := e.b.liveDefault(b.Context(), e.storage)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			status, err := st.kube.Review(b.Context(), token, []string{"vault"})
			if err != nil || !status.Authenticated {
				b.Fatalf("review: %v %+v", err, status)
			}
		}
	})
}

// clusterMount is a mount shape for the cluster-choice benchmarks.
type clusterMount struct {
	name string
	// extra named clusters besides config's.
	extra int
	// announced: the named clusters have no issuer field, so each one's
	// issuer is what its API server announces (read once, then kept);
	// otherwise they all point at the default cluster's API server with an
	// issuer field of their own.
	announced bool
	// last: the token is from the last named cluster, the last one the
	// choice compares, instead of from config's.
	last bool
}

// clusterMounts go from config alone (the baseline, no choice at all) to
// ten clusters, with the token from the first cluster compared or the last.
var clusterMounts = []clusterMount{
	{name: "config"},
	// One named cluster: what any multi-cluster mount pays once (the
	// choice itself, the cluster in the metadata), apart from what each
	// further cluster adds.
	{name: "2-issuer", extra: 1},
	{name: "10-issuer", extra: 9},
	// The top of the cost curve's clusters dimension (make bench-curves).
	{name: "50-issuer", extra: 49},
	{name: "10-announced", extra: 9, announced: true},
	{name: "10-issuer-last", extra: 9, last: true},
	{name: "10-announced-last", extra: 9, announced: true, last: true},
}

// benchClusterChoice is one client's logins, as in the mode's own
// sub-benchmark, on a mount shaped as m. Only the token's cluster reviews
// (in-process, at once); every other cluster is only compared with the
// token.
func benchClusterChoice(b *testing.B, mode string, m clusterMount) {
	e := configured(b)
	e.b.Logger().SetLevel(hclog.Info)
	servers := []*fakeKube{e.kube}
	var names []string
	for i := 1; i <= m.extra; i++ {
		name := fmt.Sprintf("c%02d", i)
		names = append(names, name)
		data := e.configData()
		issuer := "https://" + name + ".example"
		if m.announced {
			// One API server can announce one issuer only: each announced
			// cluster needs its own (they never review, so the same key).
			kube := newFakeKube(b, e.signer.Public())
			kube.setReviewerToken(testReviewer)
			kube.setIssuer(issuer)
			servers = append(servers, kube)
			data["kubernetes_host"], data["kubernetes_ca_cert"] = kube.srv.URL, kube.caPEM
		} else {
			data["issuer"] = issuer
		}
		e.mustDo(logical.UpdateOperation, "cluster/"+name, data)
	}

	role := map[string]any{"review_mode": mode}
	cluster, claims := defaultCluster, testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault")
	if m.last {
		cluster = names[len(names)-1]
		claims["iss"] = "https://" + cluster + ".example"
		role["bound_clusters"] = "*"
	}
	e.writeRole(testRole, role)
	tokens := []string{testkit.SignJWTWithKid(b, e.signer, testKeyID(b, e.signer.Public()), claims)}
	if mode == reviewHybrid {
		// A different young token each login, as the cost curves' mounts
		// see them: each is verified against the cluster's key.
		tokens = make([]string, 256)
		now := time.Now()
		for i := range tokens {
			claims["iat"], claims["nbf"], claims["exp"] = now.Unix(), now.Unix(), now.Add(time.Hour).Unix()
			claims["jti"] = fmt.Sprint(i)
			tokens[i] = testkit.SignJWTWithKid(b, e.signer, testKeyID(b, e.signer.Public()), claims)
		}
	}

	st, err := e.b.liveCluster(b.Context(), e.storage, cluster)
	if err != nil || st == nil {
		b.Fatalf("state of cluster %s: %v %v", cluster, st, err)
	}
	b.Cleanup(st.release)
	st.review = instantReview

	// Warm: the states of every cluster, the issuers announced, the role,
	// the review cache. The token must land on the cluster meant.
	resp := benchLogin(b, e, tokens[0])
	if got := resp.Auth.Metadata["cluster"]; m.extra > 0 && got != cluster {
		b.Fatalf("login chose cluster %q, want %q", got, cluster)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		benchLogin(b, e, tokens[i%len(tokens)])
		i++
	}
	b.StopTimer()
	for i, kube := range servers {
		if n := kube.reviews.Load(); n != 0 {
			b.Fatalf("%d TokenReviews reached fake API server %d", n, i)
		}
		// With named clusters the default cluster's issuer is the one its
		// API server announces too; each announced issuer is read once.
		// So is the default cluster's in hybrid mode, which checks the
		// token's issuer against it.
		want := int64(0)
		if (m.extra > 0 || mode == reviewHybrid) && (i == 0 || m.announced) {
			want = 1
		}
		if n := kube.discoveryGets.Load(); n != want {
			b.Fatalf("fake API server %d served discovery %d times, want %d", i, n, want)
		}
	}
}
