package e2e

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// Several clusters behind one mount: config is the suite's cluster (named
// "default"), cluster/<name> a second cluster the test starts (its own
// kube-apiserver, see secondcluster_test.go). The login request is the
// same for both; the plugin tells the clusters apart from the token.

// addCluster writes cluster/<name> for cluster c.
func (m *mount) addCluster(t *testing.T, name string, c *realstack.Cluster, extra map[string]any) {
	t.Helper()
	expectOK(t, root(t, http.MethodPost, "auth/"+m.path+"/cluster/"+name, c.ReviewerConfig(extra)))
}

// role is a role name unique to the mount, so that the log line of a
// refusal is this test's and no other's.
func (m *mount) role(name string) string { return m.path + "-" + name }

// twoClusters is a mount with the suite's cluster as config and c as
// cluster/<name>, and a service account that exists in both (same
// namespace and name): w in the suite's cluster, mirror in c.
func twoClusters(t *testing.T, c *realstack.Cluster, name string) (m *mount, w, mirror realstack.Workload) {
	t.Helper()
	m = configuredMount(t)
	m.addCluster(t, name, c, nil)
	w = stk.NewWorkload(t, "app", nil)
	return m, w, c.Mirror(t, w)
}

// expectCluster checks that a login's token and entity alias carry the
// cluster and the service account of that cluster, and returns the alias.
func expectCluster(t *testing.T, m *mount, a realstack.Object, cluster string, w realstack.Workload) realstack.Object {
	t.Helper()
	meta := a.StringMap("metadata")
	if meta["cluster"] != cluster || meta["service_account_uid"] != string(w.SA.UID) ||
		meta["service_account_namespace"] != w.Namespace || meta["service_account_name"] != w.SA.Name {
		t.Errorf("token metadata %v: want cluster %q and %s/%s (uid %s)", meta, cluster, w.Namespace, w.SA.Name, w.SA.UID)
	}
	alias := entityAlias(t, m, a.Str("entity_id"))
	if got := alias.StringMap("metadata")["cluster"]; got != cluster {
		t.Errorf("entity alias metadata cluster = %q, want %q (alias %v)", got, cluster, alias)
	}
	return alias
}

// clusterVerdicts are explain's verdicts on the mount's clusters, by name.
func clusterVerdicts(t *testing.T, r *realstack.Reply) map[string]realstack.Object {
	t.Helper()
	list, _ := r.Data()["clusters"].([]any)
	out := map[string]realstack.Object{}
	for _, v := range list {
		obj, _ := v.(map[string]any)
		o := realstack.Object(obj)
		out[o.Str("name")] = o
	}
	if len(out) == 0 {
		t.Fatalf("explain lists no clusters: %s", r)
	}
	return out
}

