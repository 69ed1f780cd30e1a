package kubeauth

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/satoken"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// lookahead asks for the alias a login would use.
func (e *testEnv) lookahead(role, jwt string) (*logical.Response, error) {
	e.t.Helper()
	return e.b.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.AliasLookaheadOperation, Path: "login", Storage: e.storage,
		Data: map[string]any{"role": role, "jwt": jwt}, Connection: &logical.Connection{RemoteAddr: "10.1.2.3"},
	})
}

// A named cluster's alias is prefixed with the cluster for both alias
// sources; the default cluster's is what Vault's method issues. The login,
// alias lookahead and explain name the same alias.
func TestAliasNamePerCluster(t *testing.T) {
	for _, tc := range []struct {
		source            string
		wantDefault, want string // the default cluster's, east's
	}{
		{aliasNameSourceUID, testkit.SAUID, "east/" + eastSAUID},
		{aliasNameSourceName, testkit.Namespace + "/" + testkit.SAName, "east/" + testkit.Namespace + "/" + testkit.SAName},
	} {
		t.Run(tc.source, func(t *testing.T) {
			c := newClusterEnv(t, eastIssuer)
			c.writeConfig(map[string]any{"issuer": testkit.Issuer})
			c.writeEast(map[string]any{"issuer": eastIssuer})
			c.writeRole(testRole, map[string]any{"bound_clusters": "*", "alias_name_source": tc.source})
			for _, l := range []struct{ cluster, jwt, want string }{
				{defaultCluster, c.defaultToken(), tc.wantDefault},
				{"east", c.eastToken(eastIssuer), tc.want},
			} {
				auth := c.mustLogin(testRole, l.jwt)
				if auth.Alias.Name != l.want || auth.Alias.Metadata[metaCluster] != l.cluster {
					t.Errorf("%s: alias %q (metadata %v), want %q with cluster %s", l.cluster, auth.Alias.Name, auth.Alias.Metadata, l.want, l.cluster)
				}
				resp, err := c.lookahead(testRole, l.jwt)
				if err != nil || resp == nil || resp.Auth == nil || resp.Auth.Alias.Name != l.want {
					t.Errorf("%s: lookahead %v %#v, want alias %q", l.cluster, err, resp, l.want)
				}
				out, _ := c.explain(testRole, l.jwt)
				if tok, _ := out["token"].(map[string]any); tok == nil || tok["alias_name"] != l.want {
					t.Errorf("%s: explain token %v, want alias_name %q", l.cluster, out["token"], l.want)
				}
			}
		})
	}

	// A mount with config alone: the bare UID, as Vault's method.
	e := configured(t)
	if auth := e.mustLogin(testRole, e.token()); auth.Alias.Name != testkit.SAUID {
		t.Errorf("config alone: alias %q, want %q", auth.Alias.Name, testkit.SAUID)
	}
}

// Whoever holds a named cluster's signing key can, in hybrid mode, log in
// through it with no TokenReview, claiming any UID: claiming the default
// cluster's service account's UID does not reach its entity.
func TestAliasForgedUIDStaysInItsCluster(t *testing.T) {
	c := newClusterEnv(t, eastIssuer)
	c.writeConfig(map[string]any{"issuer": testkit.Issuer})
	c.writeEast(map[string]any{"issuer": eastIssuer})
	c.writeRole(testRole, map[string]any{"bound_clusters": "*", "review_mode": "hybrid"})
	victim := c.mustLogin(testRole, c.defaultToken())

	claims := testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault") // the default cluster's UID
	claims["iss"] = eastIssuer
	forged := testkit.SignJWTWithKid(t, c.eastSigner, testKeyID(t, c.eastSigner.Public()), claims)
	auth := c.mustLogin(testRole, forged)
	if c.east.reviews.Load() != 0 {
		t.Fatalf("east made %d TokenReviews; the test wants a login its keys alone vouch for", c.east.reviews.Load())
	}
	if auth.Alias.Name == victim.Alias.Name {
		t.Fatalf("a token of cluster east got the default cluster's alias %q", auth.Alias.Name)
	}
}

