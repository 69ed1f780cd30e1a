package soak

import (
	"testing"
	"time"
)

func TestScheduleCoversTheRunWithEveryFaultOnce(t *testing.T) {
	for _, total := range []time.Duration{3 * time.Minute, 4 * time.Minute, 30 * time.Minute, 24 * time.Hour} {
		phases, err := Schedule(total)
		if err != nil {
			t.Fatalf("%v: %v", total, err)
		}
		if phases[0].Fault != FaultNone || phases[0].Start != 0 {
			t.Fatalf("%v: the first phase is %+v, want a warm-up at 0", total, phases[0])
		}
		if last := phases[len(phases)-1]; last.End != total {
			t.Fatalf("%v: the last phase ends at %v", total, last.End)
		}
		seen := map[Fault]int{}
		for i, p := range phases {
			seen[p.Fault]++
			if i > 0 && p.Start != phases[i-1].End {
				t.Fatalf("%v: phase %d starts at %v, the one before ends at %v", total, i, p.Start, phases[i-1].End)
			}
			if p.FaultEnd() > p.End || p.End <= p.Start {
				t.Fatalf("%v: phase %+v holds its fault past its end", total, p)
			}
			if p.Fault != FaultNone && p.FaultFor < 5*time.Second {
				t.Fatalf("%v: fault %s held only %v", total, p.Fault, p.FaultFor)
			}
		}
		for _, f := range faultOrder {
			if seen[f] != 1 {
				t.Fatalf("%v: fault %s runs %d times", total, f, seen[f])
			}
		}
	}
}

func TestScheduleLeavesRecoveryTimeInAHalfHour(t *testing.T) {
	phases, err := Schedule(30 * time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range phases[1:] {
		if quiet := p.End - p.FaultEnd(); quiet < 2*RecoverWithin {
			t.Fatalf("%s leaves %v after its fault, want at least %v", p.Name, quiet, 2*RecoverWithin)
		}
	}
	// The plugin's process is replaced only in the first two slots, so the
	// process the leak verdict judges lives through most of the run.
	if phases[1].Fault != FaultPluginKill || phases[2].Fault != FaultVaultRestart {
		t.Fatalf("the first faults are %s and %s", phases[1].Fault, phases[2].Fault)
	}
	if phases[3].Start > 30*time.Minute*2/5 {
		t.Fatalf("the last process change ends at %v, more than two fifths into the run", phases[3].Start)
	}
}

func TestScheduleRefusesATooShortRun(t *testing.T) {
	if _, err := Schedule(2 * time.Minute); err == nil {
		t.Fatal("a 2-minute soak was scheduled")
	}
}

func TestPhaseAt(t *testing.T) {
	phases, _ := Schedule(10 * time.Minute)
	for i, p := range phases {
		if got := PhaseAt(phases, p.Start); got != i {
			t.Fatalf("at %v: phase %d, want %d", p.Start, got, i)
		}
		if got := PhaseAt(phases, p.End-time.Nanosecond); got != i {
			t.Fatalf("just before %v: phase %d, want %d", p.End, got, i)
		}
	}
	if got := PhaseAt(phases, time.Hour); got != len(phases)-1 {
		t.Fatalf("past the end: phase %d", got)
	}
}