// expectVerdicts checks explain's outcome for each cluster, and that each
// verdict says why.
func expectVerdicts(t *testing.T, r *realstack.Reply, want map[string]string) map[string]realstack.Object {
	t.Helper()
	got := clusterVerdicts(t, r)
	if len(got) != len(want) {
		t.Errorf("explain lists clusters %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	for name, outcome := range want {
		if v := got[name]; v.Str("outcome") != outcome || v.Str("detail") == "" {
			t.Errorf("cluster %s: outcome %q detail %q, want %s with a detail", name, v.Str("outcome"), v.Str("detail"), outcome)
		}
	}
	return got
}

// expectRefusedAt checks an explain answer refused at a step with a reason.
func expectRefusedAt(t *testing.T, r *realstack.Reply, jwt, step, reason string) {
	t.Helper()
	s := explained(t, r, jwt, "refused")
	if s == nil || s.Str("name") != step || s.Str("reason") != reason {
		t.Fatalf("deciding step %v, want %s refused with %s: %s", s, step, reason, r)
	}
}

// expectRefusalLogged waits for the refusal's log line with its reason.
func expectRefusalLogged(t *testing.T, role, reason string) {
	t.Helper()
	realstack.WaitForLog(t, stk.VaultLogPath(), 10*time.Second, "login refused", "role="+role, "reason="+reason)
}

// Two clusters with distinct issuers: a service account of the same
// namespace and name logs in from each, each login carries its cluster, the
// entity aliases are apart; a role bound to one cluster refuses the other's
// token, and a token of a third issuer belongs to no cluster.
func TestClustersDistinctIssuers(t *testing.T) {
	t.Parallel()
	c := startCluster(t, otherIssuer(t))
	m, w, mirror := twoClusters(t, c, "east")
	every, listed := m.role("every"), m.role("listed")
	m.bindRole(t, every, w, map[string]any{"bound_clusters": "*", "alias_name_source": "serviceaccount_name"})
	m.bindRole(t, listed, w, map[string]any{"bound_clusters": []string{"default", "east"}})
	here, there := vaultToken(t, w), clusterToken(t, c, mirror)

	// alias_name_source=serviceaccount_name: the named cluster's alias is
	// prefixed with its name, the default cluster's is as it always was.
	a := m.mustLogin(t, every, here)
	if got := expectCluster(t, m, a, "default", w).Str("name"); got != w.Namespace+"/"+w.SA.Name {
		t.Errorf("default cluster: alias name %q, want %s/%s", got, w.Namespace, w.SA.Name)
	}
	b := m.mustLogin(t, every, there)
	if got := expectCluster(t, m, b, "east", mirror).Str("name"); got != "east/"+w.Namespace+"/"+w.SA.Name {
		t.Errorf("cluster east: alias name %q, want east/%s/%s", got, w.Namespace, w.SA.Name)
	}
	if a.Str("entity_id") == b.Str("entity_id") {
		t.Errorf("the two clusters' service accounts share entity %s", a.Str("entity_id"))
	}
	// The default alias source: the default cluster's is the bare UID, as
	// the built-in method's; a named cluster's is prefixed with its name
	// too, so that a cluster is trusted only for its own identities.
	a = m.mustLogin(t, listed, here)
	if got := expectCluster(t, m, a, "default", w).Str("name"); got != string(w.SA.UID) {
		t.Errorf("default cluster: alias name %q, want the UID %s", got, w.SA.UID)
	}
	b = m.mustLogin(t, listed, there)
	if got := expectCluster(t, m, b, "east", mirror).Str("name"); got != "east/"+string(mirror.SA.UID) {
		t.Errorf("cluster east: alias name %q, want east/%s", got, mirror.SA.UID)
	}
	if a.Str("entity_id") == b.Str("entity_id") {
		t.Errorf("the two clusters' service accounts share entity %s", a.Str("entity_id"))
	}

	// A role bound to one cluster refuses the other's token: 403, the
	// reason in the log and in explain.
	eastOnly, home := m.role("east-only"), m.role("home")
	m.bindRole(t, eastOnly, w, map[string]any{"bound_clusters": "east"})
	m.bindRole(t, home, w, nil) // no bound_clusters: the default cluster only
	m.mustLogin(t, eastOnly, there)
	m.mustLogin(t, home, here)
	explainer := m.explainer(t)
	for _, tc := range []struct {
		role, jwt, from, other string
	}{
		{eastOnly, here, "default", "east"},
		{home, there, "east", "default"},
	} {
		realstack.ExpectDenied(t, m.login(t, tc.role, tc.jwt))
		expectRefusalLogged(t, tc.role, "cluster_not_bound")
		r := m.explain(t, explainer, tc.role, tc.jwt)
		expectRefusedAt(t, r, tc.jwt, "cluster", "cluster_not_bound")
		expectVerdicts(t, r, map[string]string{tc.from: "chosen", tc.other: "dropped"})
	}

	// A token of a third issuer (signed by a key neither cluster has):
	// no cluster is its.
	claims := claimsFor(w.SA, time.Now().Add(5*time.Minute))
	claims.Issuer = otherIssuer(t)
	stranger := signRS256(t, newRSAKey(t), claims)
	realstack.ExpectDenied(t, m.login(t, every, stranger))
	expectRefusalLogged(t, every, "cluster_unknown")
	r := m.explain(t, explainer, every, stranger)
	expectRefusedAt(t, r, stranger, "cluster", "cluster_unknown")
	expectVerdicts(t, r, map[string]string{"default": "dropped", "east": "dropped"})
}

// Two API servers with the same issuer and different signing keys: each
// token still goes to its own cluster, told apart by its key, whether the
// mount holds the keys (pem_keys on both entries) or reads each API
// server's published key set; explain shows both candidates and which was
// chosen. Two entries that hold the same key are ambiguous.
func TestClustersSameIssuer(t *testing.T) {
	t.Parallel()
	c := startCluster(t, stk.SAIssuer)
	w := stk.NewWorkload(t, "app", nil)
	mirror := c.Mirror(t, w)
	here, there := vaultToken(t, w), clusterToken(t, c, mirror)
	hereKid, _ := peek(t, here)
	thereKid, _ := peek(t, there)

	for _, tc := range []struct {
		name           string
		config, second map[string]any
	}{
		{"pem_keys", map[string]any{"pem_keys": []string{stk.SAPubPEM}}, map[string]any{"pem_keys": []string{c.SAPubPEM}}},
		{"published keys", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMount(t)
			m.configure(t, tc.config)
			m.addCluster(t, "twin", c, tc.second)
			role := m.role("every")
			m.bindRole(t, role, w, map[string]any{"bound_clusters": "*"})

			expectCluster(t, m, m.mustLogin(t, role, here), "default", w)
			expectCluster(t, m, m.mustLogin(t, role, there), "twin", mirror)

			explainer := m.explainer(t)
			for _, e := range []struct {
				jwt, kid, chosen, dropped string
			}{
				{here, hereKid, "default", "twin"},
				{there, thereKid, "twin", "default"},
			} {
				r := m.explain(t, explainer, role, e.jwt)
				if s := explained(t, r, e.jwt, "passed"); s != nil {
					t.Fatalf("step %v refused: %s", s, r)
				}
				v := expectVerdicts(t, r, map[string]string{e.chosen: "chosen", e.dropped: "dropped"})
				// Both have the issuer: the key decided, and the verdicts say so.
				for _, name := range []string{e.chosen, e.dropped} {
					if !strings.Contains(v[name].Str("detail"), e.kid) {
						t.Errorf("cluster %s: detail %q does not name the token's kid %s", name, v[name].Str("detail"), e.kid)
					}
				}
			}
		})
	}

	t.Run("the same key on both", func(t *testing.T) {
		m := newMount(t)
		m.configure(t, map[string]any{"pem_keys": []string{stk.SAPubPEM}})
		m.addCluster(t, "twin", c, map[string]any{"pem_keys": []string{stk.SAPubPEM}})
		role := m.role("every")
		m.bindRole(t, role, w, map[string]any{"bound_clusters": "*"})
		realstack.ExpectDenied(t, m.login(t, role, here))
		expectRefusalLogged(t, role, "cluster_ambiguous")
		r := m.explain(t, m.explainer(t), role, here)
		expectRefusedAt(t, r, here, "cluster", "cluster_ambiguous")
		expectVerdicts(t, r, map[string]string{"default": "kept", "twin": "kept"})
	})
}

