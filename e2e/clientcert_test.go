package e2e

import (
	"net/http"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// reviewerCert issues a client certificate for a user of the test's own
// from the stack apiserver's client CA and returns the user name, the
// certificate and its key.
func reviewerCert(t *testing.T, prefix string) (user, certPEM, keyPEM string) {
	t.Helper()
	user = realstack.UniqueName(t, prefix)
	cert, key, err := stk.IssueClientCert(user)
	if err != nil {
		t.Fatal(err)
	}
	return user, string(cert), string(key)
}

// certConfig is the stack's config with a client certificate as the
// reviewer instead of the reviewer JWT.
func certConfig(certPEM, keyPEM string) map[string]any {
	return stk.ReviewerConfig(map[string]any{
		"token_reviewer_jwt":         "",
		"token_reviewer_client_cert": certPEM,
		"token_reviewer_client_key":  keyPEM,
	})
}

// pemBody is a line from the middle of a PEM block: what must never be in
// an answer that should not hold the block.
func pemBody(pemText string) string {
	lines := strings.Split(strings.TrimSpace(pemText), "\n")
	return lines[len(lines)/2]
}

// A client certificate issued by the API server's client CA, for a user
// bound to system:auth-delegator, as the reviewer with no reviewer JWT:
// logins pass, config/check says Kubernetes authenticates the reviewer as
// the certificate's user and that it may create TokenReviews, and no read
// returns the key (the read says token_reviewer_client_key_set). Without
// the certificate (the login JWT reviewing itself, which may not) the same
// login is refused. A certificate of a user without the binding fails the
// login with the generic fault and config/check names the permission and
// the binding to create.
func TestClientCertificateAsTheReviewer(t *testing.T) {
	t.Parallel()
	w := stk.NewWorkload(t, "app", nil)
	jwt := vaultToken(t, w)

	t.Run("bound to system:auth-delegator", func(t *testing.T) {
		t.Parallel()
		user, certPEM, keyPEM := reviewerCert(t, "cert-reviewer")
		bindSubjectAuthDelegator(t, user+"-auth-delegator", rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user})
		m := newMount(t)
		expectOK(t, root(t, http.MethodPost, "auth/"+m.path+"/config", certConfig(certPEM, keyPEM)))
		m.bindRole(t, "app", w, nil)
		a := m.checkEventually(t, "create_tokenreviews", "passed")
		if got := a.checks["reviewer_identity"].Object("data").Str("username"); got != user {
			t.Errorf("reviewer_identity: Kubernetes authenticates the reviewer as %q, want the certificate's user %q: %s", got, user, a.reply)
		}
		m.mustLogin(t, "app", jwt)
		for _, path := range []string{"config", "config/check"} {
			r := root(t, http.MethodGet, "auth/"+m.path+"/"+path, nil)
			if strings.Contains(string(r.Raw), pemBody(keyPEM)) || r.Data()["token_reviewer_client_key"] != nil {
				t.Errorf("%s returns the client key: %s", path, r)
			}
		}
		read := root(t, http.MethodGet, "auth/"+m.path+"/config", nil).Data()
		if read["token_reviewer_client_key_set"] != true || read.Str("token_reviewer_client_cert") != certPEM {
			t.Errorf("config read: token_reviewer_client_key_set %v, token_reviewer_client_cert %q", read["token_reviewer_client_key_set"], read.Str("token_reviewer_client_cert"))
		}

		// The certificate is what lets the reviewer in: without it the
		// login JWT reviews itself, which it may not, and the login is
		// refused.
		expectOK(t, root(t, http.MethodPatch, "auth/"+m.path+"/config", map[string]any{
			"token_reviewer_client_cert": nil, "token_reviewer_client_key": nil,
		}))
		realstack.ExpectDenied(t, m.login(t, "app", jwt))
	})

	t.Run("not bound", func(t *testing.T) {
		t.Parallel()
		user, certPEM, keyPEM := reviewerCert(t, "cert-unbound")
		m := newMount(t)
		expectOK(t, root(t, http.MethodPost, "auth/"+m.path+"/config", certConfig(certPEM, keyPEM)))
		m.bindRole(t, "app", w, nil)
		expectGenericFault(t, m.login(t, "app", jwt))
		a := expectCheckFails(t, m, "create_tokenreviews", []string{user, "tokenreviews"}, []string{"system:auth-delegator", user})
		if got := a.checks["reviewer_identity"].Object("data").Str("username"); got != user {
			t.Errorf("reviewer_identity: %q, want %q", got, user)
		}
	})
}
