package main

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestWatchParentNoticesReparenting(t *testing.T) {
	var ppid atomic.Int64
	ppid.Store(4242)
	orphaned := make(chan [2]int, 1)
	stop := make(chan struct{})
	defer close(stop)
	go watchParent(func() int { return int(ppid.Load()) }, time.Millisecond, stop, func(o, n int) { orphaned <- [2]int{o, n} })

	select {
	case <-orphaned:
		t.Fatal("reported orphaned while the parent is alive")
	case <-time.After(20 * time.Millisecond):
	}
	ppid.Store(1) // Vault died; init adopted the plugin
	select {
	case got := <-orphaned:
		if got != [2]int{4242, 1} {
			t.Fatalf("reported %v", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("re-parenting not noticed")
	}
}

func TestWatchParentIgnoresInitChildren(t *testing.T) {
	done := make(chan struct{})
	go func() {
		watchParent(func() int { return 1 }, time.Millisecond, nil, func(int, int) { t.Error("orphan reported") })
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("watching a process whose parent is init")
	}
}
