package setup

import (
	"slices"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/load"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

// Config is what setup needs from the command line.
type Config struct {
	Vault    Vault
	Kube     Kube
	Plugins  Plugins
	Accounts Accounts
	Role     targets.RoleSettings
	Floor    Floor
	// Targets and Workloads are what will be measured, Clients the most
	// concurrent clients of any run.
	Targets   []string
	Workloads []string
	Clients   int
	// ServePprof: register this plugin with a profiling address.
	ServePprof bool
	// OutDir is where profiles go; empty: a new temporary directory when
	// ServePprof is set.
	OutDir string
}

// Vault is the Vault every target is mounted on.
type Vault struct {
	Addr    string
	Token   string        // allowed to mount, register plugins, write policies, read sys/pprof
	Timeout time.Duration // per request
}

// Kube is the API server the workload tokens come from and every mount's
// config names.
type Kube struct {
	Kubeconfig string // admin: creates accounts and tokens, reads /metrics
	Host       string // kubernetes_host of every mount
	CAFile     string // kubernetes_ca_cert of every mount
}

// Plugins are the external plugins' binaries and catalog entries.
type Plugins struct {
	Dir             string // Vault's plugin directory
	Bin             string // this plugin
	Name            string
	Version         string
	UpstreamBin     string
	UpstreamVersion string
	NoopBin         string
}

// Accounts are the workload service accounts and their tokens.
type Accounts struct {
	ServiceAccounts int
	Pool            int           // the distinct workload's tokens
	PoolSetupLimit  time.Duration // stop creating tokens after this long
	TokenLifetime   time.Duration
}

// Floor is how token-create's issuing tokens are made.
type Floor struct {
	Child  bool // issue child tokens instead of tokens without a parent
	Shared bool // one issuing token for all clients
}

func (c *Config) wants(target string) bool { return slices.Contains(c.Targets, target) }

func (c *Config) wantsKind(k targets.Kind) bool { return targets.AnyOfKind(c.Targets, k) }

func (c *Config) wantsDistinct() bool { return slices.Contains(c.Workloads, load.Distinct) }
