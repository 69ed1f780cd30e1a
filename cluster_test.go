package kubeauth

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/diagnose"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// eastIssuer is the issuer of the second fake cluster's tokens, when it
// does not share the first's.
const eastIssuer = "https://east.example"

// clusterEnv is a configured env (config: the fake API server e.kube) with
// a second fake cluster, east, that knows the same service account under
// another UID and signs with another key. The role binds both clusters.
type clusterEnv struct {
	*testEnv
	east       *fakeKube
	eastSigner crypto.Signer
}

const eastSAUID = "0b7e8f30-5c1d-4d7a-8f6e-2a9c4b1d0e77"

func newClusterEnv(t testing.TB, eastIss string) *clusterEnv {
	t.Helper()
	e := configured(t)
	signer := testkit.PrivateKey(t, "other.key")
	east := newFakeKube(t, signer.Public())
	east.addServiceAccount(testkit.Namespace, testkit.SAName, eastSAUID, nil)
	east.setReviewerToken(testReviewer)
	east.setIssuer(eastIss)
	return &clusterEnv{testEnv: e, east: east, eastSigner: signer}
}

// eastConfig is a cluster/<name> body for the east fake.
func (c *clusterEnv) eastConfig(overrides map[string]any) map[string]any {
	data := map[string]any{
		"kubernetes_host":    c.east.srv.URL,
		"kubernetes_ca_cert": c.east.caPEM,
		"token_reviewer_jwt": testReviewer,
	}
	for k, v := range overrides {
		data[k] = v
	}
	return data
}

func (c *clusterEnv) writeEast(overrides map[string]any) {
	c.t.Helper()
	c.mustDo(logical.UpdateOperation, "cluster/east", c.eastConfig(overrides))
}

// defaultToken and eastToken are bound tokens each cluster mints, with
// the kid its API server gives them.
func (c *clusterEnv) defaultToken() string {
	claims := testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault")
	return testkit.SignJWTWithKid(c.t, c.signer, testKeyID(c.t, c.signer.Public()), claims)
}

func (c *clusterEnv) eastToken(iss string) string {
	claims := testkit.Claims(testkit.Namespace, testkit.SAName, eastSAUID, "vault")
	claims["iss"] = iss
	return testkit.SignJWTWithKid(c.t, c.eastSigner, testKeyID(c.t, c.eastSigner.Public()), claims)
}

func publicPEM(t testing.TB, key crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// Distinct issuers: each token goes to its own cluster's TokenReview, and
// the cluster is in the token's and the alias's metadata.
func TestClusterChosenByIssuer(t *testing.T) {
	for _, tc := range []struct {
		name string
		east map[string]any
	}{
		{"issuer field", map[string]any{"issuer": eastIssuer}},
		{"announced issuer", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClusterEnv(t, eastIssuer)
			c.writeConfig(map[string]any{"issuer": testkit.Issuer})
			c.writeEast(tc.east)
			c.writeRole(testRole, map[string]any{"bound_clusters": "*", "alias_name_source": "serviceaccount_name"})

			auth := c.mustLogin(testRole, c.eastToken(eastIssuer))
			if got := auth.Metadata["cluster"]; got != "east" {
				t.Errorf("metadata cluster = %q, want east", got)
			}
			if got := auth.Alias.Metadata["cluster"]; got != "east" {
				t.Errorf("alias metadata cluster = %q, want east", got)
			}
			if got, want := auth.Alias.Name, "east/"+testkit.Namespace+"/"+testkit.SAName; got != want {
				t.Errorf("alias name = %q, want %q", got, want)
			}
			if got := auth.Metadata[metaSAUID]; got != eastSAUID {
				t.Errorf("uid %q, want east's %q", got, eastSAUID)
			}
			if c.east.reviews.Load() != 1 || c.kube.reviews.Load() != 0 {
				t.Errorf("reviews: east %d, default %d; want 1 and 0", c.east.reviews.Load(), c.kube.reviews.Load())
			}

			auth = c.mustLogin(testRole, c.defaultToken())
			if got := auth.Metadata["cluster"]; got != defaultCluster {
				t.Errorf("metadata cluster = %q, want default", got)
			}
			if got, want := auth.Alias.Name, testkit.Namespace+"/"+testkit.SAName; got != want {
				t.Errorf("default cluster alias name = %q, want %q (unchanged by a second cluster)", got, want)
			}
			if c.kube.reviews.Load() != 1 {
				t.Errorf("default cluster reviews = %d, want 1", c.kube.reviews.Load())
			}
		})
	}
}

