package kubeauth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// keyServer serves a fake API server's published keys at another origin,
// as a public OIDC address does, and records the Authorization header of
// every request.
type keyServer struct {
	srv   *httptest.Server
	url   string
	caPEM string

	mu      sync.Mutex
	headers []string
	gets    int
	status  int // answer with this status instead, when set
	body    string
}

func newKeyServer(t testing.TB, kube *fakeKube) *keyServer {
	t.Helper()
	k := &keyServer{}
	k.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.mu.Lock()
		k.headers = append(k.headers, r.Header.Get("Authorization"))
		k.gets++
		status, body := k.status, k.body
		k.mu.Unlock()
		switch {
		case status != 0:
			http.Error(w, "no", status)
		case body != "":
			_, _ = w.Write([]byte(body))
		default:
			kube.serveJWKS(w)
		}
	}))
	t.Cleanup(k.srv.Close)
	k.url = k.srv.URL + "/keys/cluster.json"
	if k.caPEM = pemCert(k.srv); k.caPEM == kube.caPEM {
		k.caPEM = "" // httptest's one certificate: the fake's CA already trusts it
	}
	return k
}

// credentials are the Authorization headers the server got that were not
// empty.
func (k *keyServer) credentials() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for _, h := range k.headers {
		if strings.TrimSpace(h) != "" {
			out = append(out, h)
		}
	}
	return out
}

func (k *keyServer) answer(status int, body string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.status, k.body = status, body
}
