package soak

import (
	"fmt"
	"time"
)

// Fault names one disturbance of the schedule.
type Fault string

// The faults, in the order the schedule runs them. The plugin kill and the
// Vault restart come first, so that the longest-lived plugin process (the
// one the leak verdict judges) lives through every other fault.
const (
	FaultNone            Fault = "none"
	FaultPluginKill      Fault = "plugin-kill"      // SIGKILL of the plugin process; Vault starts a new one
	FaultVaultRestart    Fault = "vault-restart"    // Vault stopped, started again and unsealed
	FaultAPIServerStop   Fault = "apiserver-stop"   // the HA pair's first API server stopped, then restarted
	FaultAPIServerFreeze Fault = "apiserver-freeze" // the HA pair's second API server frozen (SIGSTOP), then thawed
	FaultBindingRemoved  Fault = "binding-removed"  // the reviewer's system:auth-delegator binding deleted, then restored
	FaultKeyRotation     Fault = "key-rotation"     // the signing key rotated: new key verifies, new key signs, old key removed
	FaultCARotation      Fault = "ca-rotation"      // the pair's serving CA replaced: both CAs trusted, servers moved, old CA dropped
)

// faultOrder is the schedule's order of faults after the warm-up.
var faultOrder = []Fault{
	FaultPluginKill, FaultVaultRestart, FaultAPIServerStop, FaultAPIServerFreeze,
	FaultBindingRemoved, FaultKeyRotation, FaultCARotation,
}

// RecoverWithin is the stated time within which logins that must pass pass
// again after a fault ended. The longest wait it covers is an API server
// back in turn after the plugin's background probe (a 10 s backoff), plus a
// restart's readiness on a loaded 2-core machine.
const RecoverWithin = 30 * time.Second

// Phase is one slot of the schedule: its fault is active from Start to
// Start+FaultFor, then the system runs undisturbed until End.
type Phase struct {
	Name     string
	Fault    Fault
	Start    time.Duration // from the run's start
	FaultFor time.Duration // how long the fault is held (0: none)
	End      time.Duration
}

// FaultEnd is when the fault is scheduled to be lifted.
func (p Phase) FaultEnd() time.Duration { return p.Start + p.FaultFor }

// Schedule is the fault timeline of a run of total length: a warm-up of a
// tenth (at least 20 s) with no fault, then one slot per fault of equal
// length. A fault is held for a quarter of its slot, between 5 s and 60 s;
// a key rotation, which has three steps with tokens of both keys in use
// between them, for half of it, between 10 s and 120 s. Every slot keeps at
// least RecoverWithin undisturbed when the run is long enough (30 minutes
// leave 173 s); in shorter runs recovery is judged over what is left.
func Schedule(total time.Duration) ([]Phase, error) {
	warmup := max(total/10, 20*time.Second)
	slot := (total - warmup) / time.Duration(len(faultOrder))
	if slot < 20*time.Second {
		return nil, fmt.Errorf("a soak of %v leaves %v per fault; want at least 20 s (SOAK_DURATION of 3m or more)", total, slot)
	}
	phases := []Phase{{Name: "warm-up", Fault: FaultNone, Start: 0, End: warmup}}
	at := warmup
	for i, f := range faultOrder {
		hold := clamp(slot/4, 5*time.Second, time.Minute)
		if f == FaultKeyRotation {
			hold = clamp(slot/2, 10*time.Second, 2*time.Minute)
		}
		end := at + slot
		if i == len(faultOrder)-1 {
			end = total // the rounding of the division goes to the last slot
		}
		phases = append(phases, Phase{Name: string(f), Fault: f, Start: at, FaultFor: hold, End: end})
		at = end
	}
	return phases, nil
}

func clamp(d, lo, hi time.Duration) time.Duration {
	return min(max(d, lo), hi)
}

// PhaseAt is the index of the phase running at offset d (the last one past
// the end).
func PhaseAt(phases []Phase, d time.Duration) int {
	for i, p := range phases {
		if d < p.End {
			return i
		}
	}
	return len(phases) - 1
}
