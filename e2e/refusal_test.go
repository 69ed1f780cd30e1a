package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// Every way a login must fail, each against the real apiserver. A refusal
// is 403 "permission denied" with no reason given; a request that is not a
// JWT at all is 400 naming the jwt field.
func TestLoginRefusals(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "app", nil)
	m.bindRole(t, "app", w, nil)
	// The control: this workload and role do log in, so each refusal below
	// is down to the one thing the case changes.
	m.mustLogin(t, "app", vaultToken(t, w))

	t.Run("wrong service account name", func(t *testing.T) {
		t.Parallel()
		other := stk.NewServiceAccount(t, w.Namespace, "intruder", nil)
		realstack.ExpectDenied(t, m.login(t, "app", mintToken(t, w.Namespace, other.Name, realstack.TokenOptions{Audiences: []string{"vault"}})))
	})
	t.Run("wrong namespace", func(t *testing.T) {
		t.Parallel()
		// Same service-account name, another namespace.
		elsewhere := stk.NewWorkload(t, w.SA.Name, nil)
		realstack.ExpectDenied(t, m.login(t, "app", vaultToken(t, elsewhere)))
	})
	t.Run("audience mismatch", func(t *testing.T) {
		t.Parallel()
		realstack.ExpectDenied(t, m.login(t, "app", mintToken(t, w.Namespace, w.SA.Name, realstack.TokenOptions{Audiences: []string{"not-vault"}})))
	})
	t.Run("apiserver audience on an audience role", func(t *testing.T) {
		t.Parallel()
		// The default audience: a token meant for the apiserver itself.
		realstack.ExpectDenied(t, m.login(t, "app", mintToken(t, w.Namespace, w.SA.Name, realstack.TokenOptions{})))
	})
	t.Run("expired", func(t *testing.T) {
		t.Parallel()
		// Signed with the apiserver's own key, so only the expiry is wrong;
		// the same token with a future expiry logs in. Five minutes ago is
		// well past any allowance for clock skew.
		realstack.ExpectDenied(t, m.login(t, "app", signRS256(t, stk.SAKey, claimsFor(w.SA, time.Now().Add(-5*time.Minute)))))
		m.mustLogin(t, "app", signRS256(t, stk.SAKey, claimsFor(w.SA, time.Now().Add(5*time.Minute))))
	})
	t.Run("unknown signing key", func(t *testing.T) {
		t.Parallel()
		realstack.ExpectDenied(t, m.login(t, "app", signRS256(t, newRSAKey(t), claimsFor(w.SA, time.Now().Add(5*time.Minute)))))
	})
	// A well-formed JWT with an algorithm that is never trusted is a
	// forgery attempt, refused like any other; Vault's built-in method does
	// the same.
	t.Run("alg none", func(t *testing.T) {
		t.Parallel()
		realstack.ExpectDenied(t, m.login(t, "app", unsignedJWT(t, claimsFor(w.SA, time.Now().Add(5*time.Minute)))))
	})
	t.Run("alg HS256 keyed with the public key", func(t *testing.T) {
		t.Parallel()
		// The classic confusion: the verifier's public key used as an HMAC
		// secret, hoping it is taken for the RSA key it is.
		realstack.ExpectDenied(t, m.login(t, "app", signHS256(t, []byte(stk.SAPubPEM), claimsFor(w.SA, time.Now().Add(5*time.Minute)))))
	})
	t.Run("no alg", func(t *testing.T) {
		t.Parallel()
		realstack.ExpectDenied(t, m.login(t, "app", "e30.e30.e30")) // {}.{}.{}
	})
	// Something that is not a JWT at all is bad input.
	t.Run("garbage", func(t *testing.T) {
		t.Parallel()
		for _, jwt := range []string{"garbage", "a.b.c", "not.a.jwt.at.all"} {
			expectBadRequest(t, m.login(t, "app", jwt), "jwt")
		}
	})
	t.Run("no jwt", func(t *testing.T) {
		t.Parallel()
		expectBadRequest(t, m.login(t, "app", ""), "jwt")
	})
	t.Run("unknown role", func(t *testing.T) {
		t.Parallel()
		expectBadRequest(t, m.login(t, "nope", vaultToken(t, w)), "role", "nope")
	})
}

