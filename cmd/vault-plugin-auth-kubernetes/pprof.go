package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"time"

	"github.com/hashicorp/go-hclog"
)

// pprofAddrEnv names a loopback address (such as 127.0.0.1:6060) at which
// the plugin process serves Go's profiling endpoints under /debug/pprof/.
// It is a debugging aid, used by the benchmark to take a CPU profile of the
// plugin under load; unset, the default, nothing listens. Set it with
// `vault plugin register -env KUBEAUTH_PPROF_ADDR=127.0.0.1:6060`. The
// endpoints have no authentication: loopback keeps other machines out,
// not other processes on Vault's host.
const pprofAddrEnv = "KUBEAUTH_PPROF_ADDR"

// pprofListenAddr checks a KUBEAUTH_PPROF_ADDR value. Only a loopback IP is
// accepted: the endpoints show goroutine stacks and memory, and must never
// be reachable from another machine by a typo such as ":6060".
func pprofListenAddr(v string) (string, error) {
	ap, err := netip.ParseAddrPort(v)
	if err != nil {
		return "", fmt.Errorf("%s=%q: want a loopback IP and port such as 127.0.0.1:6060", pprofAddrEnv, v)
	}
	if !ap.Addr().IsLoopback() {
		return "", fmt.Errorf("%s=%q: %s is not a loopback address; the profiling endpoints are served on loopback only", pprofAddrEnv, v, ap.Addr())
	}
	return ap.String(), nil
}

// pprofMux holds only the profiling handlers, so serving it exposes nothing
// else (net/http/pprof also registers itself on http.DefaultServeMux, which
// this process never serves).
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// startPprof serves the profiling endpoints at addr until the process
// exits. A listen failure is logged, not fatal: during a plugin reload the
// old process may still hold the port, and a debugging aid must not stop
// the new one from serving logins. It returns the address it listens on,
// nil when it does not.
func startPprof(addr string, logger hclog.Logger) net.Addr {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		logger.Warn("profiling endpoints not served", "env", pprofAddrEnv, "error", err)
		return nil
	}
	logger.Info("serving profiling endpoints (a debugging aid)", "env", pprofAddrEnv, "address", "http://"+ln.Addr().String()+"/debug/pprof/")
	// No write timeout: /debug/pprof/profile?seconds=N answers after N seconds.
	srv := &http.Server{Handler: pprofMux(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("profiling endpoints stopped", "error", err)
		}
	}()
	return ln.Addr()
}
