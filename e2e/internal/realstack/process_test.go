package realstack

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// These tests run sleep(1), not the stack: what they check is which
// processes a registry signals, and that its PID files go with them.

func sleepBin(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary on PATH")
	}
	return bin
}

func startSleep(t *testing.T, ps *Processes, name string) *Process {
	t.Helper()
	p, err := ps.Start(name, filepath.Join(t.TempDir(), name+".log"), []string{sleepBin(t), "600"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p
}

// startForeign runs a process no registry knows (as Vault runs its plugins)
// and returns its PID and resolved executable; the test reaps it.
func startForeign(t *testing.T) (pid int, exe string, done <-chan struct{}) {
	t.Helper()
	cmd := exec.Command(sleepBin(t), "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{})
	go func() { _ = cmd.Wait(); close(ch) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-ch })
	exe, err := filepath.EvalSymlinks(cmd.Path)
	if err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid, exe, ch
}

func pidFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.pid"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func waitGone(t *testing.T, what string, running func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for running() {
		if time.Now().After(deadline) {
			t.Fatalf("%s still running", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func exited(ch <-chan struct{}) func() bool {
	return func() bool {
		select {
		case <-ch:
			return false
		default:
			return true
		}
	}
}

func TestStopAllStopsWhatItStartedAndWhatItWatches(t *testing.T) {
	dir := t.TempDir()
	ps := NewProcesses("test", dir)
	p := startSleep(t, ps, "sleeper")
	pid, exe, done := startForeign(t)
	if err := ps.Watch(pid, exe); err != nil {
		t.Fatal(err)
	}
	if got := len(pidFiles(t, dir)); got != 2 {
		t.Fatalf("want 2 PID files (started, watched), got %d", got)
	}

	ps.StopAll()
	if p.Running() {
		t.Error("the started process runs after StopAll")
	}
	waitGone(t, "the watched process", exited(done))
	if files := pidFiles(t, dir); len(files) != 0 {
		t.Errorf("PID files left after StopAll: %v", files)
	}
}

func TestForgottenProcessIsLeftAlone(t *testing.T) {
	dir := t.TempDir()
	ps := NewProcesses("test", dir)
	pid, exe, done := startForeign(t)
	if err := ps.Watch(pid, exe); err != nil {
		t.Fatal(err)
	}
	ps.Forget(pid)

	ps.StopAll()
	if !exited(done)() {
		t.Fatal("StopAll stopped a process that was forgotten")
	}
	if files := pidFiles(t, dir); len(files) != 0 {
		t.Errorf("PID files left after Forget: %v", files)
	}
}

// A run killed before it stopped its processes leaves their PID files; the
// next run's Reap stops those, and not the processes it runs itself.
func TestReapStopsAnEarlierRunsProcessesNotItsOwn(t *testing.T) {
	dir := t.TempDir()
	earlier := startSleep(t, NewProcesses("test", dir), "earlier")
	ps := NewProcesses("test", dir)
	own := startSleep(t, ps, "own")

	ps.Reap()
	waitGone(t, "the earlier run's process", earlier.Running)
	if !own.Running() {
		t.Fatal("Reap stopped a process of its own run")
	}
	if files := pidFiles(t, dir); len(files) != 1 {
		t.Errorf("want only the running process's PID file, got %v", files)
	}
}

// A recorded PID that now runs another executable belongs to someone else.
func TestReapLeavesAReusedPIDAlone(t *testing.T) {
	dir := t.TempDir()
	ps := NewProcesses("test", dir)
	pid, _, done := startForeign(t)
	if err := ps.Watch(pid, "/nonexistent/vault"); err != nil {
		t.Fatal(err)
	}

	ps.Reap()
	if !exited(done)() {
		t.Fatal("Reap stopped a process that runs another executable than the recorded one")
	}
	if files := pidFiles(t, dir); len(files) != 0 {
		t.Errorf("the stale PID file is still there: %v", files)
	}
}

// Stop falls back to SIGKILL for a process that ignores SIGTERM.
func TestStopKillsWhatIgnoresSIGTERM(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on PATH")
	}
	dir := t.TempDir()
	ps := NewProcesses("test", dir)
	// The ignored disposition survives exec, so sleep ignores SIGTERM too.
	p, err := ps.Start("stubborn", filepath.Join(dir, "stubborn.log"),
		[]string{sh, "-c", `trap '' TERM; echo ready; exec ` + sleepBin(t) + ` 600`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	waitGone(t, "the start of the stubborn process", func() bool {
		return !strings.HasSuffix(p.LogTail(3), "\nready")
	})

	p.Stop(200 * time.Millisecond)
	if p.Running() {
		t.Fatal("Stop returned with the process running")
	}
	if files := pidFiles(t, dir); len(files) != 0 {
		t.Errorf("PID files left after Stop: %v", files)
	}
}

func TestKillEndsTheProcess(t *testing.T) {
	ps := NewProcesses("test", t.TempDir())
	p := startSleep(t, ps, "victim")
	p.Kill()
	if p.Running() {
		t.Fatal("Kill returned with the process running")
	}
	p.Kill() // a no-op once it is gone
}
