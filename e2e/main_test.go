package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stk is the running stack every test talks to; TestMain sets it before any
// test runs and nothing writes it afterwards.
var stk *stack

// TestMain starts a stack of its own (its own state directory and ports, so
// it runs beside `make demo` and a benchmark's stack), registers the plugin,
// runs the tests and stops the stack whatever happened.
func TestMain(m *testing.M) {
	flag.Parse()
	raiseParallel()
	os.Exit(run(m))
}

// raiseParallel lets more parallel tests run at once than go test's default
// of GOMAXPROCS (2 on CI): they mostly wait on Vault, the apiserver or the
// apiserver's 10 s review cache, not on the CPU. An explicit -parallel wins.
func raiseParallel() {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", "8")
	}
}

func run(m *testing.M) int {
	s, err := startStack(settingsFromEnv())
	if s != nil {
		stop := stopOnce(s)
		defer stop()
		stopOnSignal(stop)
		stopBeforeTimeout(stop)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: cannot start the stack: %v\n"+
			"e2e: its state is in E2E_STACK_DIR, its ports are E2E_ETCD_PORT, E2E_KUBE_PORT and E2E_VAULT_PORT (see e2e/README.md)\n", err)
		return 1
	}
	stk = s
	return m.Run()
}

// stopOnce makes stopping safe to call from the normal exit path, a signal
// handler and the timeout guard alike.
func stopOnce(s *stack) func() {
	var once sync.Once
	return func() { once.Do(s.stop) }
}

// stopOnSignal stops the stack on Ctrl-C or SIGTERM: its processes run in a
// session of their own and would otherwise outlive the test binary.
func stopOnSignal(stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-ch
		fmt.Fprintf(os.Stderr, "e2e: %v: stopping the stack\n", sig)
		stop()
		os.Exit(1)
	}()
}

// stopBeforeTimeout stops the stack shortly before `go test -timeout`
// panics: that panic skips deferred calls, TestMain's included.
func stopBeforeTimeout(stop func()) {
	f := flag.Lookup("test.timeout")
	if f == nil {
		return
	}
	timeout, ok := f.Value.(flag.Getter).Get().(time.Duration)
	if !ok || timeout <= 0 {
		return
	}
	margin := min(30*time.Second, timeout/10)
	time.AfterFunc(timeout-margin, func() {
		fmt.Fprintf(os.Stderr, "e2e: the %v test timeout is near: stopping the stack\n", timeout)
		stop()
	})
}
