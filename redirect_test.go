package kubeauth

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// The API server (or a proxy in front of it) answers with a redirect: it
// is not followed, so neither the reviewer token nor the login JWT reaches
// the other host, and the error says what happened.
func TestRedirectsAreNotFollowed(t *testing.T) {
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			var called atomic.Bool
			elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				called.Store(true)
				writeStatus(w, http.StatusUnauthorized, "no")
			}))
			defer elsewhere.Close()
			e := configured(t)
			e.kube.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
				http.Redirect(w, r, elsewhere.URL+r.URL.Path, code)
				return true
			})

			_, err := e.login(testRole, e.token())
			if called.Load() {
				t.Fatal("the redirect was followed: the other host received the request")
			}
			t.Log(err)
			var apiErr *kubeAPIError
			if !errors.As(err, &apiErr) || apiErr.redirect == nil {
				t.Fatalf("want a redirect error, got %v", err)
			}
			for _, want := range []string{e.kube.srv.URL, elsewhere.URL, "redirects are not followed", fmt.Sprintf("HTTP %d redirect", code)} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}
