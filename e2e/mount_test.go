package e2e

import (
	"net/http"
	"testing"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// mount is one auth mount of the plugin. Every test gets its own, with its
// own config and roles, so tests can run in parallel.
type mount struct {
	path     string // without "auth/"
	accessor string
}

// newMount enables the plugin at a fresh path; the mount is disabled when
// the test ends. It is not configured: see configure.
func newMount(t *testing.T) *mount {
	t.Helper()
	path := realstack.UniqueName(t, "k")
	expectOK(t, root(t, http.MethodPost, "sys/auth/"+path, map[string]any{
		"type":   pluginName,
		"config": map[string]any{"plugin_version": stk.pluginVersion},
	}))
	t.Cleanup(func() {
		// Not a t.Fatal: the test is over, and a leftover mount of a
		// stack that is about to stop harms nothing.
		if r := root(t, http.MethodDelete, "sys/auth/"+path, nil); r.Status != http.StatusNoContent {
			t.Logf("disabling auth/%s: %s", path, r)
		}
	})
	r := root(t, http.MethodGet, "sys/auth/"+path, nil)
	expectStatus(t, r, http.StatusOK)
	return &mount{path: path, accessor: r.Data().Str("accessor")}
}

// configure writes the reviewer config with the given fields added or
// replaced.
func (m *mount) configure(t *testing.T, extra map[string]any) {
	t.Helper()
	expectOK(t, root(t, http.MethodPost, "auth/"+m.path+"/config", stk.ReviewerConfig(extra)))
}

// configuredMount is a new mount with the reviewer config.
func configuredMount(t *testing.T) *mount {
	t.Helper()
	m := newMount(t)
	m.configure(t, nil)
	return m
}

func (m *mount) writeRole(t *testing.T, name string, fields map[string]any) {
	t.Helper()
	expectOK(t, root(t, http.MethodPost, "auth/"+m.path+"/role/"+name, fields))
}

// bindRole writes a role binding exactly this workload, for audience
// "vault", with the given fields added or replaced.
func (m *mount) bindRole(t *testing.T, name string, w realstack.Workload, extra map[string]any) {
	t.Helper()
	m.writeRole(t, name, realstack.BindRole(w, extra))
}

// login is `vault write auth/<mount>/login role=... jwt=...` as plain HTTP:
// no Vault token, only the role and the service-account JWT.
func (m *mount) login(t *testing.T, role, jwt string) *realstack.Reply {
	t.Helper()
	return call(t, http.MethodPost, "auth/"+m.path+"/login", "", map[string]any{"role": role, "jwt": jwt})
}

// mustLogin logs in and returns the auth block of the reply.
func (m *mount) mustLogin(t *testing.T, role, jwt string) realstack.Object {
	t.Helper()
	r := m.login(t, role, jwt)
	expectStatus(t, r, http.StatusOK)
	a := r.Auth()
	if a.Str("client_token") == "" {
		t.Fatalf("login returned no client token: %s", r)
	}
	return a
}
