package kubeauth

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// service_account_token_id is in the token's metadata exactly when the role
// asks for it and the token carries a jti that could be the API server's;
// a role that does not ask stores, reads and issues as before.
func TestIncludeTokenID(t *testing.T) {
	e := configured(t)
	if _, ok := e.rawEntry("role/" + testRole)["include_token_id"]; ok {
		t.Fatal("a role without include_token_id stores the key")
	}
	jtis := map[string]bool{
		"0b3f7c8e-5d2a-4e9b-8f41-6a7c2d9e1b05": true,
		"":                                     false,
		strings.Repeat("a", maxTokenIDLen+1):   false,
		"has space":                            false,
		"ctl\x01":                              false,
	}
	for _, include := range []bool{false, true} {
		if include {
			e.writeRole(testRole, map[string]any{"include_token_id": true})
			if got := e.mustDo(logical.ReadOperation, "role/"+testRole, nil).Data["include_token_id"]; got != true {
				t.Fatalf("include_token_id reads %v", got)
			}
		} else if _, ok := e.mustDo(logical.ReadOperation, "role/"+testRole, nil).Data["include_token_id"]; ok {
			t.Fatal("include_token_id read from a role that does not set it")
		}
		for jti, plausible := range jtis {
			tok := e.boundToken(time.Now(), func(c map[string]any) {
				if jti == "" {
					delete(c, "jti")
				} else {
					c["jti"] = jti
				}
			})
			resp, err := e.login(testRole, tok)
			if err != nil || resp == nil || resp.Auth == nil {
				t.Fatalf("login: %v %v", resp, err)
			}
			got, ok := resp.Auth.Metadata[metaTokenID]
			if want := include && plausible; ok != want || (want && got != jti) {
				t.Fatalf("include=%v jti %q: metadata %q present=%v", include, jti, got, ok)
			}
		}
	}
}
