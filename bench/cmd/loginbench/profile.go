package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/load"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/measure"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/progress"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

// profileResult is one CPU profile of the plugin process (and of Vault's)
// under load, taken after the measured rounds so that profiling never
// slows a measured run.
type profileResult struct {
	spec    profileSpec
	load    *load.Result // the load during the profile; not part of the results
	files   map[string]string
	tops    map[string]string          // process -> `go tool pprof -top` output
	shares  map[string][]measure.Share // process -> where its CPU went
	failure []string
}

// profileLead is how long the load runs before the profile starts (and
// after it ends), so that the profile sees only steady load.
const profileLead = time.Second

func takeProfiles(ctx context.Context, o *options, env *session) []*profileResult {
	if len(o.profiles) == 0 {
		return nil
	}
	var out []*profileResult
	for _, spec := range o.profiles {
		if ctx.Err() != nil {
			break
		}
		out = append(out, takeProfile(ctx, o, env, spec))
	}
	return out
}

func takeProfile(ctx context.Context, o *options, env *session, spec profileSpec) *profileResult {
	res := &profileResult{spec: spec, files: map[string]string{}, tops: map[string]string{}, shares: map[string][]measure.Share{}}
	t := targets.ByName[spec.target]
	secs := o.profileSeconds
	// Only this plugin serves profiles; for the other targets, Vault's
	// process alone is profiled.
	profilePlugin := t.Kind == targets.KindPlugin && env.PprofAddr != ""
	progress.Printf("profile %s, %s workload, %d clients: %d s of CPU profile under load", spec.target, spec.workload, o.maxClients(), secs)

	pluginFile := env.PluginFiles[t.Kind]
	cpuBefore := env.procs.Snapshot(pluginFile)
	loadDone := make(chan *load.Result, 1)
	go func() {
		r, err := env.Load.Run(ctx, load.Spec{Target: t, Workload: spec.workload, Clients: o.maxClients(), For: time.Duration(secs)*time.Second + 2*profileLead})
		if err != nil {
			progress.Printf("WARNING: profile load: %v", err)
		}
		loadDone <- r
	}()
	select {
	case <-time.After(profileLead):
	case <-ctx.Done():
	}

	name := func(proc string) string {
		return filepath.Join(env.OutDir, fmt.Sprintf("cpu-%s-%s-%s.pprof", proc, spec.target, spec.workload))
	}
	var mu sync.Mutex
	fetch := func(proc, url, token string) {
		file := name(proc)
		err := measure.FetchProfile(ctx, url, token, file, time.Duration(secs)*time.Second)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			res.failure = append(res.failure, fmt.Sprintf("%s profile: %v", proc, err))
			return
		}
		res.files[proc] = file
	}
	var wg sync.WaitGroup
	if profilePlugin {
		wg.Go(func() {
			fetch(measure.ProcPlugin, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", env.PprofAddr, secs), "")
		})
	}
	if o.profileVault {
		wg.Go(func() {
			fetch(measure.ProcVault, fmt.Sprintf("%s/v1/sys/pprof/profile?seconds=%d", strings.TrimRight(o.vault.Addr, "/"), secs), o.vault.Token)
		})
	}
	wg.Wait()
	res.load = <-loadDone
	if res.load != nil {
		res.load.CPU = measure.CPUDelta(cpuBefore, env.procs.Snapshot(pluginFile))
	}
	for _, proc := range []string{measure.ProcPlugin, measure.ProcVault} {
		file, ok := res.files[proc]
		if !ok {
			continue
		}
		parts := measure.PluginParts
		if proc == measure.ProcVault {
			parts = measure.VaultParts
		}
		if sh, err := measure.BreakdownFile(file, parts); err != nil {
			res.failure = append(res.failure, fmt.Sprintf("%s: %v", file, err))
		} else {
			res.shares[proc] = sh
		}
		top, err := measure.PprofTop(file)
		if err != nil {
			res.failure = append(res.failure, fmt.Sprintf("go tool pprof %s: %v", file, err))
			continue
		}
		res.tops[proc] = top
	}
	for _, f := range res.failure {
		progress.Printf("WARNING: %s", f)
	}
	return res
}