// One API server stops: logins with the other cluster's tokens keep
// working, also on a mount that never reached the stopped one; the stopped
// cluster's tokens fail without telling the caller why; its check reports
// the failure while config/check passes.
func TestClustersOneAPIServerStopped(t *testing.T) {
	t.Parallel()
	c := startCluster(t, otherIssuer(t))
	m, w, mirror := twoClusters(t, c, "east")
	role := m.role("every")
	m.bindRole(t, role, w, map[string]any{"bound_clusters": "*"})
	m.mustLogin(t, role, vaultToken(t, w))
	m.mustLogin(t, role, clusterToken(t, c, mirror))
	if a := m.configCheck(t); !strings.HasPrefix(a.verdict, "ok: ") {
		t.Fatalf("config/check with both up: %s", a.reply)
	}
	if a := m.clusterCheck(t, "east"); !strings.HasPrefix(a.verdict, "ok: ") {
		t.Fatalf("cluster/east/check with both up: %s", a.reply)
	}
	late := clusterToken(t, c, mirror) // minted while its API server still runs

	c.Stop()
	// A mount that first sees the cluster while it is down.
	fresh := configuredMount(t)
	fresh.addCluster(t, "east", c, nil)
	fresh.bindRole(t, role, w, map[string]any{"bound_clusters": "*"})
	for i := range 4 {
		for _, mm := range []*mount{m, fresh} {
			a := mm.mustLogin(t, role, vaultToken(t, w))
			if got := a.StringMap("metadata")["cluster"]; got != "default" {
				t.Fatalf("login %d on auth/%s: cluster %q, want default", i+1, mm.path, got)
			}
		}
	}

	port := strconv.Itoa(c.Port())
	for _, mm := range []*mount{m, fresh} {
		r := mm.login(t, role, late)
		t.Logf("auth/%s: the stopped cluster's token: %s", mm.path, r)
		switch r.Status {
		case http.StatusForbidden:
			realstack.ExpectDenied(t, r)
		case http.StatusInternalServerError:
			if strings.Contains(string(r.Raw), port) || strings.Contains(string(r.Raw), "127.0.0.1") {
				t.Errorf("the fault's answer tells the caller about the setup: %s", r)
			}
		default:
			t.Errorf("auth/%s: the stopped cluster's token: want 403 or a generic 500, got %s", mm.path, r)
		}
	}

	a := m.clusterCheck(t, "east")
	t.Logf("cluster/east/check with its API server stopped: %s", a.verdict)
	if strings.HasPrefix(a.verdict, "ok: ") || !slices.ContainsFunc(a.names, func(n string) bool { return a.checks[n].Str("status") == "failed" }) {
		t.Errorf("cluster/east/check with its API server stopped: want a failed check, got %s", a.reply)
	}
	for _, mm := range []*mount{m, fresh} {
		if a := mm.configCheck(t); !strings.HasPrefix(a.verdict, "ok: ") {
			t.Errorf("auth/%s config/check with the other API server stopped: %s", mm.path, a.reply)
		}
	}
}

