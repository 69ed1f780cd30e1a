package kubeauth

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/logcut"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/satoken"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// barrierStorage refuses keys with a parent reference, as the storage
// Vault gives a plugin does, and counts reads.
type barrierStorage struct {
	logical.Storage
	gets atomic.Int64
}

func (s *barrierStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	s.gets.Add(1)
	if strings.Contains(key, "..") {
		return nil, consts.ErrPathContainsParentReferences
	}
	return s.Storage.Get(ctx, key)
}

// A role name no role can have is a 400 naming role, for the login, alias
// lookahead and resolve-role, before any storage read and without a log
// line; it was a storage fault (500, an Error line kind=internal quoting
// the name three times) for "..", whatever the caller.
func TestLoginRoleNameRefusedBeforeStorage(t *testing.T) {
	huge := strings.Repeat("a", 18<<10)
	bad := []string{"a..b", "..", "a/b", "../config", "role/web", "-web", "web-", "a b", "wéb", "a\x00b", huge,
		strings.Repeat("r", maxRoleNameLen+1)}
	for _, name := range bad {
		for _, op := range []logical.Operation{logical.UpdateOperation, logical.AliasLookaheadOperation, logical.ResolveRoleOperation} {
			t.Run(string(op)+"/"+logcut.String(name, 16), func(t *testing.T) {
				e := configured(t)
				s := &barrierStorage{Storage: e.storage}
				offset := len(e.logs.String())
				resp, err := e.b.HandleRequest(context.Background(), &logical.Request{
					Operation: op, Path: "login", Storage: s,
					Data:       map[string]any{"role": name, "jwt": e.token()},
					Connection: &logical.Connection{RemoteAddr: "10.1.2.3"},
				})
				requireBadRequest(t, resp, err, "role: ")
				if n := s.gets.Load(); n != 0 {
					t.Errorf("%d storage reads, want none", n)
				}
				if log := e.logs.String()[offset:]; log != "" {
					t.Errorf("want no log line, got %d bytes: %.300s", len(log), log)
				}
				if msg := resp.Error().Error(); len(msg) > 512 {
					t.Errorf("the 400 is %d bytes", len(msg))
				}
			})
		}
	}
}

// Names as long as a role may be still log in, case aside, and a longer
// one cannot be created; log lines hold at most 64 bytes of a role name.
func TestLoginRoleNameLength(t *testing.T) {
	e := configured(t)
	long := strings.Repeat("r", maxRoleNameLen)
	e.writeRole(long, nil)
	e.mustLogin(strings.ToUpper(long), e.token())
	resp, err := e.do(logical.UpdateOperation, "role/"+long+"r", roleData())
	requireBadRequest(t, resp, err, "name: ")

	offset := len(e.logs.String())
	resp, err = e.login(long, e.tokenFor("elsewhere", testkit.SAName, testkit.SAUID))
	e.requireDenied(resp, err, refusal.ReasonNamespace)
	for _, l := range e.logLines(offset) {
		if v, _ := l["role"].(string); strings.Contains(v, long[:logcut.ValueMax+1]) {
			t.Errorf("log line %q holds more than %d bytes of the role name: %q", l["@message"], logcut.ValueMax, v)
		}
	}
}

