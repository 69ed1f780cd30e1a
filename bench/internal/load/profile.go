package load

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/measure"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/progress"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

// Profile is one CPU profile of the plugin process (and of Vault's)
// under load, taken after the measured rounds so that profiling never
// slows a measured run.
type Profile struct {
	Spec     ProfileSpec
	Load     *Result // the load during the profile; not part of the results
	Files    map[string]string
	Tops     map[string]string          // process -> `go tool pprof -top` output
	Shares   map[string][]measure.Share // process -> where its CPU went
	Failures []string
}

// ProfileSettings say which CPU profiles to take after the rounds, and
// where from.
type ProfileSettings struct {
	Specs   []ProfileSpec
	Seconds int  // length of each profile
	Vault   bool // profile Vault's process too
	// Vault's profiling endpoint needs the operator's token.
	VaultAddr, VaultToken string
	PprofAddr             string // this plugin's; "" when it serves none
	OutDir                string // where the profiles are written
}

// TakeProfiles takes each profile in turn under the load it names.
func (b *Bench) TakeProfiles(ctx context.Context, ps ProfileSettings) []*Profile {
	if len(ps.Specs) == 0 {
		return nil
	}
	var out []*Profile
	for _, spec := range ps.Specs {
		if ctx.Err() != nil {
			break
		}
		out = append(out, b.takeProfile(ctx, ps, spec))
	}
	return out
}

func (b *Bench) takeProfile(ctx context.Context, ps ProfileSettings, spec ProfileSpec) *Profile {
	res := &Profile{Spec: spec, Files: map[string]string{}, Tops: map[string]string{}, Shares: map[string][]measure.Share{}}
	t := targets.ByName[spec.Target]
	progress.Printf("profile %s, %s workload, %d clients: %d s of CPU profile under load", spec.Target, spec.Workload, b.Schedule.MaxClients(), ps.Seconds)

	pluginFile := b.Instruments.PluginFiles[t.Kind]
	cpuBefore := b.Instruments.Procs.Snapshot(pluginFile)
	loadDone := b.profileLoad(ctx, t, spec.Workload, ps.Seconds)
	select {
	case <-time.After(profileLead):
	case <-ctx.Done():
	}
	// Only this plugin serves profiles; for the other targets, Vault's
	// process alone is profiled.
	if t.Kind != targets.KindPlugin {
		ps.PprofAddr = ""
	}
	fetchProfiles(ctx, ps, res)
	res.Load = <-loadDone
	if res.Load != nil {
		res.Load.CPU = measure.CPUDelta(cpuBefore, b.Instruments.Procs.Snapshot(pluginFile))
	}
	for _, proc := range []string{measure.ProcPlugin, measure.ProcVault} {
		if file, ok := res.Files[proc]; ok {
			res.analyze(proc, file)
		}
	}
	for _, f := range res.Failures {
		progress.Printf("WARNING: %s", f)
	}
	return res
}

// profileLead is how long the load runs before the profile starts (and
// after it ends), so that the profile sees only steady load.
const profileLead = time.Second

// profileLoad runs the load a profile of secs seconds is taken under, with
// profileLead on either side; its result arrives on the channel.
func (b *Bench) profileLoad(ctx context.Context, t targets.Target, workload string, secs int) <-chan *Result {
	done := make(chan *Result, 1)
	go func() {
		r, err := b.Loader.Run(ctx, Spec{Target: t, Workload: workload, Clients: b.Schedule.MaxClients(), For: time.Duration(secs)*time.Second + 2*profileLead})
		if err != nil {
			progress.Printf("WARNING: profile load: %v", err)
		}
		done <- r
	}()
	return done
}

// fetchProfiles takes the plugin's profile (when it serves them) and
// Vault's (when ps.Vault) at the same time, into res.Files.
func fetchProfiles(ctx context.Context, ps ProfileSettings, res *Profile) {
	var mu sync.Mutex
	fetch := func(proc, url, token string) {
		file := filepath.Join(ps.OutDir, fmt.Sprintf("cpu-%s-%s-%s.pprof", proc, res.Spec.Target, res.Spec.Workload))
		err := measure.FetchProfile(ctx, url, token, file, time.Duration(ps.Seconds)*time.Second)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			res.Failures = append(res.Failures, fmt.Sprintf("%s profile: %v", proc, err))
			return
		}
		res.Files[proc] = file
	}
	var wg sync.WaitGroup
	if ps.PprofAddr != "" {
		wg.Go(func() {
			fetch(measure.ProcPlugin, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", ps.PprofAddr, ps.Seconds), "")
		})
	}
	if ps.Vault {
		wg.Go(func() {
			fetch(measure.ProcVault, fmt.Sprintf("%s/v1/sys/pprof/profile?seconds=%d", strings.TrimRight(ps.VaultAddr, "/"), ps.Seconds), ps.VaultToken)
		})
	}
	wg.Wait()
}

// analyze reads proc's profile in file: where its CPU went, and go tool
// pprof's top listing.
func (res *Profile) analyze(proc, file string) {
	parts := measure.PluginParts
	if proc == measure.ProcVault {
		parts = measure.VaultParts
	}
	if sh, err := measure.BreakdownFile(file, parts); err != nil {
		res.Failures = append(res.Failures, fmt.Sprintf("%s: %v", file, err))
	} else {
		res.Shares[proc] = sh
	}
	top, err := measure.PprofTop(file)
	if err != nil {
		res.Failures = append(res.Failures, fmt.Sprintf("go tool pprof %s: %v", file, err))
		return
	}
	res.Tops[proc] = top
}

// ProfileSpec is one CPU profile to take: a target under one workload.
type ProfileSpec struct{ Target, Workload string }
