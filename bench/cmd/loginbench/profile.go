package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// profileResult is one CPU profile of the plugin process (and of Vault's)
// under load, taken after the measured rounds so that profiling never
// slows a measured run.
type profileResult struct {
	spec    profileSpec
	load    *runResult // the load during the profile; not part of the results
	files   map[string]string
	tops    map[string]string  // process -> `go tool pprof -top` output
	shares  map[string][]share // process -> where its CPU went
	failure []string
}

// profileLead is how long the load runs before the profile starts (and
// after it ends), so that the profile sees only steady load.
const profileLead = time.Second

func takeProfiles(ctx context.Context, o *options, env *benchEnv) []*profileResult {
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

func takeProfile(ctx context.Context, o *options, env *benchEnv, spec profileSpec) *profileResult {
	res := &profileResult{spec: spec, files: map[string]string{}, tops: map[string]string{}, shares: map[string][]share{}}
	t := targetByName[spec.target]
	secs := o.profileSeconds
	// Only this plugin serves profiles; for the other targets, Vault's
	// process alone is profiled.
	profilePlugin := t.kind == kindPlugin && env.pprofAddr != ""
	progress("profile %s, %s workload, %d clients: %d s of CPU profile under load", spec.target, spec.workload, o.maxClients(), secs)

	pluginFile := env.pluginFiles[t.kind]
	cpuBefore := env.procs.snapshot(pluginFile)
	loadDone := make(chan *runResult, 1)
	go func() {
		r, err := runOnce(ctx, o, env, t, spec.workload, o.maxClients(), time.Duration(secs)*time.Second+2*profileLead, 0)
		if err != nil {
			progress("WARNING: profile load: %v", err)
		}
		loadDone <- r
	}()
	select {
	case <-time.After(profileLead):
	case <-ctx.Done():
	}

	name := func(proc string) string {
		return filepath.Join(env.outDir, fmt.Sprintf("cpu-%s-%s-%s.pprof", proc, spec.target, spec.workload))
	}
	var mu sync.Mutex
	fetch := func(proc, url, token string) {
		file := name(proc)
		err := fetchProfile(ctx, url, token, file, time.Duration(secs)*time.Second)
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
			fetch(procPlugin, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", env.pprofAddr, secs), "")
		})
	}
	if o.profileVault {
		wg.Go(func() {
			fetch(procVault, fmt.Sprintf("%s/v1/sys/pprof/profile?seconds=%d", strings.TrimRight(o.vaultAddr, "/"), secs), o.vaultToken)
		})
	}
	wg.Wait()
	res.load = <-loadDone
	if res.load != nil {
		res.load.cpu = cpuDelta(cpuBefore, env.procs.snapshot(pluginFile))
	}
	for _, proc := range []string{procPlugin, procVault} {
		file, ok := res.files[proc]
		if !ok {
			continue
		}
		parts := pluginParts
		if proc == procVault {
			parts = vaultParts
		}
		if sh, err := breakdownFile(file, parts); err != nil {
			res.failure = append(res.failure, fmt.Sprintf("%s: %v", file, err))
		} else {
			res.shares[proc] = sh
		}
		top, err := pprofTop(file)
		if err != nil {
			res.failure = append(res.failure, fmt.Sprintf("go tool pprof %s: %v", file, err))
			continue
		}
		res.tops[proc] = top
	}
	for _, f := range res.failure {
		progress("WARNING: %s", f)
	}
	return res
}

// fetchProfile GETs a CPU profile (which answers after d) into file.
func fetchProfile(ctx context.Context, url, token, file string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: HTTP %d: %s", url, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, io.LimitReader(resp.Body, 64<<20)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// pprofTop is `go tool pprof -top` of a profile, by flat and by cumulative
// time. The profiles carry their own symbols (the Go runtime writes
// function names into them), so the binaries are not needed.
func pprofTop(file string) (string, error) {
	var b strings.Builder
	for _, args := range [][]string{
		{"tool", "pprof", "-top", "-nodecount=25", file},
		{"tool", "pprof", "-top", "-cum", "-nodecount=25", file},
	} {
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
		}
		b.WriteString("$ go " + strings.Join(args[:len(args)-1], " ") + " " + filepath.Base(file) + "\n")
		b.Write(out)
		b.WriteString("\n")
	}
	return b.String(), nil
}
