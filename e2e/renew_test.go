package e2e

import (
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// A token renews while its role exists and still binds its service account;
// the TTL comes from the role as it is at renewal time.
func TestRenewal(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "renewer", nil)
	m.bindRole(t, "renewer", w, map[string]any{"token_ttl": "2m", "token_max_ttl": "1h"})
	a := m.mustLogin(t, "renewer", vaultToken(t, w))
	tok := a.Str("client_token")
	renew := func() *realstack.Reply {
		return call(t, http.MethodPost, "auth/token/renew-self", tok, map[string]any{})
	}

	r := renew()
	expectStatus(t, r, http.StatusOK)
	if r.Auth().Str("client_token") != tok || r.Auth().Num("lease_duration") != 120 || r.Auth()["renewable"] != true {
		t.Errorf("renewal: want the same token for another 120 s, got %s", r)
	}

	m.writeRole(t, "renewer", map[string]any{"token_ttl": "3m"})
	r = renew()
	expectStatus(t, r, http.StatusOK)
	if got := r.Auth().Num("lease_duration"); got != 180 {
		t.Errorf("renewal after token_ttl=3m: lease_duration %d, want 180", got)
	}

	// The role no longer binds the service account: no renewal.
	m.writeRole(t, "renewer", map[string]any{"bound_service_account_names": "someone-else"})
	expectRenewRefused(t, renew(), "renewer")
	m.writeRole(t, "renewer", map[string]any{"bound_service_account_names": w.SA.Name})
	expectStatus(t, renew(), http.StatusOK)

	// The role is gone: no renewal, and the token keeps only what is left
	// of its current lease.
	expectStatus(t, root(t, http.MethodDelete, "auth/"+m.path+"/role/renewer", nil), http.StatusNoContent)
	expectRenewRefused(t, renew(), "renewer")
	r = call(t, http.MethodGet, "auth/token/lookup-self", tok, nil)
	expectStatus(t, r, http.StatusOK)
	if ttl := r.Data().Num("ttl"); ttl <= 0 || ttl > 180 {
		t.Errorf("after a refused renewal the token's ttl is %d, want what remained (1..180)", ttl)
	}
}

// expectRenewRefused checks a refused renewal. Vault's token store reports
// a backend's refusal to renew as HTTP 500 with the backend's message (so it
// does for the built-in kubernetes method); the message names the role.
func expectRenewRefused(t *testing.T, r *realstack.Reply, role string) {
	t.Helper()
	msg := strings.Join(r.Errors(), "\n")
	if r.Status != http.StatusInternalServerError || !strings.Contains(msg, "renewal refused") ||
		!strings.Contains(msg, `"`+role+`"`) {
		t.Fatalf("want HTTP 500 with the renewal refused for role %q, got %s", role, r)
	}
	if r.Auth() != nil {
		t.Fatalf("a refused renewal carries auth: %s", r)
	}
}

// expectRenewalAnswer checks a renewal that did not pass: HTTP 500 without
// auth, whose message holds want (the fixed sentence with the reason code
// or fault kind) and nothing of the setup: not the API server's address,
// not what TLS or Kubernetes said.
func expectRenewalAnswer(t *testing.T, r *realstack.Reply, want string) {
	t.Helper()
	msg := r.ErrorText()
	if r.Status != http.StatusInternalServerError || r.Auth() != nil || !strings.Contains(msg, want) {
		t.Fatalf("want HTTP 500 without auth saying %q, got %s", want, r)
	}
	for _, setup := range []string{stk.KubeHost, strings.TrimPrefix(stk.KubeHost, "https://"), "x509", "certificate", "TLS",
		"cannot get", "RBAC", "token_reviewer_jwt", "bound_"} {
		if strings.Contains(msg, setup) {
			t.Fatalf("the holder is told %q, which holds %q", msg, setup)
		}
	}
}