// One issuer for both clusters: the signing key tells them apart, from
// pem_keys or from each API server's published keys, and a token of one
// cluster does not make the other's key set refresh.
func TestClusterSharedIssuerToldApartByKey(t *testing.T) {
	for _, withPEM := range []bool{true, false} {
		name := "published keys"
		if withPEM {
			name = "pem_keys"
		}
		t.Run(name, func(t *testing.T) {
			c := newClusterEnv(t, testkit.Issuer)
			clk := useTestClock(c.testEnv)
			if withPEM {
				c.writeConfig(map[string]any{"pem_keys": publicPEM(t, c.signer.Public())})
				c.writeEast(map[string]any{"pem_keys": publicPEM(t, c.eastSigner.Public())})
			} else {
				c.writeEast(nil)
			}
			c.writeRole(testRole, map[string]any{"bound_clusters": "default,east"})

			for i := 0; i < 3; i++ {
				if got := c.mustLogin(testRole, c.eastToken(testkit.Issuer)).Metadata["cluster"]; got != "east" {
					t.Fatalf("east token: cluster %q", got)
				}
				if got := c.mustLogin(testRole, c.defaultToken()).Metadata["cluster"]; got != defaultCluster {
					t.Fatalf("default token: cluster %q", got)
				}
				// Past the key sets' minimum interval between refreshes, so
				// that asking a set for a kid it lacks would refetch.
				clk.Advance(6 * time.Second)
			}
			if c.east.reviews.Load() != 3 || c.kube.reviews.Load() != 3 {
				t.Errorf("reviews: east %d, default %d; want 3 each", c.east.reviews.Load(), c.kube.reviews.Load())
			}
			if !withPEM {
				// Each key set was fetched once: a kid held by one set is not
				// looked for in the other.
				if d, e := c.kube.jwksGets.Load(), c.east.jwksGets.Load(); d != 1 || e != 1 {
					t.Errorf("key set fetches: default %d, east %d; want 1 each", d, e)
				}
			}
		})
	}
}

func TestClusterUnknownAmbiguousNotBound(t *testing.T) {
	c := newClusterEnv(t, eastIssuer)
	c.writeEast(map[string]any{"issuer": eastIssuer})
	c.writeRole(testRole, map[string]any{"bound_clusters": "*"})
	c.writeRole("home", nil) // bound_clusters unset: the default cluster only

	resp, err := c.login(testRole, c.eastToken("https://elsewhere"))
	c.requireDenied(resp, err, refusal.ReasonClusterUnknown)

	resp, err = c.login("home", c.eastToken(eastIssuer))
	c.requireDenied(resp, err, refusal.ReasonClusterNotBound)
	if !strings.Contains(c.logs.String(), `"cluster":"east"`) {
		t.Errorf("the refusal's log line does not name the token's cluster:\n%s", c.logs.String())
	}
	if c.east.reviews.Load() != 0 {
		t.Fatal("a token of a cluster the role does not bind was reviewed")
	}
	c.mustLogin("home", c.defaultToken())

	// A second entry for the same cluster makes its tokens ambiguous.
	c.mustDo(logical.UpdateOperation, "cluster/east-again", c.eastConfig(map[string]any{"issuer": eastIssuer}))
	resp, err = c.login(testRole, c.eastToken(eastIssuer))
	c.requireDenied(resp, err, refusal.ReasonClusterAmbiguous)

	// A role bound to east alone refuses the default cluster's tokens.
	c.writeRole("east-only", map[string]any{"bound_clusters": "east"})
	resp, err = c.login("east-only", c.defaultToken())
	c.requireDenied(resp, err, refusal.ReasonClusterNotBound)
}

// A mount with config alone issues exactly the metadata it always did.
func TestSingleClusterIssuesNoClusterMetadata(t *testing.T) {
	e := configured(t)
	auth := e.mustLogin(testRole, e.token())
	if _, ok := auth.Metadata["cluster"]; ok {
		t.Errorf("token metadata has cluster: %v", auth.Metadata)
	}
	if _, ok := auth.Alias.Metadata["cluster"]; ok {
		t.Errorf("alias metadata has cluster: %v", auth.Alias.Metadata)
	}
	if _, ok := auth.InternalData["cluster"]; ok {
		t.Errorf("internal data has cluster: %v", auth.InternalData)
	}
	if got := e.rawEntry("role/" + testRole); got["bound_clusters"] != nil {
		t.Errorf("a role without bound_clusters stores it: %v", got)
	}
}

