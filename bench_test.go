package kubeauth

import (
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

// BenchmarkLogin is a whole login through the backend (routing, role load,
// JWT checks, TokenReview over keep-alive TLS to the fake API server, token
// assembly), from parallel clients.
func BenchmarkLogin(b *testing.B) {
	e := configured(b)
	token := e.token()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := e.b.HandleRequest(b.Context(), &logical.Request{
				Operation: logical.UpdateOperation, Path: "login", Storage: e.storage,
				Data:       map[string]any{"role": testRole, "jwt": token},
				Connection: &logical.Connection{RemoteAddr: "10.1.2.3"},
			})
			if err != nil || resp.Auth == nil {
				b.Fatalf("login: %v %#v", err, resp)
			}
		}
	})
}

// BenchmarkTokenReviewOnly is the baseline for BenchmarkLogin: the same
// TokenReview against the same fake server, with nothing of the plugin
// around it. Login cost over this is the plugin's own overhead.
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
			status, err := st.kube.reviewToken(b.Context(), token, []string{"vault"})
			if err != nil || !status.Authenticated {
				b.Fatalf("review: %v %+v", err, status)
			}
		}
	})
}
