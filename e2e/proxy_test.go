package e2e

import (
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// startProxy starts a CONNECT proxy (realstack.Proxy, on goproxy) in the
// test binary, its warnings in the stack's logs/; closed when the test
// ends.
func startProxy(t *testing.T, user, password string) *realstack.Proxy {
	t.Helper()
	logPath := filepath.Join(stk.StackDir, "logs", realstack.UniqueName(t, "proxy")+".log")
	p, err := realstack.StartProxy(realstack.ProxyOptions{User: user, Password: password, LogPath: logPath})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// hostPort is the host:port of an https:// address, what a CONNECT names.
func hostPort(t *testing.T, address string) string {
	t.Helper()
	u, err := url.Parse(address)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// expectOnlyThrough checks that the proxy opened at least one tunnel since
// before, every one of them to the API server.
func expectOnlyThrough(t *testing.T, p *realstack.Proxy, before int64, apiServer string) {
	t.Helper()
	if p.Connects() <= before {
		t.Fatalf("the proxy opened no tunnel (%d before, %d now): the plugin did not go through it", before, p.Connects())
	}
	for _, target := range p.Targets() {
		if target != hostPort(t, apiServer) {
			t.Errorf("the proxy tunneled to %s, not the API server %s", target, apiServer)
		}
	}
}

// kubernetes_proxy_url through a real CONNECT proxy: a login passes and
// the proxy counts a tunnel to the API server; closed, the next login
// fails (the plugin never goes around it). With credentials required, the
// URL with them works and reads back with the password redacted; a wrong
// password fails the login with the generic fault and config/check names
// the proxy's refusal and the field to fix; a proxy address where nothing
// listens is reported by config/check too.
func TestKubernetesProxyURLThroughARealConnectProxy(t *testing.T) {
	t.Parallel()
	w := stk.NewWorkload(t, "app", nil)
	jwt := vaultToken(t, w)

	t.Run("open proxy", func(t *testing.T) {
		t.Parallel()
		p := startProxy(t, "", "")
		m := newMount(t)
		m.configure(t, map[string]any{"kubernetes_proxy_url": p.URL("", "")})
		m.bindRole(t, "app", w, nil)
		m.mustLogin(t, "app", jwt)
		expectOnlyThrough(t, p, 0, stk.KubeHost)
		if a := m.configCheck(t); !strings.HasPrefix(a.verdict, "ok") {
			t.Errorf("config/check through the proxy: %s", a.reply)
		}
		_ = p.Close()
		expectGenericFault(t, m.login(t, "app", jwt))
	})

	t.Run("credentials", func(t *testing.T) {
		t.Parallel()
		password := realstack.UniqueName(t, "pw")
		p := startProxy(t, "vault", password)
		m := newMount(t)
		m.configure(t, map[string]any{"kubernetes_proxy_url": p.URL("vault", password)})
		m.bindRole(t, "app", w, nil)
		m.mustLogin(t, "app", jwt)
		expectOnlyThrough(t, p, 0, stk.KubeHost)
		read := root(t, http.MethodGet, "auth/"+m.path+"/config", nil)
		if got, want := read.Data().Str("kubernetes_proxy_url"), "http://vault:xxxxx@"+p.Addr; got != want {
			t.Errorf("kubernetes_proxy_url reads %q, want %q", got, want)
		}
		if strings.Contains(string(read.Raw), password) {
			t.Errorf("the config read returns the proxy password: %s", read)
		}
		if p.Refused() != 0 {
			t.Errorf("the proxy refused %d requests with the right credentials", p.Refused())
		}

		m.configure(t, map[string]any{"kubernetes_proxy_url": p.URL("vault", "wrong-"+password)})
		before := p.Connects()
		r := m.login(t, "app", jwt)
		expectGenericFault(t, r)
		if strings.Contains(string(r.Raw), p.Addr) {
			t.Errorf("the failed login names the proxy: %s", r)
		}
		if p.Refused() == 0 || p.Connects() != before {
			t.Errorf("with a wrong password the proxy refused %d and tunneled %d more; want some refused and none tunneled", p.Refused(), p.Connects()-before)
		}
		expectCheckFails(t, m, "kubernetes_api", []string{"proxy"}, []string{"kubernetes_proxy_url", "credentials"})
	})

	t.Run("nothing listens at the proxy address", func(t *testing.T) {
		t.Parallel()
		m := newMount(t)
		m.configure(t, map[string]any{"kubernetes_proxy_url": "http://" + closedAddress(t)})
		m.bindRole(t, "app", w, nil)
		expectGenericFault(t, m.login(t, "app", jwt))
		expectCheckFails(t, m, "kubernetes_api", []string{"proxy"}, []string{"kubernetes_proxy_url"})
	})
}
