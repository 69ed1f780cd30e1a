package main

import (
	"fmt"
	"maps"
)

// targetKind is what serves a target's requests.
type targetKind int

const (
	kindNoop        targetKind = iota // bench/cmd/noopplugin, external
	kindUpstream                      // github.com/hashicorp/vault-plugin-auth-kubernetes, external
	kindPlugin                        // this project's plugin, external
	kindBuiltin                       // Vault's built-in kubernetes method, in process
	kindTokenCreate                   // auth/token/create: no login at all
)

// target is one thing measured: a mount and what serves it.
type target struct {
	name  string
	kind  targetKind
	mount string // auth/<mount>; empty for token-create
	label string // what the report calls it
	// reviewMode is the review_mode written to the plugin's role; empty
	// writes none (the default, always).
	reviewMode string
	// extraClusters is how many cluster/<name> entries the mount gets
	// besides config (see clusterConfigs): every login's cluster is then
	// chosen among 1+extraClusters, though it is always config's.
	extraClusters int
	// optIn: measured only when -targets names it, not by default.
	optIn bool
}

// Target names, as -targets takes them.
const (
	targetNoop         = "noop"
	targetUpstream     = "upstream"
	targetPluginAlways = "plugin-always"
	targetPluginCached = "plugin-cached"
	targetPluginHybrid = "plugin-hybrid"
	// Issue 12: the same modes on a mount with ten clusters.
	targetPluginAlways10c = "plugin-always-10c"
	targetPluginCached10c = "plugin-cached-10c"
	targetBuiltin         = "builtin"
	targetTokenCreate     = "token-create"
)

// tenClustersExtra is the extra clusters of the *-10c targets: config and
// nine more make ten.
const tenClustersExtra = 9

// allTargets is the order of every round: the external plugins from the
// cheapest to the dearest, then the in-process method and the token floor.
// Each *-10c target runs right after its one-cluster twin, so that what
// the machine's other load does to one, it does to the other alike.
var allTargets = []target{
	{name: targetNoop, kind: kindNoop, mount: "noop", label: "no-op external plugin"},
	{name: targetUpstream, kind: kindUpstream, mount: "upstream", label: "upstream plugin"},
	// review_mode=always is the default: the role is written without the
	// field, as a role that predates it (and reads as Vault's method's).
	{name: targetPluginAlways, kind: kindPlugin, mount: "plugin-always", label: "this plugin, review_mode=always (default)"},
	{name: targetPluginAlways10c, kind: kindPlugin, mount: "plugin-always-10c", label: "this plugin, review_mode=always (default), 10 clusters",
		extraClusters: tenClustersExtra, optIn: true},
	{name: targetPluginCached, kind: kindPlugin, mount: "plugin-cached", label: "this plugin, review_mode=cached", reviewMode: "cached"},
	{name: targetPluginCached10c, kind: kindPlugin, mount: "plugin-cached-10c", label: "this plugin, review_mode=cached, 10 clusters", reviewMode: "cached",
		extraClusters: tenClustersExtra, optIn: true},
	{name: targetPluginHybrid, kind: kindPlugin, mount: "plugin-hybrid", label: "this plugin, review_mode=hybrid", reviewMode: "hybrid"},
	{name: targetBuiltin, kind: kindBuiltin, mount: "builtin", label: "Vault's built-in method"},
	{name: targetTokenCreate, kind: kindTokenCreate, label: "auth/token/create (no login)"},
}

var targetByName = func() map[string]target {
	m := map[string]target{}
	for _, t := range allTargets {
		m[t.name] = t
	}
	return m
}()

func allTargetNames() []string {
	names := make([]string, len(allTargets))
	for i, t := range allTargets {
		names[i] = t.name
	}
	return names
}

// defaultTargetNames are the targets measured when -targets is not given:
// all but the opt-in ones, so the benchmark of record stays what it was.
func defaultTargetNames() []string {
	var names []string
	for _, t := range allTargets {
		if !t.optIn {
			names = append(names, t.name)
		}
	}
	return names
}

// clusterPairs are the targets measured on a mount with ten clusters, each
// with its one-cluster twin (issue 12: logins/s should differ by noise
// only).
var clusterPairs = []struct{ one, ten string }{
	{targetPluginAlways, targetPluginAlways10c},
	{targetPluginCached, targetPluginCached10c},
}

// extraClusterName and extraClusterIssuer name the i-th extra cluster
// (from 1) of a *-10c mount, and the issuer it is given: one no token
// carries, so the choice compares it with the token's and drops it.
func extraClusterName(i int) string { return fmt.Sprintf("extra-%02d", i) }

func extraClusterIssuer(i int) string {
	return fmt.Sprintf("https://%s.loginbench.invalid", extraClusterName(i))
}

// clusterConfigs are the cluster/<name> bodies of t's mount: config's
// fields (the same API server, CA and reviewer), each with its own issuer.
func clusterConfigs(t target, config map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for i := 1; i <= t.extraClusters; i++ {
		c := maps.Clone(config)
		c["issuer"] = extraClusterIssuer(i)
		out[extraClusterName(i)] = c
	}
	return out
}

// reviews says whether the target's logins can cause TokenReviews; the
// others get no workload token of their own (see tokenFor).
func (t target) reviews() bool {
	switch t.kind {
	case kindUpstream, kindPlugin, kindBuiltin:
		return true
	}
	return false
}

// loginPath is the path a target's timed request goes to.
func (t target) loginPath() string {
	if t.kind == kindTokenCreate {
		return "auth/token/create"
	}
	return "auth/" + t.mount + "/login"
}
