package kube

import (
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
)

// The TokenReview client against a TLS test server, each way the API server
// can answer. Whatever status it answers with comes back as given: judging
// it is the caller's rule.
func TestReview(t *testing.T) {
	good := authv1.TokenReviewStatus{
		Authenticated: true,
		User: authv1.UserInfo{Username: "system:serviceaccount:apps:web", UID: "sa-uid",
			Extra: map[string]authv1.ExtraValue{"authentication.kubernetes.io/pod-name": {"web-0"}}},
		Audiences: []string{"vault"},
	}
	big := strings.Repeat("x", maxResponseBytes)

	cases := []struct {
		name    string
		handler http.HandlerFunc
		// want is the status the call returns when wantErr is "".
		want authv1.TokenReviewStatus
		// wantErr is a substring of the client error.
		wantErr    string
		wantStatus int
		// timeout is the client's bound; 0 means a generous one, so that
		// only the slow-server case depends on time.
		timeout time.Duration
	}{
		{name: "authenticated", handler: answer(http.StatusCreated, good), want: good},
		{name: "unauthenticated", handler: answer(http.StatusCreated, authv1.TokenReviewStatus{})},
		{name: "status.error", handler: answer(http.StatusCreated, authv1.TokenReviewStatus{Error: "token expired"}),
			want: authv1.TokenReviewStatus{Error: "token expired"}},
		{name: "401", handler: status(http.StatusUnauthorized), wantErr: "refused the TokenReview with HTTP 401", wantStatus: 401},
		{name: "403", handler: status(http.StatusForbidden), wantErr: "refused the TokenReview with HTTP 403", wantStatus: 403},
		{name: "500", handler: status(http.StatusInternalServerError), wantErr: "refused the TokenReview with HTTP 500", wantStatus: 500},
		{name: "slow server", handler: func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(400 * time.Millisecond) // well past the client's 100ms
			answer(http.StatusCreated, good)(w, r)
		}, wantErr: "did not answer the TokenReview within 100ms", timeout: 100 * time.Millisecond},
		{name: "oversized body", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"kind":"TokenReview","apiVersion":"authentication.k8s.io/v1","status":{"error":"` + big + `"}}`))
		}, wantErr: "exceeds 1048576 bytes"},
		{name: "not JSON", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`<html>proxy error</html>`))
		}, wantErr: "TokenReview"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var gotAuth atomic.Value
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotAuth.Store(r.Header.Get("Authorization"))
				tc.handler(w, r)
			}))
			defer srv.Close()
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 30 * time.Second
			}
			k := testClient(t, srv, StaticToken("reviewer"), timeout)

			st, err := k.Review(t.Context(), "the-jwt", []string{"vault"})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				if got := Status(err); got != tc.wantStatus {
					t.Fatalf("Status %d, want %d", got, tc.wantStatus)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := gotAuth.Load(); got != "Bearer reviewer" {
				t.Fatalf("Authorization %q", got)
			}
			if !reflect.DeepEqual(*st, tc.want) {
				t.Fatalf("status %+v, want %+v", *st, tc.want)
			}
		})
	}
}

func answer(code int, st authv1.TokenReviewStatus) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, code, authv1.TokenReview{Status: st})
	}
}

// Keep-alive: consecutive reviews reuse one TLS connection.
func TestReviewReusesConnections(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(answer(http.StatusCreated, authv1.TokenReviewStatus{}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	k := testClient(t, srv, StaticToken("reviewer"), time.Second)
	for range 5 {
		if _, err := k.Review(t.Context(), "jwt", nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for 5 sequential reviews, want 1", n)
	}
}
