package realstack

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The stack's kube-apiserver is started by stack-up.sh; the API servers a
// suite starts itself take its command line, read back from /proc, and
// change only the flags they must, so the two never drift apart.

// readAPIServerArgv reads the stack apiserver's command line.
func (s *Stack) readAPIServerArgv() error {
	pid, err := RecordedPID(filepath.Join(s.StackDir, "kube-apiserver.pid"))
	if err != nil {
		return err
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return fmt.Errorf("reading the stack apiserver's command line: %w", err)
	}
	s.APIServerArgv = strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
	return nil
}

// Flag is one command-line flag ("--secure-port") and its value.
type Flag struct{ Name, Value string }

// HasFlag reports whether argv sets the flag, as "--flag value" or
// "--flag=value".
func HasFlag(argv []string, name string) bool {
	for _, arg := range argv[min(1, len(argv)):] {
		if n, _, _ := strings.Cut(arg, "="); n == name {
			return true
		}
	}
	return false
}

// ReplaceFlags is argv without every flag named in drop or in set, with
// set's flags appended in order. A flag is read as "--flag=value" or as
// "--flag value": every flag of the stack's apiserver takes a value.
func ReplaceFlags(argv []string, drop []string, set ...Flag) []string {
	if len(argv) == 0 {
		return nil
	}
	gone := map[string]bool{}
	for _, n := range drop {
		gone[n] = true
	}
	for _, f := range set {
		gone[f.Name] = true
	}
	out := []string{argv[0]}
	for i := 1; i < len(argv); i++ {
		name, _, inline := strings.Cut(argv[i], "=")
		if gone[name] {
			if !inline {
				i++ // the value is the next word
			}
			continue
		}
		out = append(out, argv[i])
	}
	for _, f := range set {
		out = append(out, f.Name, f.Value)
	}
	return out
}

// An APIServer is one kube-apiserver the suite started with the stack
// apiserver's command line (ReplaceFlags): a second cluster's, or a peer of
// it over the same etcd prefix. Stop, Kill, Freeze and Thaw act on its
// process; Restart runs the same command line again on the same port.
type APIServer struct {
	Host    string // https://127.0.0.1:<port>
	LogPath string // appended to across restarts
	name    string // its process's
	port    int
	argv    []string
	client  *tls.Config // how the harness calls it: the serving CA, the admin's certificate
	procs   *Processes
	proc    *Process
}

// startAPIServer runs argv and waits until the API server is ready.
func startAPIServer(ctx context.Context, a *APIServer) error {
	if err := portFree(a.port); err != nil {
		return fmt.Errorf("%s: %w", a.name, err)
	}
	p, err := a.procs.Start(a.name, a.LogPath, a.argv, CleanEnv())
	if err != nil {
		return err
	}
	a.proc = p
	if err := a.waitReady(ctx, 3*time.Minute); err != nil {
		a.Stop()
		return err
	}
	return nil
}

// Restart starts a stopped or killed API server again, with the same
// command line, port and files, and waits until it is ready.
func (a *APIServer) Restart(ctx context.Context) error {
	if a.Running() {
		return fmt.Errorf("%s still runs", a.name)
	}
	return startAPIServer(ctx, a)
}

// waitReady polls /readyz as the admin until the API server answers ok,
// exits or the timeout passes.
func (a *APIServer) waitReady(ctx context.Context, timeout time.Duration) error {
	client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: a.client}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		if !a.Running() {
			return fmt.Errorf("%s exited during startup\n%s", a.name, tail(a.LogPath, 30))
		}
		resp, err := client.Get(a.Host + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v (last: %s)\n%s", a.name, timeout, last, tail(a.LogPath, 30))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", a.name, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Stop stops the API server and returns once it has exited (its port is
// free then); a frozen one is thawed first, so it can exit on SIGTERM.
// Stopping a stopped API server is a no-op.
func (a *APIServer) Stop() {
	if a.Running() {
		_ = a.Thaw()
		a.proc.Stop(30 * time.Second)
	}
}

// Kill is a crash: SIGKILL, and it returns once the process is gone.
func (a *APIServer) Kill() {
	if a.proc != nil {
		a.proc.Kill()
	}
}

// Freeze stops the process (SIGSTOP) without closing anything: the kernel
// still accepts connections on its port, and nothing ever answers them.
func (a *APIServer) Freeze() error { return a.signal(syscall.SIGSTOP) }

// Thaw lets a frozen API server run again (SIGCONT).
func (a *APIServer) Thaw() error { return a.signal(syscall.SIGCONT) }

func (a *APIServer) signal(sig syscall.Signal) error {
	if !a.Running() {
		return fmt.Errorf("%s is not running", a.name)
	}
	return a.proc.Signal(sig)
}

// Port is the API server's port.
func (a *APIServer) Port() int { return a.port }

// Running is false once the API server has exited.
func (a *APIServer) Running() bool { return a.proc != nil && a.proc.Running() }

// FreePort is a loopback port nothing listened on a moment ago, for a
// process that cannot be told to choose one itself.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

func portFree(port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("port %d is taken: %w", port, err)
	}
	return l.Close()
}

// FlagValue is the value argv gives the flag ("--flag value" or
// "--flag=value"), and whether it sets it.
func FlagValue(argv []string, name string) (string, bool) {
	for i := 1; i < len(argv); i++ {
		n, v, inline := strings.Cut(argv[i], "=")
		switch {
		case n != name:
		case inline:
			return v, true
		case i+1 < len(argv):
			return argv[i+1], true
		}
	}
	return "", false
}
