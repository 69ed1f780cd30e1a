package soak

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The resources sampled from the plugin process, as the report names them.
const (
	ResRSS        = "rss_bytes"
	ResGoroutines = "goroutines"
	ResFDs        = "open_fds"
	ResConns      = "apiserver_conns"
)

// Sample is one reading of the plugin process. Conns counts its TCP
// connections to each API server port; Goroutines is -1 when the process
// did not serve its profiling endpoint.
type Sample struct {
	At         time.Time
	PID        int
	RSS        int64
	FDs        int
	Goroutines int
	Conns      map[int]int
}

// TotalConns is the process's connections to all the API servers.
func (s Sample) TotalConns() int {
	n := 0
	for _, c := range s.Conns {
		n += c
	}
	return n
}

// ReadSample reads the process's RSS, descriptors and connections from
// /proc, and its goroutines from its profiling endpoint (pprofAddr, "" for
// none).
func ReadSample(ctx context.Context, pid int, apiPorts []int, pprofAddr string) (Sample, error) {
	s := Sample{At: time.Now(), PID: pid, Goroutines: -1}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	if s.RSS, err = parseVmRSS(string(status)); err != nil {
		return s, err
	}
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(fdDir)
	if err != nil {
		return s, err
	}
	s.FDs = len(entries)
	var links []string
	for _, e := range entries {
		if l, err := os.Readlink(filepath.Join(fdDir, e.Name())); err == nil {
			links = append(links, l)
		}
	}
	inodes := socketInodes(links)
	s.Conns = map[int]int{}
	for _, f := range []string{"tcp", "tcp6"} {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if err != nil {
			continue // no IPv6 in this kernel
		}
		for port, n := range connsByRemotePort(string(raw), inodes, apiPorts) {
			s.Conns[port] += n
		}
	}
	if pprofAddr != "" {
		if g, err := readGoroutines(ctx, pprofAddr); err == nil {
			s.Goroutines = g
		}
	}
	return s, nil
}

// parseVmRSS is the VmRSS line of /proc/<pid>/status, in bytes.
func parseVmRSS(status string) (int64, error) {
	for line := range strings.Lines(status) {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("VmRSS line %q: want <n> kB", strings.TrimSpace(line))
		}
		kb, err := strconv.ParseUint(f[0], 10, 40)
		if err != nil {
			return 0, fmt.Errorf("VmRSS line %q: %w", strings.TrimSpace(line), err)
		}
		return int64(kb) << 10, nil
	}
	return 0, fmt.Errorf("no VmRSS line")
}

// socketInodes are the inodes of the socket:[N] links among a process's
// descriptors: /proc/<pid>/net/tcp lists the whole network namespace, and
// the inode is what ties a row to this process.
func socketInodes(links []string) map[string]bool {
	out := map[string]bool{}
	for _, l := range links {
		if in, ok := strings.CutPrefix(l, "socket:["); ok && strings.HasSuffix(in, "]") {
			out[strings.TrimSuffix(in, "]")] = true
		}
	}
	return out
}

// connsByRemotePort counts the rows of a /proc/net/tcp table whose socket
// is one of inodes and whose remote port is one of ports.
func connsByRemotePort(table string, inodes map[string]bool, ports []int) map[int]int {
	want := map[int]bool{}
	for _, p := range ports {
		want[p] = true
	}
	out := map[int]int{}
	for line := range strings.Lines(table) {
		f := strings.Fields(line)
		// sl local rem st tx:rx tr:when retrnsmt uid timeout inode
		if len(f) < 10 || f[0] == "sl" || !inodes[f[9]] {
			continue
		}
		_, portHex, ok := strings.Cut(f[2], ":")
		if !ok {
			continue
		}
		port, err := strconv.ParseUint(portHex, 16, 16)
		if err != nil || !want[int(port)] {
			continue
		}
		out[int(port)]++
	}
	return out
}

// readGoroutines reads the count from the process's goroutine profile.
func readGoroutines(ctx context.Context, addr string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/goroutine?debug=1", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return parseGoroutineTotal(io.LimitReader(resp.Body, 64<<10))
}

// parseGoroutineTotal reads "goroutine profile: total N", the first line
// of a debug=1 goroutine profile.
func parseGoroutineTotal(r io.Reader) (int, error) {
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		return 0, fmt.Errorf("empty goroutine profile")
	}
	rest, ok := strings.CutPrefix(sc.Text(), "goroutine profile: total ")
	if !ok {
		return 0, fmt.Errorf("goroutine profile starts %q", sc.Text())
	}
	n, err := strconv.Atoi(strings.TrimSpace(rest))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("goroutine total %q", rest)
	}
	return n, nil
}

// loadAvg is the 1, 5 and 15 minute load averages of /proc/loadavg: the
// machine is shared, and every timing of the report depends on them.
func loadAvg() string {
	var one, five, fifteen string
	raw, _ := os.ReadFile("/proc/loadavg")
	if n, _ := fmt.Sscan(string(raw), &one, &five, &fifteen); n < 3 {
		return "unknown"
	}
	return one + " " + five + " " + fifteen
}
