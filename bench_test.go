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
}

func benchLogin(b *testing.B, e *testEnv, token string) {
	resp, err := e.b.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.UpdateOperation, Path: "login", Storage: e.storage,
		Data:       map[string]any{"role": testRole, "jwt": token},
		Connection: &logical.Connection{RemoteAddr: "10.1.2.3"},
	})
	if err != nil || resp.Auth == nil {
		b.Fatalf("login: %v %#v", err, resp)
	}
}

// instantAnswer is the fake API server's answer for the default service
// account and audience vault, given without any work.
var instantAnswer = &authv1.TokenReviewStatus{
	Authenticated: true,
	User: authv1.UserInfo{
		Username: "system:serviceaccount:" + testNamespace + ":" + testSAName,
		UID:      testSAUID,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + testNamespace, "system:authenticated"},
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
	st, err := e.b.currentState(b.Context(), e.storage)
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
