package report

import (
	"slices"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/load"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/setup"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

// Input is everything one report is written from.
type Input struct {
	Settings Settings
	Facts    setup.Facts
	PoolSize int // tokens in the distinct workload's pool; 0: no pool
	Notes    []string
	// LoadAtStart is the machine's load average when the rounds began.
	LoadAtStart string
	Results     []*load.Result
	Profiles    []*load.Profile
}

// Settings are the command line's settings the report states.
type Settings struct {
	Targets         []string
	Workloads       []string
	Clients         []int
	Rounds          int
	Duration        time.Duration
	Warmup          time.Duration
	Role            targets.RoleSettings
	Plugins         setup.Plugins
	ServiceAccounts int
	Floor           setup.Floor
}

func (s *Settings) wants(target string) bool { return slices.Contains(s.Targets, target) }

func (s *Settings) wantsWorkload(w string) bool { return slices.Contains(s.Workloads, w) }

func (s *Settings) wantsKind(k targets.Kind) bool { return targets.AnyOfKind(s.Targets, k) }

func (s *Settings) maxClients() int { return load.MaxClients(s.Clients) }