// A cluster that is down fails its own logins only.
func TestClusterDownAffectsOnlyItsLogins(t *testing.T) {
	c := newClusterEnv(t, eastIssuer)
	c.writeEast(nil) // issuer from its API server: unknown once it is down
	c.writeRole(testRole, map[string]any{"bound_clusters": "*"})
	c.east.srv.Close()

	for i := 0; i < 3; i++ {
		c.mustLogin(testRole, c.defaultToken())
	}
	resp, err := c.login(testRole, c.eastToken(eastIssuer))
	if err == nil || errors.Is(err, logical.ErrPermissionDenied) || resp != nil && resp.Auth != nil {
		t.Fatalf("a token of the cluster that is down: err=%v resp=%#v; want a fault", err, resp)
	}
	if strings.Contains(err.Error(), c.east.srv.URL) {
		t.Errorf("the unauthenticated caller learns the cluster's address: %v", err)
	}
	if !strings.Contains(c.logs.String(), `cluster \"east\"`) {
		t.Errorf("the log does not name the cluster that failed:\n%s", c.logs.String())
	}
}

func TestClusterAPI(t *testing.T) {
	c := newClusterEnv(t, eastIssuer)

	for name, want := range map[string]string{
		"East":                  "lower-case letters",
		"e_ast":                 "lower-case letters",
		"default":               "write config instead",
		strings.Repeat("a", 64): "longer than 63",
	} {
		resp, err := c.do(logical.UpdateOperation, "cluster/"+name, c.eastConfig(nil))
		requireBadRequest(t, resp, err, want)
		if c.rawEntry("cluster/"+name) != nil {
			t.Errorf("cluster/%s stored after a refused write", name)
		}
	}
	resp, err := c.do(logical.UpdateOperation, "cluster/east", c.eastConfig(map[string]any{"kubernetes_host": ""}))
	requireBadRequest(t, resp, err, "kubernetes_host")

	c.writeEast(map[string]any{"issuer": eastIssuer})
	read := c.mustDo(logical.ReadOperation, "cluster/east", nil).Data
	if read["token_reviewer_jwt_set"] != true || read["kubernetes_host"] != c.east.srv.URL || read["issuer"] != eastIssuer {
		t.Errorf("read: %v", read)
	}
	if _, ok := read["token_reviewer_jwt"]; ok {
		t.Error("read returns the reviewer JWT")
	}
	if got := c.rawEntry("cluster/east"); got["token_reviewer_jwt"] != testReviewer {
		t.Errorf("stored: %v", got)
	}
	if keys := c.mustDo(logical.ListOperation, "cluster/", nil).Data["keys"]; !slices.Equal(asStrings(keys), []string{"east"}) {
		t.Errorf("LIST cluster = %v", keys)
	}

	// PATCH keeps what it does not send, the reviewer JWT included.
	c.mustDo(logical.PatchOperation, "cluster/east", map[string]any{"disable_iss_validation": false})
	if got := c.rawEntry("cluster/east"); got["token_reviewer_jwt"] != testReviewer || got["issuer"] != eastIssuer || got["disable_iss_validation"] != false {
		t.Errorf("after PATCH: %v", got)
	}
	resp, err = c.do(logical.PatchOperation, "cluster/west", map[string]any{"issuer": "x"})
	if code := statusOf(resp, err); code != http.StatusNotFound || c.rawEntry("cluster/west") != nil {
		t.Errorf("PATCH of a missing cluster: %d", code)
	}

	// Roles may name only clusters that exist; reads show the field only
	// when set.
	resp, err = c.do(logical.UpdateOperation, "role/web", withFields(roleData(), map[string]any{"bound_clusters": "west"}))
	requireBadRequest(t, resp, err, `cluster "west" does not exist`)
	resp, err = c.do(logical.UpdateOperation, "role/web", withFields(roleData(), map[string]any{"bound_clusters": "West"}))
	requireBadRequest(t, resp, err, "bound_clusters")
	if _, ok := c.mustDo(logical.ReadOperation, "role/web", nil).Data["bound_clusters"]; ok {
		t.Error("a role without bound_clusters reads it")
	}
	c.writeRole("pinned", map[string]any{"bound_clusters": "east"})
	c.writeRole("any", map[string]any{"bound_clusters": "*"})
	if got := c.mustDo(logical.ReadOperation, "role/pinned", nil).Data["bound_clusters"]; !slices.Equal(asStrings(got), []string{"east"}) {
		t.Errorf("bound_clusters read = %v", got)
	}

	// Deleting a cluster a role names is refused, naming the role.
	resp, err = c.do(logical.DeleteOperation, "cluster/east", nil)
	requireBadRequest(t, resp, err, `"pinned"`)
	if c.rawEntry("cluster/east") == nil {
		t.Fatal("cluster deleted although a role names it")
	}
	c.mustDo(logical.PatchOperation, "role/pinned", map[string]any{"bound_clusters": nil})
	c.mustDo(logical.DeleteOperation, "cluster/east", nil)
	if c.rawEntry("cluster/east") != nil {
		t.Fatal("cluster still stored")
	}
	// Gone (a role binding * never held it), its tokens go to the one
	// cluster left, whose TokenReview refuses them.
	resp, err = c.login("any", c.eastToken(eastIssuer))
	c.requireDenied(resp, err, refusal.ReasonReviewRejected)

	resp, err = c.do(logical.DeleteOperation, "cluster/default", nil)
	requireBadRequest(t, resp, err, "write config instead")
	if !slices.Contains(c.b.PathsSpecial.SealWrapStorage, clusterPrefix) {
		t.Error("cluster entries are not seal-wrapped")
	}
}

