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

// Processes are the processes a suite starts beside the stack (a second
// kube-apiserver): each in a session of its own, so a Ctrl-C aimed at go
// test reaches only the test binary, which then stops them in order; each
// with its PID in a file under dir, so a run that died without stopping
// them (SIGKILL, a crash) has them stopped by the next run's Reap.
type Processes struct {
	suite string
	dir   string

	mu      sync.Mutex
	running map[*Process]struct{} // started and not yet reaped
}

// Process is one process Processes started.
type Process struct {
	Name    string
	cmd     *exec.Cmd
	exe     string
	pidFile string
	exited  chan struct{} // closed once the process has been reaped
}

// NewProcesses keeps the PID files of suite's processes in dir.
func NewProcesses(suite, dir string) *Processes {
	return &Processes{suite: suite, dir: dir, running: map[*Process]struct{}{}}
}

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
	fmt.Fprintf(os.Stderr, "%s (pid %d) ignored SIGTERM for %v; killing it\n", p.Name, p.PID(), grace)
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// StopAll stops every process still running, in parallel.
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
}

// Reap stops what an earlier run recorded in dir and left running. A PID is
// signaled only while it still runs the recorded executable: a number
// reused by an unrelated process is left alone.
func (ps *Processes) Reap() {
	files, _ := filepath.Glob(filepath.Join(ps.dir, "*.pid"))
	var wg sync.WaitGroup
	for _, f := range files {
		wg.Go(func() { ps.stopRecorded(f) })
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
	if !ok || err != nil || pid <= 1 || runningExe(pid) != exe {
		return
	}
	fmt.Fprintf(os.Stderr, "%s: stopping left-over %s (pid %d)\n", ps.suite, exe, pid)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for range 100 {
		if runningExe(pid) != exe {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	if runningExe(pid) == exe {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// runningExe is the executable a PID runs ("" when it is gone), without the
// " (deleted)" suffix Linux adds once the file is replaced. A zombie has no
// executable left to read, so it counts as gone.
func runningExe(pid int) string {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(exe, " (deleted)")
}
