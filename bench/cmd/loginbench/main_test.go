package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/load"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

func TestParseFlagsKeepsRoundOrder(t *testing.T) {
	o, err := parseFlags(append(stackFlags(),
		"-targets", "token-create,builtin,noop", "-clients", "4, 2,4", "-noop-bin", "n", "-plugin-dir", "d"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := o.targets, []string{targets.Noop, targets.Builtin, targets.TokenCreate}; !slices.Equal(got, want) {
		t.Errorf("targets = %v, want %v", got, want)
	}
	if !slices.Equal(o.clients, []int{4, 2}) || o.maxClients() != 4 {
		t.Errorf("clients = %v (max %d), want [4 2] (max 4)", o.clients, o.maxClients())
	}
	if !slices.Equal(o.workloads, []string{load.Distinct, load.Repeat}) {
		t.Errorf("workloads = %v, want both", o.workloads)
	}
	// No plugin-* target measured: no profile to take.
	if len(o.profiles) != 0 {
		t.Errorf("profiles = %v, want none", o.profiles)
	}
}

func TestParseFlagsProfiles(t *testing.T) {
	base := append(stackFlags(), "-plugin-bin", "p", "-plugin-dir", "d")
	o, err := parseFlags(append(base, "-targets", "plugin-hybrid,plugin-always,plugin-cached,builtin"))
	if err != nil {
		t.Fatal(err)
	}
	want := []load.ProfileSpec{{Target: targets.PluginAlways, Workload: load.Distinct}, {Target: targets.PluginCached, Workload: load.Repeat}, {Target: targets.PluginHybrid, Workload: load.Distinct}}
	if !slices.Equal(o.profiles, want) {
		t.Errorf("auto profiles = %v, want %v", o.profiles, want)
	}
	// auto keeps only the goal workloads that are measured.
	o, err = parseFlags(append(base, "-targets", "plugin-always,plugin-cached", "-workload", "repeat"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []load.ProfileSpec{{Target: targets.PluginCached, Workload: load.Repeat}}; !slices.Equal(o.profiles, want) {
		t.Errorf("auto profiles (repeat only) = %v, want %v", o.profiles, want)
	}
	o, err = parseFlags(append(base, "-targets", "plugin-always", "-profile", "plugin-always:repeat"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []load.ProfileSpec{{Target: targets.PluginAlways, Workload: load.Repeat}}; !slices.Equal(o.profiles, want) {
		t.Errorf("profiles = %v, want %v", o.profiles, want)
	}
	// Vault's process alone, for a target that is not this plugin.
	o, err = parseFlags(append(stackFlags(), "-targets", "token-create", "-profile", "token-create:repeat"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []load.ProfileSpec{{Target: targets.TokenCreate, Workload: load.Repeat}}; !slices.Equal(o.profiles, want) {
		t.Errorf("profiles = %v, want %v", o.profiles, want)
	}
	o, err = parseFlags(append(base, "-targets", "plugin-always", "-profile", "none"))
	if err != nil || len(o.profiles) != 0 {
		t.Errorf("-profile none: %v, %v", o.profiles, err)
	}
}

func TestParseFlagsRejects(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in the error
	}{
		{[]string{"-clients", "0"}, "-clients"},
		{[]string{"-targets", "plugin-always,other"}, `unknown target "other"`},
		{[]string{"-targets", "floor"}, `unknown target "floor"`}, // the old name of token-create
		{[]string{"-targets", "builtin", "-rounds", "0"}, "-rounds"},
		{[]string{"-targets", "builtin", "-workload", "all"}, "-workload"},
		{[]string{"-targets", "builtin", "-profile-vault=false", "-profile", "builtin:distinct"}, "only Vault's process"},
		{[]string{"-targets", "plugin-always", "-plugin-bin", "p", "-profile", "plugin-hybrid:distinct"}, "measured target"},
		{[]string{"-targets", "plugin-always", "-plugin-bin", "p", "-workload", "repeat", "-profile", "plugin-always:distinct"}, "measured workload"},
		{[]string{"-targets", "builtin", "-clients", "400"}, "fewer than the 400 clients"},
		{[]string{"-targets", "builtin", "-pool", "10"}, "fewer tokens than"},
		{[]string{"-targets", "builtin", "-token-lifetime", "5m"}, "-token-lifetime"},
		{[]string{"-targets", "upstream"}, "-upstream-bin"},
		{[]string{"-targets", "plugin-always"}, "-plugin-bin"},
		{[]string{"-targets", "plugin-always", "-plugin-bin", "p", "-plugin-dir", ""}, "-plugin-dir"},
	} {
		args := append(append(stackFlags(), "-plugin-dir", "d"), tc.args...)
		_, err := parseFlags(args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseFlags(%q) = %v, want an error about %s", tc.args, err, tc.want)
		}
	}
	// The same settings without the faults are accepted.
	if _, err := parseFlags(append(stackFlags(), "-targets", "builtin")); err != nil {
		t.Errorf("parseFlags(builtin) = %v", err)
	}
}

// stackFlags are the settings a stack's env file would give.
func stackFlags() []string {
	return []string{
		"-vault-addr", "http://127.0.0.1:1", "-vault-token", "t",
		"-kubeconfig", "kc", "-kube-host", "https://127.0.0.1:2", "-kube-ca-file", "ca",
	}
}

// The *-10c targets run only when named, and then each right after its
// one-cluster twin, profiled under the same workload as the twin.
func TestParseFlagsTenClusterTargets(t *testing.T) {
	base := append(stackFlags(), "-plugin-bin", "p", "-plugin-dir", "d", "-noop-bin", "n", "-upstream-bin", "u")
	o, err := parseFlags(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range o.targets {
		if strings.HasSuffix(name, "-10c") {
			t.Errorf("default targets %v include %s", o.targets, name)
		}
	}
	if len(o.targets) != len(targets.All)-len(targets.ClusterPairs) {
		t.Errorf("default targets = %v, want every target but the %d *-10c ones", o.targets, len(targets.ClusterPairs))
	}

	o, err = parseFlags(append(base, "-targets", "plugin-cached-10c,plugin-always-10c,plugin-cached,plugin-always"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{targets.PluginAlways, targets.PluginAlways10c, targets.PluginCached, targets.PluginCached10c}
	if !slices.Equal(o.targets, want) {
		t.Errorf("targets = %v, want %v (each 10c right after its twin)", o.targets, want)
	}
	wantProfiles := []load.ProfileSpec{
		{Target: targets.PluginAlways, Workload: load.Distinct}, {Target: targets.PluginAlways10c, Workload: load.Distinct},
		{Target: targets.PluginCached, Workload: load.Repeat}, {Target: targets.PluginCached10c, Workload: load.Repeat},
	}
	if !slices.Equal(o.profiles, wantProfiles) {
		t.Errorf("auto profiles = %v, want %v", o.profiles, wantProfiles)
	}
}