// clusterCheck reads auth/<mount>/cluster/<name>/check, which answers as
// config/check does.
func (m *mount) clusterCheck(t *testing.T, name string) checkAnswer {
	t.Helper()
	r := root(t, http.MethodGet, "auth/"+m.path+"/cluster/"+name+"/check", nil)
	expectStatus(t, r, http.StatusOK)
	a := checkAnswer{verdict: r.Data().Str("verdict"), checks: map[string]realstack.Object{}, reply: r}
	list, _ := r.Data()["checks"].([]any)
	for _, v := range list {
		obj, _ := v.(map[string]any)
		name, _ := obj["name"].(string)
		a.checks[name] = obj
		a.names = append(a.names, name)
	}
	if len(a.names) == 0 {
		t.Fatalf("cluster/%s/check answered no checks: %s", name, r)
	}
	return a
}

// Vault's agent, with one auto_auth config left as it is, logs in with a
// token file from either cluster: same mount, same role.
func TestClustersVaultAgent(t *testing.T) {
	t.Parallel()
	c := startCluster(t, otherIssuer(t))
	m, w, mirror := twoClusters(t, c, "east")
	role := m.role("agent")
	m.bindRole(t, role, w, map[string]any{"bound_clusters": "*", "token_policies": "agent-policy"})

	dir := t.TempDir()
	jwtFile, sink, cfgFile := filepath.Join(dir, "token"), filepath.Join(dir, "sink"), filepath.Join(dir, "agent.hcl")
	cfg := fmt.Sprintf(`
exit_after_auth = true
vault {
  address = %q
}
auto_auth {
  method "kubernetes" {
    mount_path = %q
    config = {
      role       = %q
      token_path = %q
    }
  }
  sink "file" {
    config = {
      path = %q
    }
  }
}
`, stk.Vault.Addr, "auth/"+m.path, role, jwtFile, sink)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cluster string
		jwt     string
		w       realstack.Workload
	}{
		{"default", vaultToken(t, w), w},
		{"east", clusterToken(t, c, mirror), mirror},
	} {
		if err := os.WriteFile(jwtFile, []byte(tc.jwt), 0o600); err != nil {
			t.Fatal(err)
		}
		_ = os.Remove(sink)
		tok := runAgentOnce(t, cfgFile, sink)
		cl := client(t, tok)
		expectLookup(t, cl, role, tc.w, []string{"agent-policy", "default"})
		s, err := cl.Auth().Token().LookupSelf()
		if err != nil {
			t.Fatal(err)
		}
		if got := realstack.Object(s.Data).StringMap("meta")["cluster"]; got != tc.cluster {
			t.Errorf("the agent's token from the %s cluster's token file: cluster %q", tc.cluster, got)
		}
	}
}