// A renewal goes back to the token's cluster and needs the role to still
// accept it.
func TestClusterRenewal(t *testing.T) {
	c := newClusterEnv(t, eastIssuer)
	c.writeEast(map[string]any{"issuer": eastIssuer})
	c.writeRole(testRole, map[string]any{"bound_clusters": "*", "token_bound_to_workload": true})
	auth := c.mustLogin(testRole, c.eastToken(eastIssuer))
	if got := auth.InternalData["cluster"]; got != "east" {
		t.Fatalf("internal data cluster = %v", got)
	}
	before := c.east.serviceAccountGets.Load()
	resp, err := c.renew(auth)
	requireRenewed(t, resp, err)
	if c.east.serviceAccountGets.Load() != before+1 || c.kube.serviceAccountGets.Load() != 0 {
		t.Errorf("the workload was not looked up in east: east %d, default %d", c.east.serviceAccountGets.Load()-before, c.kube.serviceAccountGets.Load())
	}

	c.writeRole(testRole, map[string]any{"bound_clusters": "default", "token_bound_to_workload": true})
	resp, err = c.renew(auth)
	requireRenewRefused(t, resp, err, `no longer accepts tokens from cluster "east"`)
}

// explain lists every cluster with what the choice made of it.
func TestExplainShowsClusterCandidates(t *testing.T) {
	c := newClusterEnv(t, eastIssuer)
	c.writeEast(map[string]any{"issuer": eastIssuer})
	c.writeRole(testRole, nil)

	out, _ := c.explain(testRole, c.eastToken(eastIssuer))
	requireStep(t, out, "cluster", outcomeRefused, refusal.ReasonClusterNotBound, `from cluster "east"`)
	got := map[string]string{}
	for _, v := range out["clusters"].([]any) {
		m := v.(map[string]any)
		got[m["name"].(string)] = m["outcome"].(string) + ": " + m["detail"].(string)
	}
	if !strings.HasPrefix(got["east"], "chosen: ") || !strings.HasPrefix(got["default"], "dropped: ") ||
		!strings.Contains(got["default"], testkit.Issuer) {
		t.Errorf("clusters: %v", got)
	}

	// A token refused before the cluster step has no verdicts to show.
	out, _ = c.explain(testRole, "not-a-jwt")
	if got, ok := out["clusters"]; ok && got != nil {
		t.Errorf("clusters before the cluster step: %v", got)
	}

	single := configured(t)
	out, _ = single.explain(testRole, single.token())
	requireStep(t, out, "cluster", outcomeSkipped, "", "one cluster")
	if _, ok := out["clusters"]; ok {
		t.Error("a single-cluster mount's explain lists clusters")
	}
}

