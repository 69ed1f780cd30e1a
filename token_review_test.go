package kubeauth

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
)

// The TokenReview client against a TLS test server, each way the API server
// can answer.
func TestReviewTokenClient(t *testing.T) {
	claimed := serviceAccount{namespace: testNamespace, name: testSAName, uid: testSAUID}
	good := authv1.TokenReviewStatus{
		Authenticated: true,
		User: authv1.UserInfo{Username: "system:serviceaccount:apps:web", UID: testSAUID,
			Extra: map[string]authv1.ExtraValue{extraPodName: {"web-0"}, extraPodUID: {"pod-uid"}}},
		Audiences: []string{"vault"},
	}
	big := strings.Repeat("x", maxResponseBytes)

	cases := []struct {
		name    string
		handler http.HandlerFunc
		// wantErr is a substring of the client error; "" means the call
		// succeeds and checkReview decides with wantReason ("" = accepted).
		wantErr    string
		wantStatus int
		wantReason string
		// timeout is the client's bound; 0 means a generous one, so that
		// only the slow-server case depends on time.
		timeout time.Duration
	}{
		{name: "authenticated", handler: answer(http.StatusCreated, good)},
		{name: "unauthenticated", handler: answer(http.StatusCreated, authv1.TokenReviewStatus{}), wantReason: reasonReviewRejected},
		{name: "status.error", handler: answer(http.StatusCreated, authv1.TokenReviewStatus{Error: "token expired"}), wantReason: reasonReviewRejected},
		{name: "audience mismatch", handler: answer(http.StatusCreated, func() authv1.TokenReviewStatus {
			s := good
			s.Audiences = []string{"https://kubernetes.default.svc"}
			return s
		}()), wantReason: reasonAudienceMismatch},
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
			var gotAuth string
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotAuth = r.Header.Get("Authorization")
				tc.handler(w, r)
			}))
			defer srv.Close()
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 30 * time.Second
			}
			kube := testClient(t, srv, staticCredential("reviewer"), timeout)

			st, err := kube.reviewToken(t.Context(), "the-jwt", []string{"vault"})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				if got := apiStatus(err); got != tc.wantStatus {
					t.Fatalf("apiStatus %d, want %d", got, tc.wantStatus)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if gotAuth != "Bearer reviewer" {
				t.Fatalf("Authorization %q", gotAuth)
			}
			id, err := checkReview(st, claimed, []string{"vault"})
			var ref *refusal
			switch {
			case tc.wantReason == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.wantReason == "" && (id.podName != "web-0" || id.uid != testSAUID):
				t.Fatalf("identity %+v", id)
			case tc.wantReason != "" && (!errors.As(err, &ref) || ref.reason != tc.wantReason):
				t.Fatalf("got %v, want reason %s", err, tc.wantReason)
			}
		})
	}
}

func answer(code int, st authv1.TokenReviewStatus) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, code, authv1.TokenReview{Status: st})
	}
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, code, http.StatusText(code))
	}
}

func testClient(t *testing.T, srv *httptest.Server, cred credentialSource, timeout time.Duration) *kubeClient {
	t.Helper()
	kube, err := newKubeClient(kubeClientOptions{
		host:       srv.URL,
		caPEM:      pemCert(srv),
		credential: cred,
		timeout:    timeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kube.close() })
	return kube
}

func TestParseServiceAccountUsername(t *testing.T) {
	cases := []struct {
		in       string
		ns, name string
		ok       bool
	}{
		{"system:serviceaccount:apps:web", "apps", "web", true},
		{"system:serviceaccount:apps", "", "", false},
		{"system:serviceaccount::web", "", "", false},
		{"system:serviceaccount:apps:", "", "", false},
		{"system:serviceaccount:a:b:c", "", "", false},
		{"system:node:apps:web", "", "", false},
		{"", "", "", false},
	}
	for _, tc := range cases {
		ns, name, ok := parseServiceAccountUsername(tc.in)
		if ns != tc.ns || name != tc.name || ok != tc.ok {
			t.Errorf("%q: got %q %q %v", tc.in, ns, name, ok)
		}
	}
}

func TestReviewAudiences(t *testing.T) {
	if got := reviewAudiences("vault", []string{"a"}); len(got) != 1 || got[0] != "vault" {
		t.Errorf("role audience: %v", got)
	}
	if got := reviewAudiences("", []string{"a", "b"}); len(got) != 2 {
		t.Errorf("token audiences: %v", got)
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
	kube := testClient(t, srv, staticCredential("reviewer"), time.Second)
	for range 5 {
		if _, err := kube.reviewToken(t.Context(), "jwt", nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for 5 sequential reviews, want 1", n)
	}
}

// The answer is held to the letter of the TokenReview API: an error next to
// authenticated=true is a refusal, and when the review asked about
// audiences, the answer must name one of them.
func TestCheckReviewStrict(t *testing.T) {
	claimed := serviceAccount{namespace: testNamespace, name: testSAName, uid: testSAUID}
	user := authv1.UserInfo{Username: "system:serviceaccount:apps:web", UID: testSAUID}
	cases := []struct {
		name   string
		status authv1.TokenReviewStatus
		asked  []string
		reason string // "" = accepted
	}{
		{"authenticated with an error", authv1.TokenReviewStatus{Authenticated: true, User: user, Audiences: []string{"vault"}, Error: "token has been invalidated"}, []string{"vault"}, reasonReviewRejected},
		{"token's own audiences, answer names none", authv1.TokenReviewStatus{Authenticated: true, User: user}, []string{"vault", "other"}, reasonAudienceMismatch},
		{"token's own audiences, answer names others", authv1.TokenReviewStatus{Authenticated: true, User: user, Audiences: []string{"api"}}, []string{"vault", "other"}, reasonAudienceMismatch},
		{"token's own audiences, answer names one", authv1.TokenReviewStatus{Authenticated: true, User: user, Audiences: []string{"other"}}, []string{"vault", "other"}, ""},
		{"role audience named", authv1.TokenReviewStatus{Authenticated: true, User: user, Audiences: []string{"vault"}}, []string{"vault"}, ""},
		// Nothing asked (a legacy token without aud): the API server checked
		// its own audience, which the answer need not repeat.
		{"nothing asked, none answered", authv1.TokenReviewStatus{Authenticated: true, User: user}, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checkReview(&tc.status, claimed, tc.asked)
			var ref *refusal
			switch {
			case tc.reason == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.reason != "" && (!errors.As(err, &ref) || ref.reason != tc.reason):
				t.Fatalf("got %v, want reason %s", err, tc.reason)
			}
		})
	}
}