// runAgentOnce runs Vault's agent with a config that sets exit_after_auth
// and returns the token it wrote to its sink.
func runAgentOnce(t *testing.T, cfgFile, sink string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	agent := exec.CommandContext(ctx, stk.VaultBin, "agent", "-config="+cfgFile)
	// No VAULT_TOKEN from the environment: the agent must authenticate.
	agent.Env = append(os.Environ(), "VAULT_TOKEN=", "VAULT_ADDR="+stk.Vault.Addr)
	out, err := agent.CombinedOutput()
	if err != nil {
		t.Fatalf("vault agent: %v\n%s", err, out)
	}
	tok, err := os.ReadFile(sink)
	if err != nil || strings.TrimSpace(string(tok)) == "" {
		t.Fatalf("vault agent wrote no token to its sink (%v)\n%s", err, out)
	}
	return strings.TrimSpace(string(tok))
}

// A mount with clusters switched back to Vault's built-in method: the
// built-in method knows config alone, and a role of the default cluster
// (no bound_clusters) goes on logging in with its tokens, to the same
// entity.
// Not parallel: see enableBuiltin (it registers the plugin as kubernetes,
// as TestUpgradeFromBuiltinAndBack does).
func TestClustersSwitchBackToBuiltin(t *testing.T) {
	c := startCluster(t, otherIssuer(t))
	m, _, builtinVersion := enableBuiltin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	registerAsKubernetes(ctx, t)
	switchMount(ctx, t, m, stk.pluginVersion)

	m.configure(t, nil)
	m.addCluster(t, "east", c, nil)
	w := stk.NewWorkload(t, "app", nil)
	mirror := c.Mirror(t, w)
	m.bindRole(t, "home", w, nil)
	m.bindRole(t, "every", w, map[string]any{"bound_clusters": "*"})
	before := m.mustLogin(t, "home", vaultToken(t, w))
	expectCluster(t, m, before, "default", w)
	eastJWT := clusterToken(t, c, mirror)
	m.mustLogin(t, "every", eastJWT)

	switchMount(ctx, t, m, builtinVersion)
	for range 3 {
		a := m.mustLogin(t, "home", vaultToken(t, w))
		if _, ok := a.StringMap("metadata")["cluster"]; ok {
			t.Errorf("the built-in method's token carries a cluster: %v", a.StringMap("metadata"))
		}
		if a.Str("entity_id") != before.Str("entity_id") {
			t.Errorf("after the switch back the service account has another entity: %s, was %s", a.Str("entity_id"), before.Str("entity_id"))
		}
	}
	// The built-in method reviews every token with config's cluster, which
	// does not know the second cluster's.
	if r := m.login(t, "every", eastJWT); r.Status == http.StatusOK {
		t.Errorf("the built-in method let the second cluster's token in: %s", r)
	}
}