// cluster/<name>/check checks that cluster; cluster/default/check is
// config/check.
func TestClusterCheck(t *testing.T) {
	c := newClusterEnv(t, eastIssuer)
	c.writeEast(nil)
	c.east.deny("create", "tokenreviews")
	east := c.mustDo(logical.ReadOperation, "cluster/east/check", nil).Data
	def := c.mustDo(logical.ReadOperation, "cluster/default/check", nil).Data
	if !strings.Contains(east["verdict"].(string), "create_tokenreviews") {
		t.Errorf("east verdict: %v", east["verdict"])
	}
	if !strings.HasPrefix(def["verdict"].(string), "ok") {
		t.Errorf("default verdict: %v", def["verdict"])
	}
	resp, err := c.do(logical.ReadOperation, "cluster/west/check", nil)
	requireBadRequest(t, resp, err, `cluster "west" does not exist`)
}

// The TokenReview and the login are counted under the token's cluster.
func TestClusterMetricsLabel(t *testing.T) {
	c := newClusterEnv(t, eastIssuer)
	c.writeEast(map[string]any{"issuer": eastIssuer})
	c.writeRole(testRole, map[string]any{"bound_clusters": "*"})
	c.mustLogin(testRole, c.eastToken(eastIssuer))
	mfs := c.scrape()
	requireSeries(t, mfs,
		wantSeries{"kubeauth_logins_total", []string{"cluster", "east", "outcome", "success", "role", "web"}, 1},
		wantSeries{"kubeauth_tokenreview_duration_seconds", []string{"cluster", "east", "result", "authenticated"}, 1},
		wantSeries{"kubeauth_tokenreview_duration_seconds", []string{"cluster", "default", "result", "authenticated"}, 0},
	)
	c.writeRole(testRole, nil)
	c.mustDo(logical.DeleteOperation, "cluster/east", nil)
	if got := metricValue(c.scrape(), "kubeauth_logins_total", "cluster", "east", "outcome", "success", "role", "web"); got != -1 {
		t.Errorf("a deleted cluster's series remain: %v", got)
	}
}

