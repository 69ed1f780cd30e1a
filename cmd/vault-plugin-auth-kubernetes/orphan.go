package main

import (
	"time"
)

// parentCheckInterval is how often the plugin checks that the Vault process
// that started it is still there.
const parentCheckInterval = 2 * time.Second

// watchParent calls onOrphan once the process has been re-parented, which
// happens when the Vault that started it dies without stopping it (kill -9,
// OOM kill). go-plugin does not notice that on its own, so without this
// every Vault crash would leave one idle plugin process behind per mount
// type. A process whose parent is 1 from the start is not watched: there is
// no parent change to observe. That is the case when Vault itself is PID 1
// (a container whose entry point is Vault, with no init); there, Vault's
// exit ends the PID namespace and the kernel kills the plugin with it, so
// the watch is needed only where Vault has a parent of its own.
func watchParent(getppid func() int, interval time.Duration, stop <-chan struct{}, onOrphan func(oldParent, newParent int)) {
	parent := getppid()
	if parent <= 1 {
		return
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ticker.C:
			if now := getppid(); now != parent {
				onOrphan(parent, now)
				return
			}
		}
	}
}
