package main

import (
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestPprofListenAddr(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"127.0.0.1:6060", "127.0.0.1:6060", true},
		{"[::1]:6060", "[::1]:6060", true},
		{"127.0.0.2:0", "127.0.0.2:0", true},
		{":6060", "", false},           // every interface
		{"0.0.0.0:6060", "", false},    // every interface
		{"10.1.2.3:6060", "", false},   // reachable from other machines
		{"localhost:6060", "", false},  // a name may resolve to anything
		{"127.0.0.1", "", false},       // no port
		{"127.0.0.1:http", "", false},  // not a number
		{"127.0.0.1:70000", "", false}, // out of range
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := pprofListenAddr(tc.in)
			if tc.ok && (err != nil || got != tc.want) {
				t.Fatalf("pprofListenAddr(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			if !tc.ok && err == nil {
				t.Fatalf("pprofListenAddr(%q) = %q, want an error", tc.in, got)
			}
		})
	}
}

// The profiling server answers the pprof endpoints and nothing else.
func TestStartPprofServesOnlyProfiling(t *testing.T) {
	addr := startPprof("127.0.0.1:0", hclog.NewNullLogger())
	if addr == nil {
		t.Fatal("not serving")
	}
	get := func(path string) int {
		t.Helper()
		resp, err := http.Get("http://" + addr.String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	if code := get("/debug/pprof/cmdline"); code != http.StatusOK {
		t.Errorf("/debug/pprof/cmdline: HTTP %d, want 200", code)
	}
	if code := get("/"); code != http.StatusNotFound {
		t.Errorf("/: HTTP %d, want 404", code)
	}
}

// A port already taken is not fatal: the plugin serves logins anyway.
func TestStartPprofPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if addr := startPprof(ln.Addr().String(), hclog.NewNullLogger()); addr != nil {
		t.Fatalf("startPprof on a taken port listens at %v", addr)
	}
}
