package realstack

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Suite is how a suite's TestMain runs its tests around the processes it
// starts.
type Suite struct {
	Name     string // prefixes every message: "e2e", "ops"
	Stopping string // what stopping stops, for messages: "the stack", "everything"
	// Parallel replaces go test's default -parallel of GOMAXPROCS (2 on
	// CI): the tests mostly wait on Vault, the apiserver, caches, elections
	// and timeouts, not on the CPU. An explicit -parallel wins.
	Parallel int
	// Margin is how long before -timeout the suite stops everything (at
	// most a tenth of the timeout): the timeout's panic skips every
	// deferred call, TestMain's included.
	Margin time.Duration
	Hint   string // printed after a failed start: where to look
}

// Main is a suite's TestMain. It runs start, then the tests, and calls stop
// whatever happens: the tests end, start fails, Ctrl-C or SIGTERM arrives,
// or -timeout comes near. The processes run in sessions of their own and
// would otherwise outlive the test binary. stop must cope with a start that
// failed half-way.
func (s Suite) Main(m *testing.M, start func() error, stop func()) {
	flag.Parse()
	s.raiseDefaultParallel()
	os.Exit(s.run(m, start, stop))
}

func (s Suite) run(m *testing.M, start func() error, stop func()) int {
	var once sync.Once
	stopOnce := func() { once.Do(stop) }
	defer stopOnce()
	s.stopOnSignal(stopOnce)
	s.stopBeforeTimeout(stopOnce)
	if err := start(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: cannot start the stack: %v\n", s.Name, err)
		if s.Hint != "" {
			fmt.Fprintf(os.Stderr, "%s: %s\n", s.Name, s.Hint)
		}
		return 1
	}
	return m.Run()
}

func (s Suite) raiseDefaultParallel() {
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit && s.Parallel > 0 {
		_ = flag.Set("test.parallel", strconv.Itoa(s.Parallel))
	}
}

func (s Suite) stopOnSignal(stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-ch
		fmt.Fprintf(os.Stderr, "%s: %v: stopping %s\n", s.Name, sig, s.Stopping)
		stop()
		os.Exit(1)
	}()
}

func (s Suite) stopBeforeTimeout(stop func()) {
	f := flag.Lookup("test.timeout")
	if f == nil {
		return
	}
	timeout, ok := f.Value.(flag.Getter).Get().(time.Duration)
	if !ok || timeout <= 0 {
		return
	}
	margin := min(s.Margin, timeout/10)
	time.AfterFunc(timeout-margin, func() {
		fmt.Fprintf(os.Stderr, "%s: the %v test timeout is near: stopping %s\n", s.Name, timeout, s.Stopping)
		stop()
	})
}