func TestValidateClusterName(t *testing.T) {
	for _, ok := range []string{"east", "eu-west-1", "a", "0", strings.Repeat("a", 63)} {
		if err := validateClusterName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "default", "East", "-a", "a-", "a_b", "a.b", "a/b", "*", strings.Repeat("a", 64), "é"} {
		if err := validateClusterName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestBindsCluster(t *testing.T) {
	for _, tc := range []struct {
		bound   []string
		cluster string
		want    bool
	}{
		{nil, defaultCluster, true},
		{nil, "east", false},
		{[]string{"east"}, "east", true},
		{[]string{"east"}, defaultCluster, false},
		{[]string{"*"}, "west", true},
		{[]string{"default", "east"}, defaultCluster, true},
	} {
		c := clusterBindings{BoundClusters: tc.bound}
		if got := c.bindsCluster(tc.cluster); got != tc.want {
			t.Errorf("%q binds %q = %v, want %v", tc.bound, tc.cluster, got, tc.want)
		}
	}
}

// clusterCheck reads cluster/<name>/check as a client decodes it.
func (c *clusterEnv) clusterCheck(t *testing.T, name string) checkAnswer {
	t.Helper()
	return c.readCheck(t, "cluster/"+name+"/check")
}

// cluster_choice says how a cluster's tokens are told from the others',
// and fails when they cannot be.
func TestClusterChoiceCheck(t *testing.T) {
	single := configured(t)
	for _, ch := range single.configCheck(t).Checks {
		if ch.Name == diagnose.CheckClusterChoice {
			t.Fatal("a mount with config alone has a cluster_choice check")
		}
	}

	c := newClusterEnv(t, eastIssuer)
	c.writeEast(nil)
	east := c.clusterCheck(t, "east").get(t, diagnose.CheckClusterChoice)
	if east.Status != diagnose.Passed || !strings.Contains(east.Detail, "no other cluster has it") || east.Data["issuer"] != eastIssuer {
		t.Errorf("distinct issuers: %+v", east)
	}

	shared := newClusterEnv(t, testkit.Issuer)
	shared.writeEast(nil)
	for _, name := range []string{"east", defaultCluster} {
		got := shared.clusterCheck(t, name).get(t, diagnose.CheckClusterChoice)
		if got.Status != diagnose.Passed || !strings.Contains(got.Detail, "told apart by its 1 signing keys") {
			t.Errorf("%s, shared issuer: %+v", name, got)
		}
	}
	shared.mustDo(logical.UpdateOperation, "cluster/east-again", shared.eastConfig(nil))
	got := shared.clusterCheck(t, "east").get(t, diagnose.CheckClusterChoice)
	if got.Status != diagnose.Failed || !strings.Contains(got.Detail, `"east-again"`) || !strings.Contains(got.Fix, "delete one") {
		t.Errorf("two entries for one cluster: %+v", got)
	}

	// No issuer field and nothing to read the announced one with.
	self := newClusterEnv(t, eastIssuer)
	self.writeEast(map[string]any{"token_reviewer_jwt": "", "disable_local_ca_jwt": true})
	got = self.clusterCheck(t, "east").get(t, diagnose.CheckClusterChoice)
	if got.Status != diagnose.Failed || !strings.Contains(got.Fix, "set issuer on cluster/east") {
		t.Errorf("issuer unknown: %+v", got)
	}
}

// A cluster that is down fails its own check, not the others'.
func TestClusterChoiceCheckWithAClusterDown(t *testing.T) {
	c := newClusterEnv(t, eastIssuer)
	c.writeEast(nil)
	c.east.srv.Close()
	def := c.clusterCheck(t, defaultCluster)
	if !strings.HasPrefix(def.Verdict, "ok") {
		t.Errorf("the default cluster's check: %s", def.raw)
	}
	got := def.get(t, diagnose.CheckClusterChoice)
	if unknown, _ := got.Data["clusters_issuer_unknown"].([]any); len(unknown) != 1 || unknown[0] != "east" {
		t.Errorf("cluster_choice data: %v", got.Data)
	}
	if east := c.clusterCheck(t, "east"); strings.HasPrefix(east.Verdict, "ok") {
		t.Errorf("the check of the cluster that is down passes: %s", east.Verdict)
	}
}

// Each cluster has its own review cache: a write of one cluster's config
// drops its cache and no other's.
func TestClusterReviewCachesAreTheirOwn(t *testing.T) {
	c := newClusterEnv(t, eastIssuer)
	c.writeEast(map[string]any{"issuer": eastIssuer})
	c.writeRole(testRole, map[string]any{"bound_clusters": "*", "review_mode": "cached", "review_cache_ttl": "5m"})
	east, def := c.eastToken(eastIssuer), c.defaultToken()
	for i := 0; i < 2; i++ {
		c.mustLogin(testRole, east)
		c.mustLogin(testRole, def)
	}
	if c.east.reviews.Load() != 1 || c.kube.reviews.Load() != 1 {
		t.Fatalf("reviews: east %d, default %d; want 1 each (the second logins answered from each cluster's cache)",
			c.east.reviews.Load(), c.kube.reviews.Load())
	}
	c.writeConfig(nil) // the default cluster's config: its state, and cache, are replaced
	c.mustLogin(testRole, east)
	c.mustLogin(testRole, def)
	if c.east.reviews.Load() != 1 || c.kube.reviews.Load() != 2 {
		t.Errorf("after a config write: east %d, default %d reviews; want 1 and 2", c.east.reviews.Load(), c.kube.reviews.Load())
	}
}

// A named cluster left to Vault's own pod token is written, with a
// warning that the token belongs to the cluster Vault runs in; config
// does not warn about it.
func TestClusterPodTokenWarning(t *testing.T) {
	c := newClusterEnv(t, eastIssuer)
	dir := c.podDir()
	replaceFile(t, filepath.Join(dir, "token"), testReviewer)
	resp := c.mustDo(logical.UpdateOperation, "cluster/east", c.eastConfig(map[string]any{"token_reviewer_jwt": ""}))
	if resp == nil || !strings.Contains(strings.Join(resp.Warnings, "\n"), "Vault's own service-account token") {
		t.Fatalf("no warning about the pod's token: %#v", resp)
	}
	resp = c.mustDo(logical.UpdateOperation, "config", withFields(c.configData(), map[string]any{"token_reviewer_jwt": ""}))
	if resp != nil && strings.Contains(strings.Join(resp.Warnings, "\n"), "Vault's own service-account token") {
		t.Errorf("config warns about the pod's token: %v", resp.Warnings)
	}
	resp = c.mustDo(logical.UpdateOperation, "cluster/east", c.eastConfig(nil))
	if resp != nil && strings.Contains(strings.Join(resp.Warnings, "\n"), "Vault's own service-account token") {
		t.Errorf("a cluster with its own reviewer JWT warns about the pod's token: %v", resp.Warnings)
	}
}

// asStrings is a read's list value, nil when it is not a []string.
func asStrings(v any) []string {
	l, _ := v.([]string)
	return l
}

// withFields is data with the given fields added or replaced.
func withFields(data, fields map[string]any) map[string]any {
	maps.Copy(data, fields)
	return data
}
