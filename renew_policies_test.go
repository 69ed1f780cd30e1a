package kubeauth

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/helper/policyutil"
	"github.com/hashicorp/vault/sdk/logical"
)

// asVaultRecords is the token's auth as Vault hands it back at renewal: the
// token policies normalized at login ("default" added unless
// no_default_policy), and Policies with identity policies added.
func asVaultRecords(auth *logical.Auth, identityPolicies ...string) *logical.Auth {
	recorded := *auth
	recorded.TokenPolicies = policyutil.SanitizePolicies(slices.Clone(auth.Policies), !auth.NoDefaultPolicy)
	recorded.Policies = append(slices.Clone(recorded.TokenPolicies), identityPolicies...)
	recorded.IdentityPolicies = identityPolicies
	return &recorded
}

// A renewal is refused once the role grants other policies than the token
// holds: a narrowed role must not leave periodic tokens their old access.
func TestLoginRenewPoliciesChanged(t *testing.T) {
	cases := []struct {
		name   string
		update map[string]any // role change after the login
		ok     bool
	}{
		{"unchanged", nil, true},
		{"same policies in another order and case", map[string]any{"token_policies": "Write,read"}, true},
		{"other settings changed", map[string]any{"token_ttl": "20m"}, true},
		{"narrowed", map[string]any{"token_policies": "read"}, false},
		{"widened", map[string]any{"token_policies": "read,write,admin"}, false},
		{"emptied", map[string]any{"token_policies": ""}, false},
		{"default policy dropped", map[string]any{"token_no_default_policy": true}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := configured(t)
			e.writeRole(testRole, map[string]any{"token_policies": "read,write", "token_period": "1h"})
			resp, err := e.login(testRole, e.token())
			if err != nil || resp.IsError() {
				t.Fatalf("login: %v %#v", err, resp)
			}
			if tc.update != nil {
				// An update changes only the fields it sends.
				e.mustDo(logical.UpdateOperation, "role/"+testRole, tc.update)
			}
			for _, auth := range []*logical.Auth{resp.Auth, asVaultRecords(resp.Auth, "from-a-group")} {
				auth.IssueTime = time.Now()
				r, err := e.b.HandleRequest(t.Context(), &logical.Request{
					Operation: logical.RenewOperation, Path: "login", Storage: e.storage, Auth: auth,
				})
				switch {
				case tc.ok && (err != nil || r == nil || r.Auth == nil):
					t.Fatalf("renewal of %q refused: %v %#v", auth.TokenPolicies, err, r)
				case !tc.ok && (err == nil || !strings.HasPrefix(err.Error(), "renewal refused (policies_changed): the token's policies no longer match role \"web\"'s")):
					t.Fatalf("renewal of %q: want a refusal saying the policies changed, got %v", auth.TokenPolicies, err)
				}
				if err != nil {
					t.Log(err)
				}
			}
		})
	}
}

// A role with token_no_default_policy issues tokens without "default";
// they renew while the role keeps the setting.
func TestLoginRenewNoDefaultPolicy(t *testing.T) {
	e := configured(t)
	e.writeRole(testRole, map[string]any{"token_policies": "read", "token_no_default_policy": true})
	resp, err := e.login(testRole, e.token())
	if err != nil || resp.IsError() {
		t.Fatalf("login: %v %#v", err, resp)
	}
	auth := asVaultRecords(resp.Auth)
	if slices.Contains(auth.TokenPolicies, "default") {
		t.Fatalf("token policies %q", auth.TokenPolicies)
	}
	renew := func() error {
		auth.IssueTime = time.Now()
		_, err := e.b.HandleRequest(t.Context(), &logical.Request{
			Operation: logical.RenewOperation, Path: "login", Storage: e.storage, Auth: auth,
		})
		return err
	}
	if err := renew(); err != nil {
		t.Fatalf("renew: %v", err)
	}
	e.mustDo(logical.UpdateOperation, "role/"+testRole, map[string]any{"token_no_default_policy": false})
	if err := renew(); err == nil || !strings.Contains(err.Error(), "no longer match") {
		t.Fatalf("renew after the role added the default policy: %v", err)
	}
}

// A role that grants no policy at all issues tokens whose only policies
// come from the entity's groups; those are not the role's and renew.
func TestLoginRenewNoTokenPolicies(t *testing.T) {
	e := configured(t)
	e.writeRole(testRole, map[string]any{"token_policies": "", "token_no_default_policy": true})
	resp, err := e.login(testRole, e.token())
	if err != nil || resp.IsError() {
		t.Fatalf("login: %v %#v", err, resp)
	}
	auth := asVaultRecords(resp.Auth, "from-a-group")
	auth.IssueTime = time.Now()
	if _, err := e.b.HandleRequest(t.Context(), &logical.Request{
		Operation: logical.RenewOperation, Path: "login", Storage: e.storage, Auth: auth,
	}); err != nil {
		t.Fatalf("renew: %v", err)
	}
}
