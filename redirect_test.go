package kubeauth

import (
	"fmt"
	"net/http"
	"net/http/httptest"
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

			resp, err := e.login(testRole, e.token())
			if called.Load() {
				t.Fatal("the redirect was followed: the other host received the request")
			}
			// The caller gets the generic fault; the log says what happened.
			e.requireKubeFault(resp, err, e.kube.srv.URL, elsewhere.URL, "redirects are not followed", fmt.Sprintf("HTTP %d redirect", code))
		})
	}
}