// With pem_keys set, a token from another key is refused by the plugin's
// own signature check, before Kubernetes is asked.
func TestLoginRefusesUnknownKeyLocally(t *testing.T) {
	t.Parallel()
	m := newMount(t)
	m.configure(t, map[string]any{"pem_keys": []string{stk.SAPubPEM}})
	w := stk.NewWorkload(t, "app", nil)
	m.bindRole(t, "app", w, nil)
	m.mustLogin(t, "app", vaultToken(t, w))
	realstack.ExpectDenied(t, m.login(t, "app", signRS256(t, newRSAKey(t), claimsFor(w.SA, time.Now().Add(5*time.Minute)))))
}

// Name and namespace globs: "*" matches any run of characters.
func TestLoginGlobs(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	m.writeRole(t, "globs", map[string]any{
		"bound_service_account_names":      "api-*,*-worker",
		"bound_service_account_namespaces": "ns*-team-a",
		"audience":                         "vault",
	})
	m.writeRole(t, "any", map[string]any{
		"bound_service_account_names":      "*",
		"bound_service_account_namespaces": "*",
		"audience":                         "vault",
	})
	// uniqueName gives "ns<N>-<test name>", so these namespaces match or
	// miss "ns*-team-a" as their names say.
	t.Run("team-a", func(t *testing.T) {
		t.Parallel()
		ns := stk.NewNamespace(t, nil)
		for _, name := range []string{"api-orders", "batch-worker"} {
			stk.NewServiceAccount(t, ns, name, nil)
			jwt := mintToken(t, ns, name, realstack.TokenOptions{Audiences: []string{"vault"}})
			m.mustLogin(t, "globs", jwt)
			m.mustLogin(t, "any", jwt)
		}
		stk.NewServiceAccount(t, ns, "frontend", nil)
		jwt := mintToken(t, ns, "frontend", realstack.TokenOptions{Audiences: []string{"vault"}})
		realstack.ExpectDenied(t, m.login(t, "globs", jwt))
		m.mustLogin(t, "any", jwt)
	})
	t.Run("team-b", func(t *testing.T) {
		t.Parallel()
		ns := stk.NewNamespace(t, nil)
		stk.NewServiceAccount(t, ns, "api-orders", nil)
		jwt := mintToken(t, ns, "api-orders", realstack.TokenOptions{Audiences: []string{"vault"}})
		realstack.ExpectDenied(t, m.login(t, "globs", jwt))
		m.mustLogin(t, "any", jwt)
	})
}

// token_bound_cidrs: the tests reach Vault from 127.0.0.1.
func TestLoginTokenBoundCIDRs(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "app", nil)
	m.bindRole(t, "loopback", w, map[string]any{"token_bound_cidrs": "127.0.0.0/8"})
	m.bindRole(t, "elsewhere", w, map[string]any{"token_bound_cidrs": "10.0.0.0/8,192.0.2.0/24"})
	m.bindRole(t, "legacy", w, map[string]any{"bound_cidrs": "198.51.100.0/24"})

	a := m.mustLogin(t, "loopback", vaultToken(t, w))
	r := call(t, http.MethodGet, "auth/token/lookup-self", a.Str("client_token"), nil)
	expectStatus(t, r, http.StatusOK)
	if got := r.Data().Strs("bound_cidrs"); len(got) != 1 || got[0] != "127.0.0.0/8" {
		t.Errorf("token bound_cidrs = %q, want [127.0.0.0/8]", got)
	}
	realstack.ExpectDenied(t, m.login(t, "elsewhere", vaultToken(t, w)))
	realstack.ExpectDenied(t, m.login(t, "legacy", vaultToken(t, w)))
}
