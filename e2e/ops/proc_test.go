package ops

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// What /proc tells about processes the suite did not start itself: the
// plugin processes Vault runs, and the resources they and Vault hold. The
// processes the suite starts are realstack.Processes (ops.Procs).

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
		if realstack.RunningExe(pid) == exe {
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

// waitAllThreadsStopped waits until every thread of pid is stopped
// (SIGSTOP reaches each thread of a process on its own, not at once), so
// that what the test does next meets a process that can no longer answer.
func waitAllThreadsStopped(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			t.Fatalf("reading the threads of pid %d: %v", pid, err)
		}
		running := 0
		for _, task := range tasks {
			tid, err := strconv.Atoi(task.Name())
			if err != nil {
				continue
			}
			if _, state, err := procStat(tid); err == nil && state != 'T' && state != 't' {
				running++
			}
		}
		if running == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d: %d of %d threads still not stopped 5s after SIGSTOP", pid, running, len(tasks))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
