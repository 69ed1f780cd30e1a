package kubeauth

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// The invariant of audiences, over every review mode and every mix of a
// token's audiences with the role's: a login passes exactly when the token
// carries one of the role's audiences, and a TokenReview, when one is made,
// asks for all of them.
func TestAudiencesInvariant(t *testing.T) {
	roleAuds := [][]string{{"vault"}, {"vault", "custom"}, {"a", "b", "c"}}
	tokenAuds := [][]string{{"vault"}, {"custom"}, {"c", "x"}, {"x"}, {"x", "y"}}
	modes := []map[string]any{nil, {"review_mode": "cached"}, {"review_mode": "hybrid"}, {"review_mode": "local", "local_max_token_age": "5m"}}
	for _, mode := range modes {
		e := configured(t)
		e.writeConfig(map[string]any{"issuer": testkit.Issuer})
		for _, ra := range roleAuds {
			role := map[string]any{"audience": "", "audiences": ra}
			for k, v := range mode {
				role[k] = v
			}
			e.writeRole(testRole, role)
			for _, ta := range tokenAuds {
				want := slices.ContainsFunc(ta, func(a string) bool { return slices.Contains(ra, a) })
				reviews := e.kube.reviews.Load()
				tok := e.boundToken(time.Now(), func(c map[string]any) { c["aud"] = ta })
				resp, err := e.login(testRole, tok)
				got := err == nil && resp != nil && resp.Auth != nil
				if got != want {
					t.Fatalf("mode %v, role audiences %q, token %q: logged in %v, want %v (resp=%v err=%v)", mode, ra, ta, got, want, resp, err)
				}
				if e.kube.reviews.Load() > reviews {
					if asked := e.kube.lastReviewSpec().Audiences; !slices.Equal(asked, ra) {
						t.Fatalf("mode %v: the TokenReview asked for %q, want the role's %q", mode, asked, ra)
					}
				}
			}
		}
	}
}

// audience and audiences together are a 400 that stores nothing; entries
// are checked; audiences reads back only when set and clears when sent
// empty; a role without it stores no such key.
func TestAudiencesWrite(t *testing.T) {
	e := configured(t)
	before := e.rawEntry("role/" + testRole)
	if _, ok := before["audiences"]; ok {
		t.Fatal("a role without audiences stores the key")
	}
	bad := []map[string]any{
		{"audiences": "a,b"}, // with the role's stored audience "vault"
		{"audience": "vault", "audiences": []string{"x"}},
		{"audience": "", "audiences": "a,,b"},
		{"audience": "", "audiences": []string{"a", "a"}},
		{"audience": "", "audiences": strings.Split(strings.Repeat("x,", 16)+"y", ",")},
	}
	for _, data := range bad {
		resp, err := e.do(logical.UpdateOperation, "role/"+testRole, data)
		code, msg := answerOf(logical.UpdateOperation, resp, err)
		if code != http.StatusBadRequest || !strings.HasPrefix(msg, "audiences") {
			t.Errorf("write %v: %d %q, want a 400 naming audiences", data, code, msg)
		}
		if after := e.rawEntry("role/" + testRole); !equalMaps(before, after) {
			t.Fatalf("write %v changed storage", data)
		}
	}
	e.mustDo(logical.UpdateOperation, "role/"+testRole, map[string]any{"audience": "", "audiences": "vault,custom"})
	read := e.mustDo(logical.ReadOperation, "role/"+testRole, nil).Data
	if got, _ := read["audiences"].([]string); !slices.Equal(got, []string{"vault", "custom"}) {
		t.Fatalf("audiences reads %v", read["audiences"])
	}
	if _, ok := read["audience"]; ok {
		t.Fatal("audience read back after it was cleared")
	}
	e.mustDo(logical.UpdateOperation, "role/"+testRole, map[string]any{"audiences": []string{}, "audience": "vault"})
	if _, ok := e.mustDo(logical.ReadOperation, "role/"+testRole, nil).Data["audiences"]; ok {
		t.Fatal("audiences read back after it was cleared")
	}
}
