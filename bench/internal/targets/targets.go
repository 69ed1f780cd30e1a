// Package targets is the catalog of what loginbench measures: each target's
// mount, what serves it (the no-op plugin, the upstream plugin, this plugin
// in a review mode, Vault's built-in method, auth/token/create), the order
// of a round, and the extra clusters of the ten-cluster mounts.
package targets

import (
	"fmt"
	"maps"
)

// Kind is what serves a target's requests.
type Kind int

const (
	KindNoop        Kind = iota // bench/cmd/noopplugin, external
	KindUpstream                // github.com/hashicorp/vault-plugin-auth-kubernetes, external
	KindPlugin                  // this project's plugin, external
	KindBuiltin                 // Vault's built-in kubernetes method, in process
	KindTokenCreate             // auth/token/create: no login at all
)

// Target is one thing measured: a mount and what serves it.
type Target struct {
	Name  string
	Kind  Kind
	Mount string // auth/<mount>; empty for token-create
	Label string // what the report calls it
	// ReviewMode is the review_mode written to the plugin's role; empty
	// writes none (the default, always).
	ReviewMode string
	// ExtraClusters is how many cluster/<name> entries the mount gets
	// besides config (see ClusterConfigs): every login's cluster is then
	// chosen among 1+ExtraClusters, though it is always config's.
	ExtraClusters int
	// optIn: measured only when -targets names it, not by default.
	optIn bool
}

// Target names, as -targets takes them.
const (
	Noop         = "noop"
	Upstream     = "upstream"
	PluginAlways = "plugin-always"
	PluginCached = "plugin-cached"
	PluginHybrid = "plugin-hybrid"
	// Issue 12: the same modes on a mount with ten clusters.
	PluginAlways10c = "plugin-always-10c"
	PluginCached10c = "plugin-cached-10c"
	Builtin         = "builtin"
	TokenCreate     = "token-create"
)

// TenClustersExtra is the extra clusters of the *-10c targets: config and
// nine more make ten.
const TenClustersExtra = 9

// All is the order of every round: the external plugins from the
// cheapest to the dearest, then the in-process method and the token floor.
// Each *-10c target runs right after its one-cluster twin, so that what
// the machine's other load does to one, it does to the other alike.
var All = []Target{
	{Name: Noop, Kind: KindNoop, Mount: "noop", Label: "no-op external plugin"},
	{Name: Upstream, Kind: KindUpstream, Mount: "upstream", Label: "upstream plugin"},
	// review_mode=always is the default: the role is written without the
	// field, as a role that predates it (and reads as Vault's method's).
	{Name: PluginAlways, Kind: KindPlugin, Mount: "plugin-always", Label: "this plugin, review_mode=always (default)"},
	{Name: PluginAlways10c, Kind: KindPlugin, Mount: "plugin-always-10c", Label: "this plugin, review_mode=always (default), 10 clusters",
		ExtraClusters: TenClustersExtra, optIn: true},
	{Name: PluginCached, Kind: KindPlugin, Mount: "plugin-cached", Label: "this plugin, review_mode=cached", ReviewMode: "cached"},
	{Name: PluginCached10c, Kind: KindPlugin, Mount: "plugin-cached-10c", Label: "this plugin, review_mode=cached, 10 clusters", ReviewMode: "cached",
		ExtraClusters: TenClustersExtra, optIn: true},
	{Name: PluginHybrid, Kind: KindPlugin, Mount: "plugin-hybrid", Label: "this plugin, review_mode=hybrid", ReviewMode: "hybrid"},
	{Name: Builtin, Kind: KindBuiltin, Mount: "builtin", Label: "Vault's built-in method"},
	{Name: TokenCreate, Kind: KindTokenCreate, Label: "auth/token/create (no login)"},
}

var ByName = func() map[string]Target {
	m := map[string]Target{}
	for _, t := range All {
		m[t.Name] = t
	}
	return m
}()

func Names() []string {
	names := make([]string, len(All))
	for i, t := range All {
		names[i] = t.Name
	}
	return names
}

// DefaultNames are the targets measured when -targets is not given:
// all but the opt-in ones, so the benchmark of record stays what it was.
func DefaultNames() []string {
	var names []string
	for _, t := range All {
		if !t.optIn {
			names = append(names, t.Name)
		}
	}
	return names
}

// ClusterPairs are the targets measured on a mount with ten clusters, each
// with its one-cluster twin (issue 12: logins/s should differ by noise
// only).
var ClusterPairs = []struct{ One, Ten string }{
	{PluginAlways, PluginAlways10c},
	{PluginCached, PluginCached10c},
}

// ExtraClusterName and ExtraClusterIssuer name the i-th extra cluster
// (from 1) of a *-10c mount, and the issuer it is given: one no token
// carries, so the choice compares it with the token's and drops it.
func ExtraClusterName(i int) string { return fmt.Sprintf("extra-%02d", i) }

func ExtraClusterIssuer(i int) string {
	return fmt.Sprintf("https://%s.loginbench.invalid", ExtraClusterName(i))
}

// ClusterConfigs are the cluster/<name> bodies of t's mount: config's
// fields (the same API server, CA and reviewer), each with its own issuer.
func ClusterConfigs(t Target, config map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for i := 1; i <= t.ExtraClusters; i++ {
		c := maps.Clone(config)
		c["issuer"] = ExtraClusterIssuer(i)
		out[ExtraClusterName(i)] = c
	}
	return out
}

// Reviews says whether the target's logins can cause TokenReviews; the
// others get no workload token of their own (see tokenFor).
func (t Target) Reviews() bool {
	switch t.Kind {
	case KindUpstream, KindPlugin, KindBuiltin:
		return true
	}
	return false
}

// LoginPath is the path a target's timed request goes to.
func (t Target) LoginPath() string {
	if t.Kind == KindTokenCreate {
		return "auth/token/create"
	}
	return "auth/" + t.Mount + "/login"
}

// AnyOfKind says whether any of the named targets is served by k.
func AnyOfKind(names []string, k Kind) bool {
	for _, t := range names {
		if ByName[t].Kind == k {
			return true
		}
	}
	return false
}
