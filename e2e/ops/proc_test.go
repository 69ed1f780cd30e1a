package ops

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Every process the suite starts (Vault servers, private kube-apiservers) is
// a proc: started in a session of its own, its PID recorded in a file under
// the run directory, and stopped only by that PID. The stack's own etcd,
// apiserver and dev Vault belong to scripts/stack-up.sh and stack-down.sh.

type proc struct {
	name    string
	exe     string
	cmd     *exec.Cmd
	pidFile string
	exited  chan struct{} // closed once Wait has returned
	log     *os.File
}

// registry knows every proc still running, so the suite can stop them all
// whatever way the run ends.
var registry = struct {
	sync.Mutex
	procs map[*proc]struct{}
}{procs: map[*proc]struct{}{}}

// pidDir holds one file per started process: "<pid> <exe>". A run that dies
// without cleaning up (SIGKILL, a crash) leaves them for the next run's
// reapLeftovers.
func pidDir() string { return filepath.Join(ops.runDir, "pids") }

// startProc runs argv with its output appended to logPath. The process gets
// a session of its own so a Ctrl-C aimed at `go test` reaches only the test
// binary, which then stops everything in order.
func startProc(name, logPath string, argv []string, env []string) (*proc, error) {
	if err := os.MkdirAll(pidDir(), 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logFile, "\n===== %s: starting %s\n", time.Now().Format(time.RFC3339), strings.Join(argv, " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{
		name:    name,
		exe:     argv[0],
		cmd:     cmd,
		pidFile: filepath.Join(pidDir(), fmt.Sprintf("%s.%d.pid", name, cmd.Process.Pid)),
		exited:  make(chan struct{}),
		log:     logFile,
	}
	if err := os.WriteFile(p.pidFile, fmt.Appendf(nil, "%d %s\n", cmd.Process.Pid, p.exe), 0o644); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
		return nil, err
	}
	registry.Lock()
	registry.procs[p] = struct{}{}
	registry.Unlock()
	go func() {
		_ = cmd.Wait()
		close(p.exited)
		registry.Lock()
		delete(registry.procs, p)
		registry.Unlock()
		_ = os.Remove(p.pidFile)
		logFile.Close()
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop asks the process to exit (SIGTERM) and kills it when it has not
// within grace. Vault and the apiserver shut down cleanly in a few seconds.
func (p *proc) stop(grace time.Duration) {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return
	case <-time.After(grace):
	}
	fmt.Fprintf(os.Stderr, "ops: %s (pid %d) ignored SIGTERM for %v; killing it\n", p.name, p.pid(), grace)
	p.kill()
}

// kill is the crash: SIGKILL, then wait until the process is reaped.
func (p *proc) kill() {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

func (p *proc) signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// stopAllProcs stops everything the suite started that is still running,
// in parallel so a dozen processes do not take a dozen grace periods.
func stopAllProcs() {
	registry.Lock()
	var all []*proc
	for p := range registry.procs {
		all = append(all, p)
	}
	registry.Unlock()
	var wg sync.WaitGroup
	for _, p := range all {
		wg.Go(func() { p.stop(20 * time.Second) })
	}
	wg.Wait()
	killRecordedOrphans()
}

// recordOrphan notes a plugin process that may outlive its Vault (the test
// is about to kill that Vault): the suite stops it by this recorded PID at
// the end, and a later run does if this one cannot. forgetOrphan drops the
// note once the process is known to be gone.
func recordOrphan(pid int, exe string) {
	_ = os.MkdirAll(pidDir(), 0o755)
	_ = os.WriteFile(orphanFile(pid), fmt.Appendf(nil, "%d %s\n", pid, exe), 0o644)
}

func forgetOrphan(pid int) { _ = os.Remove(orphanFile(pid)) }

func orphanFile(pid int) string { return filepath.Join(pidDir(), fmt.Sprintf("orphan.%d.pid", pid)) }

func killRecordedOrphans() {
	files, _ := filepath.Glob(filepath.Join(pidDir(), "orphan.*.pid"))
	for _, f := range files {
		killRecorded(f)
	}
}

// reapLeftovers stops what an earlier run recorded and left running. A PID
// is signaled only while it still runs the recorded executable: a number
// reused by an unrelated process is left alone.
func reapLeftovers(dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "pids", "*.pid"))
	var wg sync.WaitGroup
	for _, f := range files {
		wg.Go(func() { killRecorded(f) })
	}
	wg.Wait()
}

// killRecorded stops the process a PID file names: SIGTERM first, so a
// Vault server stops its plugin processes on the way out, then SIGKILL.
func killRecorded(file string) {
	defer os.Remove(file)
	b, err := os.ReadFile(file)
	if err != nil {
		return
	}
	pidStr, exe, ok := strings.Cut(strings.TrimSpace(string(b)), " ")
	pid, err := strconv.Atoi(pidStr)
	if !ok || err != nil || pid <= 1 {
		return
	}
	if got := procExe(pid); got == "" || got != exe {
		return
	}
	fmt.Fprintf(os.Stderr, "ops: stopping left-over %s (pid %d)\n", exe, pid)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for range 100 {
		if !processRunning(pid) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	if procExe(pid) == exe {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// procExe is the executable a PID runs ("" when it is gone or a zombie),
// without the " (deleted)" suffix Linux adds once the file is replaced.
func procExe(pid int) string {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(exe, " (deleted)")
}

// procStat is the parent PID and state letter of a process, from
// /proc/<pid>/stat (whose second field, the command, may hold spaces).
func procStat(pid int) (ppid int, state byte, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+4 > len(s) {
		return 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 2 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	ppid, err = strconv.Atoi(fields[1])
	return ppid, fields[0][0], err
}

// childrenRunning lists the live (not zombie) children of parent that run
// exe: the plugin processes Vault started from one plugin file.
func childrenRunning(parent int, exe string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, state, err := procStat(pid)
		if err != nil || ppid != parent || state == 'Z' {
			continue
		}
		if procExe(pid) == exe {
			out = append(out, pid)
		}
	}
	return out
}

// processRunning reports whether pid is alive and not a zombie.
func processRunning(pid int) bool {
	_, state, err := procStat(pid)
	return err == nil && state != 'Z'
}

// usage is what /proc says about a process's resources.
type usage struct {
	threads int
	rssKiB  int
	fds     int
}

func (u usage) String() string {
	return fmt.Sprintf("threads=%d rss=%.1fMiB fds=%d", u.threads, float64(u.rssKiB)/1024, u.fds)
}

func procUsage(pid int) (usage, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return usage{}, err
	}
	defer f.Close()
	var u usage
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		switch k {
		case "Threads":
			u.threads, _ = strconv.Atoi(fields[0])
		case "VmRSS":
			u.rssKiB, _ = strconv.Atoi(fields[0])
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return usage{}, err
	}
	u.fds = len(fds)
	if u.threads == 0 {
		return usage{}, errors.New("no Threads line in /proc status")
	}
	return u, nil
}
