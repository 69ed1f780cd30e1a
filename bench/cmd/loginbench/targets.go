package main

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
}

// Target names, as -targets takes them.
const (
	targetNoop         = "noop"
	targetUpstream     = "upstream"
	targetPluginAlways = "plugin-always"
	targetPluginCached = "plugin-cached"
	targetPluginHybrid = "plugin-hybrid"
	targetBuiltin      = "builtin"
	targetTokenCreate  = "token-create"
)

// allTargets is the order of every round: the external plugins from the
// cheapest to the dearest, then the in-process method and the token floor.
var allTargets = []target{
	{name: targetNoop, kind: kindNoop, mount: "noop", label: "no-op external plugin"},
	{name: targetUpstream, kind: kindUpstream, mount: "upstream", label: "upstream plugin"},
	// review_mode=always is the default: the role is written without the
	// field, as a role that predates it (and reads as Vault's method's).
	{name: targetPluginAlways, kind: kindPlugin, mount: "plugin-always", label: "this plugin, review_mode=always (default)"},
	{name: targetPluginCached, kind: kindPlugin, mount: "plugin-cached", label: "this plugin, review_mode=cached", reviewMode: "cached"},
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