// On a mount with named clusters, claims whose alias could be another
// cluster's are refused as claims_invalid before any TokenReview, by the
// login and the lookahead alike; a mount with config alone accepts them,
// as Vault's method does.
func TestAliasCollidingClaimsRefused(t *testing.T) {
	const uuidName = "0b7e8f30-5c1d-4d7a-8f6e-2a9c4b1d0e77" // east's UID, as a name
	for _, tc := range []struct {
		name               string
		source             string
		east               bool // signed by east, else by the default cluster
		namespace, sa, uid string
	}{
		{"default UID naming east's alias", aliasNameSourceUID, false, testkit.Namespace, testkit.SAName, "east/" + eastSAUID},
		{"east UID naming the default's namespace/name", aliasNameSourceUID, true, testkit.Namespace, testkit.SAName, "web"},
		{"upper-case UID", aliasNameSourceUID, false, testkit.Namespace, testkit.SAName, "7F3C2A8E-0D7B-4C1E-9A55-3F1F0B6E2D11"},
		{"default namespace/name reading as east/UID", aliasNameSourceName, false, "east", uuidName, testkit.SAUID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClusterEnv(t, eastIssuer)
			c.writeConfig(map[string]any{"issuer": testkit.Issuer})
			c.writeEast(map[string]any{"issuer": eastIssuer})
			c.writeRole(testRole, map[string]any{"bound_clusters": "*", "alias_name_source": tc.source,
				"bound_service_account_names": "*", "bound_service_account_namespaces": "*"})
			claims := testkit.Claims(tc.namespace, tc.sa, tc.uid, "vault")
			signer := c.signer
			if tc.east {
				claims["iss"], signer = eastIssuer, c.eastSigner
			}
			tok := testkit.SignJWTWithKid(t, signer, testKeyID(t, signer.Public()), claims)
			resp, err := c.login(testRole, tok)
			c.requireDenied(resp, err, refusal.ReasonClaims)
			resp, err = c.lookahead(testRole, tok)
			if !errors.Is(err, logical.ErrPermissionDenied) {
				t.Errorf("lookahead: %v %#v, want permission denied", err, resp)
			}
			if n := c.kube.reviews.Load() + c.east.reviews.Load(); n != 0 {
				t.Errorf("%d TokenReviews, want none", n)
			}
		})
	}

	// Config alone: a service account whose UID is no UUID, and one named
	// like a UUID, log in as with Vault's method.
	e := configured(t)
	e.writeRole(testRole, map[string]any{"bound_service_account_names": "*"})
	e.kube.addServiceAccount(testkit.Namespace, "odd", "not-a-uuid", nil)
	if auth := e.mustLogin(testRole, e.tokenFor(testkit.Namespace, "odd", "not-a-uuid")); auth.Alias.Name != "not-a-uuid" {
		t.Errorf("config alone: alias %q, want not-a-uuid", auth.Alias.Name)
	}
}

// identityCase is one login's claims through one cluster with one alias
// source.
type identityCase struct {
	cluster, source    string
	namespace, sa, uid string
}

// acceptedAlias runs the identity step as a login does on a mount whose
// named clusters are named, and returns the alias when it accepts.
func acceptedAlias(c identityCase, named []string) (string, bool) {
	claims := satoken.Claims{Kubernetes: &satoken.ProjectedClaims{
		Namespace:      c.namespace,
		ServiceAccount: satoken.ObjectRef{Name: c.sa, UID: c.uid},
	}}
	a := &attempt{
		role:          &roleEntry{AliasNameSource: c.source},
		token:         &satoken.Token{Claims: claims},
		cluster:       c.cluster,
		namedClusters: named,
	}
	if stepIdentity(context.Background(), a) != nil {
		return "", false
	}
	return a.aliasName(), true
}

// checkAliasesApart fails when two accepted logins through different
// clusters of the same mount get the same alias.
func checkAliasesApart(t *testing.T, x, y identityCase) {
	t.Helper()
	if x.cluster == y.cluster {
		return
	}
	var named []string
	for _, c := range []string{x.cluster, y.cluster} {
		if c == defaultCluster {
			continue
		}
		if validateClusterName(c) != nil {
			return // no such cluster can exist
		}
		named = append(named, c)
	}
	slices.Sort(named)
	ax, okx := acceptedAlias(x, named)
	ay, oky := acceptedAlias(y, named)
	if okx && oky && ax == ay {
		t.Fatalf("%+v and %+v both log in with alias %q", x, y, ax)
	}
}