// The cluster API end to end: LIST, the read shape, PATCH, the reserved
// name, a delete refused while a role names the cluster, and renewal of a
// second cluster's token while a role binds the cluster, refused after.
func TestClustersAPI(t *testing.T) {
	t.Parallel()
	c := startCluster(t, otherIssuer(t))
	m, w, mirror := twoClusters(t, c, "east")
	base := "auth/" + m.path + "/"
	// Another entry, with its issuer set: nothing logs in through it.
	m.addCluster(t, "west", c, map[string]any{"issuer": "https://west.clusters.kubeauth.test"})

	r := root(t, "LIST", base+"cluster", nil)
	expectStatus(t, r, http.StatusOK)
	if got := r.Data().Strs("keys"); !slices.Equal(got, []string{"east", "west"}) {
		t.Errorf("LIST cluster: keys %q, want [east west]", got)
	}

	// The read has config's shape; the reviewer JWT is only said to be set.
	east, config := readJSON(t, base+"cluster/east"), readJSON(t, base+"config")
	eastData, _ := east["data"].(map[string]any)
	configData, _ := config["data"].(map[string]any)
	if got, want := slices.Sorted(maps.Keys(eastData)), slices.Sorted(maps.Keys(configData)); !slices.Equal(got, want) {
		t.Errorf("cluster/east reads keys %q, config %q", got, want)
	}
	r = root(t, http.MethodGet, base+"cluster/east", nil)
	expectNoReviewerJWT(t, r)
	if r.Data().Str("kubernetes_host") != c.Host || r.Data()["token_reviewer_jwt_set"] != true {
		t.Errorf("cluster/east read: %s", r)
	}
	expectStatus(t, root(t, http.MethodGet, base+"cluster/north", nil), http.StatusNotFound)

	// PATCH changes what it sends and keeps the rest (the reviewer JWT too).
	expectOK(t, root(t, http.MethodPatch, base+"cluster/east", map[string]any{"use_annotations_as_alias_metadata": true}))
	r = root(t, http.MethodGet, base+"cluster/east", nil)
	if r.Data()["use_annotations_as_alias_metadata"] != true || r.Data().Str("kubernetes_host") != c.Host ||
		r.Data()["token_reviewer_jwt_set"] != true {
		t.Errorf("cluster/east after the patch: %s", r)
	}
	expectStatus(t, root(t, http.MethodPatch, base+"cluster/north", map[string]any{"issuer": "x"}), http.StatusNotFound)

	// default is config's name: written, patched or deleted only as config.
	expectBadRequest(t, root(t, http.MethodPost, base+"cluster/default", stk.ReviewerConfig(nil)), "config")
	expectBadRequest(t, root(t, http.MethodPatch, base+"cluster/default", map[string]any{"issuer": "x"}), "config")
	expectBadRequest(t, root(t, http.MethodDelete, base+"cluster/default", nil), "config")
	expectBadRequest(t, root(t, http.MethodPost, base+"cluster/East", c.ReviewerConfig(nil)), "name")
	expectBadRequest(t, root(t, http.MethodPost, base+"role/nowhere", realstack.BindRole(w, map[string]any{"bound_clusters": "north"})), "bound_clusters", "north")

	// A cluster a role names is not deleted; the 400 names the role.
	holder, renewer := m.role("holder"), m.role("renewer")
	m.bindRole(t, holder, w, map[string]any{"bound_clusters": "east"})
	expectBadRequest(t, root(t, http.MethodDelete, base+"cluster/east", nil), "east", holder)
	expectStatus(t, root(t, http.MethodGet, base+"cluster/east", nil), http.StatusOK)

	// A second cluster's token renews while its role binds the cluster.
	m.bindRole(t, renewer, w, map[string]any{"bound_clusters": "default,east", "token_ttl": "2m", "token_max_ttl": "1h"})
	tok := m.mustLogin(t, renewer, clusterToken(t, c, mirror)).Str("client_token")
	renew := func() *realstack.Reply {
		return call(t, http.MethodPost, "auth/token/renew-self", tok, map[string]any{})
	}
	expectStatus(t, renew(), http.StatusOK)
	m.writeRole(t, renewer, map[string]any{"bound_clusters": "default"})
	r = renew()
	expectRenewRefused(t, r, renewer)
	if !strings.Contains(r.ErrorText(), `"east"`) {
		t.Errorf("the refused renewal does not name the cluster: %s", r)
	}
	// Bound again through "*", which holds no cluster: it renews until the
	// cluster is deleted.
	m.writeRole(t, renewer, map[string]any{"bound_clusters": "*"})
	expectStatus(t, renew(), http.StatusOK)
	expectStatus(t, root(t, http.MethodDelete, base+"role/"+holder, nil), http.StatusNoContent)
	expectStatus(t, root(t, http.MethodDelete, base+"cluster/east", nil), http.StatusNoContent)
	expectStatus(t, root(t, http.MethodGet, base+"cluster/east", nil), http.StatusNotFound)
	r = root(t, "LIST", base+"cluster", nil)
	if got := r.Data().Strs("keys"); !slices.Equal(got, []string{"west"}) {
		t.Errorf("LIST cluster after deleting east: keys %q, want [west]", got)
	}
	// Vault reports a backend's refused renewal as a 500 with its message.
	if r = renew(); r.Status != http.StatusInternalServerError || !strings.Contains(r.ErrorText(), "renewal refused") ||
		!strings.Contains(r.ErrorText(), `"east"`) || r.Auth() != nil {
		t.Errorf("renewal after cluster east was deleted: want a 500 that refuses it and names the cluster, got %s", r)
	}
}
