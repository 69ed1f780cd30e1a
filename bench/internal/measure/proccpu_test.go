package measure

import (
	"os"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	// pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime ...
	// The command name holds spaces and parentheses, as a process may name itself.
	line := "4242 (vault (x) y) S 4100 4242 4100 0 -1 4194560 1000 0 0 0 250 125 7 9 20 0 30 0 1234 100000 2000\n"
	ppid, cpu, err := parseProcStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if ppid != 4100 {
		t.Errorf("ppid = %d, want 4100", ppid)
	}
	// (250 + 125) ticks of 1/100 s; the children's times (7, 9) are not the process's own.
	if cpu != 3750*time.Millisecond {
		t.Errorf("cpu = %v, want 3.75s", cpu)
	}
	for _, bad := range []string{"", "4242 vault S 1", "4242 (vault) S 1 2 3", "4242 (vault) S x 4242 4100 0 -1 4194560 1000 0 0 0 250 125", "4242 (vault) S 1 4242 4100 0 -1 4194560 1000 0 0 0 25x 125"} {
		if _, _, err := parseProcStat(bad); err == nil {
			t.Errorf("parseProcStat(%q) succeeded", bad)
		}
	}
}

// The parser reads this very process's stat as the kernel writes it.
func TestReadProcStatSelf(t *testing.T) {
	ppid, _, err := readProcStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if ppid != os.Getppid() {
		t.Errorf("ppid = %d, want %d", ppid, os.Getppid())
	}
}

func TestCPUDelta(t *testing.T) {
	before := CPUSnapshot{cpu: map[string]time.Duration{ProcVault: 1 * time.Second, ProcPlugin: 2 * time.Second, ProcEtcd: 5 * time.Second}, pluginPID: 10}
	after := CPUSnapshot{cpu: map[string]time.Duration{ProcVault: 3 * time.Second, ProcPlugin: 2500 * time.Millisecond, ProcEtcd: 4 * time.Second, ProcLoadgen: time.Second}, pluginPID: 10}
	d := CPUDelta(before, after)
	if d[ProcVault] != 2*time.Second || d[ProcPlugin] != 500*time.Millisecond {
		t.Errorf("delta = %v", d)
	}
	// etcd went backwards (another process reused the PID): unknown; loadgen was not read before: unknown.
	if _, ok := d[ProcEtcd]; ok {
		t.Errorf("etcd delta %v from a counter that went backwards", d[ProcEtcd])
	}
	if _, ok := d[ProcLoadgen]; ok {
		t.Error("loadgen delta without a reading before")
	}
	// Vault restarted its plugin in between: its delta means nothing.
	after.pluginPID = 11
	if _, ok := CPUDelta(before, after)[ProcPlugin]; ok {
		t.Error("plugin delta across two processes")
	}
}