// Narrowing a role's pod bindings reaches the tokens it already issued: a
// periodic token of a pod the role no longer binds stops renewing, as a
// fresh login with its JWT is refused, and renews again once the role
// binds the pod again.
func TestRenewalAfterPodBindingsNarrowed(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "narrowed", nil)
	node := newNode(t)
	pod := newBoundPod(t, w.Namespace, w.SA.Name, "web-0", node, map[string]string{"app": "web"})
	jwt := podToken(t, pod)
	m.bindRole(t, "pods", w, map[string]any{"bound_pod_names": "web-*", "bound_node_names": node, "token_period": "1h"})
	tok := m.mustLogin(t, "pods", jwt).Str("client_token")
	renew := func() *realstack.Reply {
		return call(t, http.MethodPost, "auth/token/renew-self", tok, map[string]any{})
	}
	expectStatus(t, renew(), http.StatusOK)

	for _, narrowed := range []struct {
		fields map[string]any
		reason string
	}{
		{map[string]any{"bound_pod_names": "db-*"}, "pod_not_bound"},
		{map[string]any{"bound_node_names": "gpu-*"}, "node_not_bound"},
		{map[string]any{"bound_pod_label_selector": `{"matchLabels":{"app":"db"}}`}, "pod_not_bound"},
	} {
		expectOK(t, root(t, http.MethodPatch, "auth/"+m.path+"/role/pods", narrowed.fields))
		realstack.ExpectDenied(t, m.login(t, "pods", jwt))
		expectRenewalAnswer(t, renew(), "renewal refused ("+narrowed.reason+`) by role "pods"; see the Vault server log`)
		realstack.WaitForLog(t, stk.VaultLogPath(), 10*time.Second, "renewal refused", "role=pods", "reason="+narrowed.reason,
			"service_account="+w.Namespace+"/"+w.SA.Name)
		m.bindRole(t, "pods", w, map[string]any{"bound_pod_names": "web-*", "bound_node_names": node, "token_period": "1h",
			"bound_pod_label_selector": `{"matchLabels":{"app":"web"}}`})
		expectStatus(t, renew(), http.StatusOK)
	}
}

// A renewal fault tells the token holder the fault kind, not the setup:
// with the config's CA not the API server's, or its host an address that
// refuses connections, the renewal of a token_bound_to_workload token
// answers a fixed sentence, and only Vault's log has the API's address and
// what failed.
func TestRenewalFaultTellsHolderNothing(t *testing.T) {
	t.Parallel()
	wrongCA, err := os.ReadFile(stk.AdminCert) // a certificate, not the serving CA
	if err != nil {
		t.Fatal(err)
	}
	refusing := closedAddress(t)
	for _, tc := range []struct {
		name   string
		config map[string]any
		kind   string
		logs   []string
	}{
		{"wrong CA", map[string]any{"kubernetes_ca_cert": string(wrongCA)}, "kubernetes_tls",
			[]string{stk.KubeHost, "failed TLS verification"}},
		{"refused connection", map[string]any{"kubernetes_host": "https://" + refusing}, "kubernetes_unreachable",
			[]string{refusing, "connection refused"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := configuredMount(t)
			w := stk.NewWorkload(t, "app", nil)
			role := realstack.UniqueName(t, "r")
			m.bindRole(t, role, w, map[string]any{"token_bound_to_workload": true, "token_period": "1h"})
			tok := m.mustLogin(t, role, vaultToken(t, w)).Str("client_token")
			renew := func() *realstack.Reply {
				return call(t, http.MethodPost, "auth/token/renew-self", tok, map[string]any{})
			}
			expectStatus(t, renew(), http.StatusOK)

			m.configure(t, tc.config)
			expectRenewalAnswer(t, renew(), "renewal failed ("+tc.kind+
				"): the Kubernetes API could not be reached or refused the check; see the Vault server log")
			realstack.WaitForLog(t, stk.VaultLogPath(), 10*time.Second,
				append([]string{"renewal failed", "role=" + role, "kind=" + tc.kind, "service_account=" + w.Namespace + "/" + w.SA.Name}, tc.logs...)...)
		})
	}
}

// closedAddress is a loopback address nothing listens on: a listener the
// test opened and closed, so a connection to it is refused at once.
func closedAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