// Every caller-derived string in a refusal's log line is cut: a matrix of
// hostile tokens (huge header and claims, huge alg, iss, aud, sub, kid,
// duplicate keys, garbage claims) each gives one Info "login refused" line
// of at most 2 KiB that still names the reason.
func TestLoginRefusalLogLineBounded(t *testing.T) {
	const bound = 2 << 10
	// big is as long as a value can be inside the 64 KiB a login reads,
	// once encoded.
	big := func(c string) string { return strings.Repeat(c, (20<<10)/len(c)) }
	// bigEscaped is for characters JSON encodes in six bytes.
	bigEscaped := func(c string) string { return strings.Repeat(c, 6<<10) }
	signed := func(e *testEnv, edit func(map[string]any)) string {
		claims := testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault")
		edit(claims)
		return testkit.SignJWT(e.t, e.signer, jose.RS256, claims)
	}
	// rawToken signs nothing: for what is refused before the signature.
	rawToken := func(header, payload string) string { return testkit.B64(header) + "." + testkit.B64(payload) + ".c2ln" }
	many := func(n int, f func(i int) string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = f(i)
		}
		return strings.Join(parts, ",")
	}
	cases := []struct {
		name     string
		role     map[string]any
		token    func(e *testEnv) string
		reason   string
		clusters bool // on a mount with a named cluster too
	}{
		{"huge alg", nil, func(*testEnv) string { return rawToken(`{"alg":"`+big("X")+`"}`, `{}`) }, refusal.ReasonAlgorithm, false},
		{"huge alg of quotes", nil, func(*testEnv) string { return rawToken(`{"alg":"`+big(`\"`)+`"}`, `{}`) }, refusal.ReasonAlgorithm, false},
		{"huge iss", nil, func(e *testEnv) string { return signed(e, func(c map[string]any) { c["iss"] = big("i") }) }, refusal.ReasonIssuer, false},
		{"huge iss of HTML", nil, func(e *testEnv) string { return signed(e, func(c map[string]any) { c["iss"] = bigEscaped("<") }) }, refusal.ReasonIssuer, false},
		{"huge iss of controls", nil, func(e *testEnv) string { return signed(e, func(c map[string]any) { c["iss"] = bigEscaped("\x01") }) }, refusal.ReasonIssuer, false},
		{"huge aud", nil, func(e *testEnv) string { return signed(e, func(c map[string]any) { c["aud"] = []string{big("a")} }) }, refusal.ReasonAudienceMismatch, false},
		{"many auds", nil, func(e *testEnv) string {
			return signed(e, func(c map[string]any) {
				c["aud"] = strings.Split(many(2000, func(int) string { return "audience" }), ",")
			})
		}, refusal.ReasonAudienceMismatch, false},
		{"huge sub", nil, func(e *testEnv) string { return signed(e, func(c map[string]any) { c["sub"] = big("s") }) }, refusal.ReasonClaims, false},
		{"huge namespace", nil, func(e *testEnv) string {
			return signed(e, func(c map[string]any) { c["kubernetes.io"].(map[string]any)["namespace"] = big("n") })
		}, refusal.ReasonClaims, false},
		{"huge service-account name", nil, func(e *testEnv) string {
			return signed(e, func(c map[string]any) {
				c["kubernetes.io"].(map[string]any)["serviceaccount"] = map[string]any{"name": big("m"), "uid": testkit.SAUID}
			})
		}, refusal.ReasonClaims, false},
		{"huge UID", nil, func(e *testEnv) string {
			return signed(e, func(c map[string]any) {
				c["kubernetes.io"].(map[string]any)["serviceaccount"] = map[string]any{"name": testkit.SAName, "uid": big("u")}
			})
		}, refusal.ReasonReviewRejected, false},
		{"many duplicate keys", nil, func(*testEnv) string {
			return rawToken(`{"alg":"RS256"}`, "{"+many(3000, func(int) string { return `"dup":1` })+"}")
		}, refusal.ReasonClaims, false},
		{"huge duplicate key", nil, func(*testEnv) string {
			k := big("k")
			return rawToken(`{"alg":"RS256"}`, `{"`+k+`":1,"`+k+`":2}`)
		}, refusal.ReasonClaims, false},
		{"many distinct keys then a duplicate", nil, func(*testEnv) string {
			return rawToken(`{"alg":"RS256"}`, "{"+many(200, func(i int) string { return `"k` + strings.Repeat("y", i) + `":1` })+`,"k":1,"k":1}`)
		}, refusal.ReasonClaims, false},
		{"garbage claim types", nil, func(*testEnv) string {
			return rawToken(`{"alg":"RS256"}`, `{"exp":"`+big("9")+`","kubernetes.io":{"namespace":[`+many(2000, func(int) string { return `"x"` })+`]}}`)
		}, refusal.ReasonClaims, false},
		{"huge header, no claims", nil, func(*testEnv) string { return rawToken(`{"alg":"RS256","x":"`+big("h")+`"}`, `{}`) }, refusal.ReasonIssuer, false},
		// A kid the cluster does not hold is reviewed in hybrid mode; signed
		// with a key that is not the cluster's, the review refuses it.
		{"huge kid, hybrid", map[string]any{"review_mode": "hybrid"}, func(e *testEnv) string {
			return testkit.SignJWTWithKid(e.t, testkit.PrivateKey(e.t, "other.key"), big("k"), testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault"))
		}, refusal.ReasonReviewRejected, false},
		{"huge iss of HTML, no cluster's", map[string]any{"bound_clusters": "*"}, func(e *testEnv) string {
			return signed(e, func(c map[string]any) { c["iss"] = bigEscaped("<") })
		}, refusal.ReasonClusterUnknown, true},
		{"huge UID, named clusters", map[string]any{"bound_clusters": "*"}, func(e *testEnv) string {
			return signed(e, func(c map[string]any) {
				c["kubernetes.io"].(map[string]any)["serviceaccount"] = map[string]any{"name": testkit.SAName, "uid": bigEscaped("&")}
			})
		}, refusal.ReasonClaims, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := configured(t)
			if tc.clusters {
				c := newClusterEnv(t, eastIssuer)
				c.writeEast(map[string]any{"issuer": eastIssuer})
				e = c.testEnv
			}
			e.writeConfig(map[string]any{"issuer": testkit.Issuer, "disable_iss_validation": false})
			if tc.role != nil {
				e.writeRole(testRole, tc.role)
			}
			tok := tc.token(e)
			if len(tok) > satoken.MaxJWTBytes {
				t.Fatalf("the test's token is %d bytes, over the %d the login reads", len(tok), satoken.MaxJWTBytes)
			}
			offset := len(e.logs.String())
			resp, err := e.login(testRole, tok)
			e.requireDenied(resp, err, tc.reason)
			var refused int
			for line := range strings.Lines(e.logs.String()[offset:]) {
				if len(line) > bound {
					t.Errorf("a log line of %d bytes, over %d: %.400s", len(line), bound, line)
				}
			}
			for _, l := range e.logLines(offset) {
				if l["@message"] == "login refused" {
					refused++
					t.Logf("refusal detail: %.200v", l["detail"])
					if l["@level"] != "info" || l["reason"] != tc.reason {
						t.Errorf("refusal line %v, want info with reason %s", l, tc.reason)
					}
				}
			}
			if refused != 1 {
				t.Errorf("%d login refused lines, want 1", refused)
			}
		})
	}
}

// FuzzLoginRoleName: a role name the login accepts is one the role path
// matches, within the cap, whose storage key is one plain key under the
// role prefix (no parent reference, no further level); anything else is a
// 400 naming role.
func FuzzLoginRoleName(f *testing.F) {
	for _, s := range []string{"web", "a..b", "a/b", "..", "Web", "a.b-c_d", "-", "é", strings.Repeat("r", maxRoleNameLen+1)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := validateLoginRoleName(name)
		if err != nil {
			var bad *refusal.InputError
			if !errors.As(err, &bad) || !strings.HasPrefix(bad.Msg, "role: ") {
				t.Fatalf("%q: %v, want a 400 naming role", name, err)
			}
			return
		}
		key := roleKey(strings.ToLower(name))
		rest, ok := strings.CutPrefix(key, rolePrefix)
		if !ok || rest == "" || strings.Contains(rest, "/") || strings.Contains(key, "..") || len(name) > maxRoleNameLen ||
			!roleNamePattern.MatchString(name) {
			t.Fatalf("%q accepted, with storage key %q", name, key)
		}
	})
}