// The invariant over many cases: for every pair of clusters and alias
// sources, no login through one cluster yields an alias that a login
// through another yields, whatever its claims hold (as far as the login
// accepts them). The hostile values are names and UIDs that read as
// another cluster's alias parts.
func TestAliasesApartAcrossClusters(t *testing.T) {
	const u1, u2 = "7f3c2a8e-0d7b-4c1e-9a55-3f1f0b6e2d11", "0b7e8f30-5c1d-4d7a-8f6e-2a9c4b1d0e77"
	clusters := []string{defaultCluster, "east", "west", "apps", "a"}
	namespaces := []string{"apps", "east", "west", "a", "default"}
	names := []string{"web", u1, u2, "east", "a.b"}
	uids := []string{u1, u2, "web", "east/" + u1, "apps/web", "east/apps/web", "a/b/c", "E", "/", u1 + "/x"}
	var all []identityCase
	for _, c := range clusters {
		for _, src := range []string{aliasNameSourceUID, aliasNameSourceName} {
			for _, ns := range namespaces {
				for _, n := range names {
					for _, u := range uids {
						all = append(all, identityCase{c, src, ns, n, u})
					}
				}
			}
		}
	}
	// Pairs with the same alias, found by alias: a pair per colliding
	// bucket is enough to fail.
	var accepted int
	for _, cs := range [][]string{{"east"}, {"east", "west"}, {"a", "apps", "east", "west"}} {
		byAlias := map[string][]identityCase{}
		for _, c := range all {
			if c.cluster != defaultCluster && !slices.Contains(cs, c.cluster) {
				continue
			}
			if alias, ok := acceptedAlias(c, cs); ok {
				accepted++
				byAlias[alias] = append(byAlias[alias], c)
			}
		}
		for alias, same := range byAlias {
			for _, x := range same[1:] {
				if x.cluster != same[0].cluster {
					t.Errorf("mount with clusters %v: %+v and %+v both get alias %q", cs, same[0], x, alias)
				}
			}
		}
	}
	if accepted == 0 {
		t.Fatal("no case was accepted; the test checks nothing")
	}
	// And the refusals are no broader than they must be: real identities
	// of every cluster log in.
	for _, c := range []identityCase{
		{defaultCluster, aliasNameSourceUID, "apps", "web", u1},
		{defaultCluster, aliasNameSourceName, "apps", "web", u1},
		{defaultCluster, aliasNameSourceName, "east", "web", u1}, // a namespace called like a cluster
		{defaultCluster, aliasNameSourceName, "apps", u2, u1},    // a name like a UID, elsewhere
		{"east", aliasNameSourceUID, "apps", "web", u2},
		{"east", aliasNameSourceName, "east", u2, u2},
	} {
		if _, ok := acceptedAlias(c, []string{"east"}); !ok {
			t.Errorf("%+v is refused", c)
		}
	}
}

// FuzzAliasesApart: any two logins through different clusters of a mount
// that has both, with any alias sources and any claims the identity step
// accepts, get different aliases.
func FuzzAliasesApart(f *testing.F) {
	const u = "7f3c2a8e-0d7b-4c1e-9a55-3f1f0b6e2d11"
	f.Add("default", true, "apps", "web", "east/"+u, "east", true, "apps", "web", u)
	f.Add("default", false, "east", u, u, "east", true, "apps", "web", u)
	f.Add("east", true, "apps", "web", "web", "default", false, "east", "web", u)
	f.Add("east", false, "apps", "web", u, "west", false, "apps", "web", u)
	f.Add("e", true, "apps", "web", "ast/"+u, "east", true, "apps", "web", u)
	f.Fuzz(func(t *testing.T, c1 string, uid1 bool, ns1, n1, u1 string, c2 string, uid2 bool, ns2, n2, u2 string) {
		src := func(uid bool) string {
			if uid {
				return aliasNameSourceUID
			}
			return aliasNameSourceName
		}
		checkAliasesApart(t, identityCase{c1, src(uid1), ns1, n1, u1}, identityCase{c2, src(uid2), ns2, n2, u2})
	})
}
