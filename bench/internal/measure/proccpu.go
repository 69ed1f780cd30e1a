package measure

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Where a login's CPU goes: the processes whose CPU time is read before and
// after every run (from /proc, so nothing is added to the processes).
const (
	ProcVault     = "vault"
	ProcPlugin    = "plugin" // the external plugin process serving the target
	ProcAPIServer = "kube-apiserver"
	ProcEtcd      = "etcd"
	ProcLoadgen   = "loadgen" // this tool
)

var ProcOrder = []string{ProcVault, ProcPlugin, ProcAPIServer, ProcEtcd, ProcLoadgen}

// userHZ is the unit of the CPU times in /proc/<pid>/stat: USER_HZ, 100 on
// Linux whatever the kernel's own tick rate.
const userHZ = 100

// parseProcStat returns the parent PID and the user+system CPU time of a
// /proc/<pid>/stat line. The command name (field 2) is in parentheses and
// may itself hold spaces and parentheses, so fields are counted from the
// last ')'.
func parseProcStat(stat string) (ppid int, cpu time.Duration, err error) {
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, 0, errors.New("no command name in /proc stat line")
	}
	// After ")": state(3) ppid(4) ... utime(14) stime(15).
	f := strings.Fields(stat[end+1:])
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc stat line has %d fields after the command name, want at least 13", len(f))
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return 0, 0, fmt.Errorf("/proc stat ppid %q: %w", f[1], err)
	}
	var ticks uint64
	for _, s := range f[11:13] {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc stat CPU time %q: %w", s, err)
		}
		ticks += n
	}
	return ppid, time.Duration(ticks) * time.Second / userHZ, nil
}

func readProcStat(pid int) (ppid int, cpu time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	return parseProcStat(string(b))
}

// Procs finds the stack's processes: the PIDs recorded in the stack's
// state directory (as stack-up.sh writes them) and Vault's plugin children,
// by the name of the file Vault runs.
type Procs struct {
	StackDir string
}

// CPUSnapshot is the CPU time each process had used at one moment, and the
// plugin process it was read from.
type CPUSnapshot struct {
	cpu       map[string]time.Duration
	pluginPID int
}

func (s Procs) pidFromFile(name string) (int, error) {
	b, err := os.ReadFile(filepath.Join(s.StackDir, name+".pid"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// pluginChild returns the PID of the child of vaultPID that runs the
// plugin file named file, 0 if there is none.
func pluginChild(vaultPID int, file string) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, _, err := readProcStat(pid)
		if err != nil || ppid != vaultPID {
			continue
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err == nil && filepath.Base(exe) == file {
			return pid
		}
	}
	return 0
}

// Snapshot reads the CPU time of every process it can find; pluginFile is
// the plugin file of the target about to run ("" for targets in Vault's
// process). A process that cannot be read is left out, and so is its
// column.
func (s Procs) Snapshot(pluginFile string) CPUSnapshot {
	snap := CPUSnapshot{cpu: map[string]time.Duration{}}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		snap.cpu[ProcLoadgen] = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if s.StackDir == "" {
		return snap
	}
	vaultPID := 0
	for name, file := range map[string]string{ProcVault: "vault", ProcAPIServer: "kube-apiserver", ProcEtcd: "etcd"} {
		pid, err := s.pidFromFile(file)
		if err != nil {
			continue
		}
		if _, cpu, err := readProcStat(pid); err == nil {
			snap.cpu[name] = cpu
			if name == ProcVault {
				vaultPID = pid
			}
		}
	}
	if pluginFile != "" && vaultPID != 0 {
		if pid := pluginChild(vaultPID, pluginFile); pid != 0 {
			if _, cpu, err := readProcStat(pid); err == nil {
				snap.cpu[ProcPlugin] = cpu
				snap.pluginPID = pid
			}
		}
	}
	return snap
}

// CPUDelta is the CPU time each process spent between two snapshots. The
// plugin's is left out when its process changed in between (Vault
// restarted it): the difference would mean nothing.
func CPUDelta(before, after CPUSnapshot) map[string]time.Duration {
	d := map[string]time.Duration{}
	for name, a := range after.cpu {
		b, ok := before.cpu[name]
		if !ok || a < b {
			continue
		}
		if name == ProcPlugin && before.pluginPID != after.pluginPID {
			continue
		}
		d[name] = a - b
	}
	return d
}

// CPUPerLogin is CPU milliseconds per successful login.
func CPUPerLogin(cpu time.Duration, logins int) (float64, bool) {
	if logins == 0 || cpu <= 0 {
		return 0, false
	}
	return float64(cpu) / float64(time.Millisecond) / float64(logins), true
}

// LoadAverage is the first three fields of /proc/loadavg: how busy the
// shared machine was when the report was written.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
