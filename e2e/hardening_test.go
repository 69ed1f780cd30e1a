package e2e

import (
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// genericFault is what an unauthenticated caller is told when Kubernetes
// could not be reached or refused the check; the details are in Vault's log.
const genericFault = "login failed: the Kubernetes API could not be reached or refused the check; see the Vault server log"

// expectGenericFault checks an HTTP 500 that says nothing about the setup.
func expectGenericFault(t *testing.T, r *realstack.Reply) {
	t.Helper()
	if r.Status != http.StatusInternalServerError || r.Auth() != nil {
		t.Fatalf("want HTTP 500 without auth, got %s", r)
	}
	if errs := r.Errors(); len(errs) != 1 || errs[0] != genericFault {
		t.Fatalf("want only the generic error %q, got %s", genericFault, r)
	}
}

// The login path is unauthenticated: a TLS failure towards the API server
// answers the caller with the generic fault, and only Vault's log has the
// API's address and what to fix.
func TestLoginFaultTellsCallerNothing(t *testing.T) {
	t.Parallel()
	// The admin client certificate is a certificate, but not the CA of the
	// apiserver's serving certificate.
	wrongCA, err := os.ReadFile(stk.AdminCert)
	if err != nil {
		t.Fatal(err)
	}
	m := newMount(t)
	m.configure(t, map[string]any{"kubernetes_ca_cert": string(wrongCA)})
	w := stk.NewWorkload(t, "app", nil)
	role := realstack.UniqueName(t, "r")
	m.bindRole(t, role, w, nil)

	expectGenericFault(t, m.login(t, role, vaultToken(t, w)))
	realstack.WaitForLog(t, stk.VaultLogPath(), 10*time.Second,
		"login failed", "role="+role, "kind=kubernetes_tls", stk.KubeHost, "failed TLS verification for the TokenReview (check kubernetes_ca_cert)")
}

// Forged tokens stay cheap and local: a namespace claim no namespace could
// have is refused (403, not a lookup failing with a 500), an oversized JWT
// is bad input, and a correctly signed token with an ambiguous payload is
// refused for its claims, not its signature.
func TestLoginForgedTokensStayLocal(t *testing.T) {
	t.Parallel()
	w := stk.NewWorkload(t, "app", map[string]string{"e2e-vault": "yes"})
	selector := map[string]any{
		"bound_service_account_names":              w.SA.Name,
		"bound_service_account_namespace_selector": `{"matchLabels":{"e2e-vault":"yes"}}`,
		"audience": "vault",
	}

	t.Run("namespace claim that is no namespace name", func(t *testing.T) {
		t.Parallel()
		m := configuredMount(t)
		role := realstack.UniqueName(t, "r")
		m.writeRole(t, role, selector)
		m.mustLogin(t, role, vaultToken(t, w))
		claims := claimsFor(w.SA, time.Now().Add(5*time.Minute))
		claims.Kubernetes.Namespace = "a/b"
		claims.Subject = "system:serviceaccount:a/b:" + w.SA.Name
		realstack.ExpectDenied(t, m.login(t, role, signRS256(t, newRSAKey(t), claims)))
		realstack.WaitForLog(t, stk.VaultLogPath(), 10*time.Second, "login refused", "role="+role, "reason=claims_invalid")
	})
	t.Run("oversized JWT", func(t *testing.T) {
		t.Parallel()
		m := configuredMount(t)
		role := realstack.UniqueName(t, "r")
		m.writeRole(t, role, selector)
		expectBadRequest(t, m.login(t, role, strings.Repeat("a", 100<<10)), "jwt: is 102400 bytes; the limit is 65536 bytes")
	})
	t.Run("duplicate key in a correctly signed token", func(t *testing.T) {
		t.Parallel()
		m := newMount(t)
		m.configure(t, map[string]any{"pem_keys": []string{stk.SAPubPEM}})
		role := realstack.UniqueName(t, "r")
		m.bindRole(t, role, w, nil)
		payload, err := json.Marshal(claimsFor(w.SA, time.Now().Add(5*time.Minute)))
		if err != nil {
			t.Fatal(err)
		}
		dup := strings.TrimSuffix(string(payload), "}") + `,"extra":{"a":1,"a":2}}`
		realstack.ExpectDenied(t, m.login(t, role, signPayloadRS256(t, stk.SAKey, []byte(dup))))
		realstack.WaitForLog(t, stk.VaultLogPath(), 10*time.Second, "login refused", "role="+role, "reason=claims_invalid")
		// The same claims without the duplicate log in: only the key was wrong.
		m.mustLogin(t, role, signPayloadRS256(t, stk.SAKey, payload))
	})
}

// Role writes refuse a selector that selects every namespace, pointing to
// the explicit way of saying so, and one over the size cap.
func TestRoleSelectorWriteLimits(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	for _, sel := range []string{"{}", "null", "# all of them"} {
		expectBadRequest(t, root(t, http.MethodPost, "auth/"+m.path+"/role/all", map[string]any{
			"bound_service_account_names": "app", "bound_service_account_namespace_selector": sel,
		}), "bound_service_account_namespace_selector", "bound_service_account_namespaces=*")
	}
	big := `{"matchLabels":{"a":"` + strings.Repeat("b", 5000) + `"}}`
	expectBadRequest(t, root(t, http.MethodPost, "auth/"+m.path+"/role/big", map[string]any{
		"bound_service_account_names": "app", "bound_service_account_namespace_selector": big,
	}), "bound_service_account_namespace_selector", "the limit is 4096 bytes")
	if r := root(t, http.MethodGet, "auth/"+m.path+"/role/all", nil); r.Status != http.StatusNotFound {
		t.Fatalf("a refused write stored a role: %s", r)
	}
}

// An issuer that disable_iss_validation keeps from being checked is stored,
// as with the built-in method, and the write warns that it is not enforced.
func TestConfigIssuerNotEnforcedWarns(t *testing.T) {
	t.Parallel()
	m := newMount(t)
	r := root(t, http.MethodPost, "auth/"+m.path+"/config", stk.ReviewerConfig(map[string]any{"issuer": stk.SAIssuer}))
	expectOK(t, r)
	if w := strings.Join(r.Body.Strs("warnings"), "\n"); !strings.Contains(w, "issuer is set but not enforced") {
		t.Fatalf("want a warning that the issuer is not enforced, got %s", r)
	}
	r = root(t, http.MethodPost, "auth/"+m.path+"/config", stk.ReviewerConfig(map[string]any{"issuer": stk.SAIssuer, "disable_iss_validation": false}))
	expectOK(t, r)
	if w := r.Body.Strs("warnings"); len(w) != 0 {
		t.Fatalf("unexpected warnings with issuer validation on: %s", r)
	}
}

// signPayloadRS256 signs payload bytes exactly as given, for tokens whose
// JSON no claims encoder would produce.
func signPayloadRS256(t *testing.T, key *rsa.PrivateKey, payload []byte) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sig.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
