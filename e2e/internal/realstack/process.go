package realstack

import (
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

// Processes are the processes a suite starts beside the stack (second
// kube-apiservers, Vault servers): each in a session of its own, so a
// Ctrl-C aimed at go test reaches only the test binary, which then stops
// them in order; each with its PID in a file under dir, so a run that died
// without stopping them (SIGKILL, a crash) has them stopped by the next
// run's Reap. Processes the suite did not start but may leave behind are
// recorded there too (Watch).
type Processes struct {
	suite string
	dir   string

	mu      sync.Mutex
	running map[*Process]struct{} // started and not yet reaped
}

// Process is one process Processes started.
type Process struct {
	Name    string
	LogPath string // its output, appended to across restarts
	suite   string
	cmd     *exec.Cmd
	exe     string
	pidFile string
	exited  chan struct{} // closed once the process has been reaped
}

// NewProcesses keeps the PID files of suite's processes in dir.
func NewProcesses(suite, dir string) *Processes {
	return &Processes{suite: suite, dir: dir, running: map[*Process]struct{}{}}
}

// Dir is where the PID files are.
func (ps *Processes) Dir() string { return ps.dir }

// Start runs argv with env, its output appended to logPath.
func (ps *Processes) Start(name, logPath string, argv, env []string) (*Process, error) {
	if err := os.MkdirAll(ps.dir, 0o755); err != nil {
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
	p := &Process{
		Name:    name,
		LogPath: logPath,
		suite:   ps.suite,
		cmd:     cmd,
		exe:     argv[0],
		pidFile: filepath.Join(ps.dir, fmt.Sprintf("%s.%d.pid", name, cmd.Process.Pid)),
		exited:  make(chan struct{}),
	}
	if real, err := filepath.EvalSymlinks(argv[0]); err == nil {
		if abs, err := filepath.Abs(real); err == nil {
			p.exe = abs // what /proc/<pid>/exe shows
		}
	}
	if err := os.WriteFile(p.pidFile, fmt.Appendf(nil, "%d %s\n", cmd.Process.Pid, p.exe), 0o644); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
		return nil, err
	}
	ps.mu.Lock()
	ps.running[p] = struct{}{}
	ps.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		_ = os.Remove(p.pidFile)
		logFile.Close()
		ps.mu.Lock()
		delete(ps.running, p)
		ps.mu.Unlock()
		close(p.exited)
	}()
	return p, nil
}

// PID is the process's ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// LogTail is the end of the process's log, for failure messages.
func (p *Process) LogTail(lines int) string { return tail(p.LogPath, lines) }

// Running is false once the process has exited.
func (p *Process) Running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Stop asks the process to exit (SIGTERM), kills it when it has not within
// grace, and returns once it is gone. Stopping a stopped process is a no-op.
func (p *Process) Stop(grace time.Duration) {
	if !p.Running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return
	case <-time.After(grace):
	}
	fmt.Fprintf(os.Stderr, "%s: %s (pid %d) ignored SIGTERM for %v; killing it\n", p.suite, p.Name, p.PID(), grace)
	p.Kill()
}

// Kill is a crash: SIGKILL, no chance to clean up; it returns once the
// process is gone. Killing a stopped process is a no-op.
func (p *Process) Kill() {
	if !p.Running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// Signal sends sig to the process (SIGSTOP and SIGCONT freeze and thaw it).
func (p *Process) Signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// Watch records a process the suite did not start but may leave behind (a
// plugin process whose Vault a test is about to kill), so that StopAll, or
// the next run's Reap, stops it should it outlive the test. Forget drops the
// record once the process is known to be gone.
func (ps *Processes) Watch(pid int, exe string) error {
	if err := os.MkdirAll(ps.dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(ps.watchFile(pid), fmt.Appendf(nil, "%d %s\n", pid, exe), 0o644)
}

// Forget drops what Watch recorded of pid.
func (ps *Processes) Forget(pid int) { _ = os.Remove(ps.watchFile(pid)) }

func (ps *Processes) watchFile(pid int) string {
	return filepath.Join(ps.dir, fmt.Sprintf("watched.%d.pid", pid))
}

// StopAll stops every process still running, in parallel, then what Watch
// recorded and nobody forgot.
func (ps *Processes) StopAll() {
	ps.mu.Lock()
	all := make([]*Process, 0, len(ps.running))
	for p := range ps.running {
		all = append(all, p)
	}
	ps.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range all {
		wg.Go(func() { p.Stop(20 * time.Second) })
	}
	wg.Wait()
	ps.Reap()
}

// Reap stops what is recorded in dir and still running, other than the
// processes this run started and is running: what an earlier run left
// behind, and what Watch recorded. A PID is signaled only while it still
// runs the recorded executable: a number reused by an unrelated process is
// left alone.
func (ps *Processes) Reap() {
	files, _ := filepath.Glob(filepath.Join(ps.dir, "*.pid"))
	ps.mu.Lock()
	ours := map[string]bool{}
	for p := range ps.running {
		ours[p.pidFile] = true
	}
	ps.mu.Unlock()
	var wg sync.WaitGroup
	for _, f := range files {
		if !ours[f] {
			wg.Go(func() { ps.stopRecorded(f) })
		}
	}
	wg.Wait()
}

func (ps *Processes) stopRecorded(file string) {
	defer func() { _ = os.Remove(file) }()
	b, err := os.ReadFile(file)
	if err != nil {
		return
	}
	pidStr, exe, ok := strings.Cut(strings.TrimSpace(string(b)), " ")
	pid, err := strconv.Atoi(pidStr)
	if !ok || err != nil || pid <= 1 || RunningExe(pid) != exe {
		return
	}
	fmt.Fprintf(os.Stderr, "%s: stopping left-over %s (pid %d)\n", ps.suite, exe, pid)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for range 100 {
		if RunningExe(pid) != exe {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	if RunningExe(pid) == exe {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// RunningExe is the executable a PID runs ("" when it is gone), without the
// " (deleted)" suffix Linux adds once the file is replaced. A zombie has no
// executable left to read, so it counts as gone.
func RunningExe(pid int) string {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(exe, " (deleted)")
}
