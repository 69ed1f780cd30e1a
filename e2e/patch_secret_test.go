package e2e

import (
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// captureListener is a plain listener on loopback that records the
// Authorization header of every HTTP request it gets and answers 503: a
// server a PATCH could point a cluster at.
type captureListener struct {
	addr string
	mu   sync.Mutex
	auth []string
}

func newCaptureListener(t *testing.T) *captureListener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.7:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &captureListener{addr: l.Addr().String()}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.auth = append(c.auth, r.Header.Get("Authorization"))
		c.mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return c
}

// seen counts the requests that carried bearer token tok.
func (c *captureListener) seen(tok string) (n, all int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.auth {
		if a == "Bearer "+tok {
			n++
		}
	}
	return n, len(c.auth)
}

// A PATCH that moves kubernetes_host (of config, and of a cluster/<name>)
// without sending token_reviewer_jwt again is a 400 that stores nothing;
// sent again, it is accepted. Through the config/check, cluster check and
// logins that follow, the capture listener the patch pointed at never sees
// the stored reviewer JWT, only the one the patch sent.
func TestPatchMovingHostNeedsReviewerJWT(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "moved", nil)
	m.bindRole(t, "moved", w, map[string]any{"bound_clusters": "*"})
	expectOK(t, root(t, http.MethodPost, "auth/"+m.path+"/cluster/east", stk.ReviewerConfig(map[string]any{"issuer": "https://east.invalid"})))
	capture := newCaptureListener(t)
	host := "http://" + capture.addr
	const sentJWT = "patched-reviewer-jwt"

	probe := func() {
		root(t, http.MethodGet, "auth/"+m.path+"/config/check", nil)
		root(t, http.MethodGet, "auth/"+m.path+"/cluster/east/check", nil)
		m.login(t, "moved", vaultToken(t, w))
	}
	for _, path := range []string{"config", "cluster/east"} {
		p := "auth/" + m.path + "/" + path
		expectBadRequest(t, root(t, http.MethodPatch, p, map[string]any{"kubernetes_host": host}), "token_reviewer_jwt", "send")
		if got := root(t, http.MethodGet, p, nil).Data().Str("kubernetes_host"); got != stk.KubeHost {
			t.Fatalf("%s: the refused patch stored kubernetes_host %q", path, got)
		}
		probe()
		expectOK(t, root(t, http.MethodPatch, p, map[string]any{"kubernetes_host": host, "token_reviewer_jwt": sentJWT}))
		probe()
	}
	if n, all := capture.seen(stk.ReviewerJWT); n > 0 {
		t.Fatalf("the stored reviewer JWT reached the patched host %d times (of %d requests)", n, all)
	}
	if n, all := capture.seen(sentJWT); n == 0 {
		t.Fatalf("the capture listener saw %d requests, none with the JWT the patch sent", all)
	}
}
