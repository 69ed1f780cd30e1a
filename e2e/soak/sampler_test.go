package soak

import (
	"maps"
	"strings"
	"testing"
)

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tvault-plugin\nVmPeak:\t  900000 kB\nVmRSS:\t   41234 kB\nThreads:\t12\n"
	if got, err := parseVmRSS(status); err != nil || got != 41234<<10 {
		t.Fatalf("parseVmRSS = %d, %v", got, err)
	}
	for _, bad := range []string{"", "Name: x\n", "VmRSS:\t12 MB\n", "VmRSS:\tx kB\n", "VmRSS:\t-1 kB\n"} {
		if _, err := parseVmRSS(bad); err == nil {
			t.Fatalf("parseVmRSS(%q) passed", bad)
		}
	}
}

func TestSocketInodes(t *testing.T) {
	got := socketInodes([]string{"/dev/null", "socket:[123]", "pipe:[9]", "socket:[456]", "socket:[", "anon_inode:[eventpoll]"})
	if want := map[string]bool{"123": true, "456": true}; !maps.Equal(got, want) {
		t.Fatalf("socketInodes = %v, want %v", got, want)
	}
}

func TestConnsByRemotePort(t *testing.T) {
	// Ports 0x72FC = 29436 and 0x72FD = 29437; 0x1F90 = 8080.
	table := strings.Join([]string{
		"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
		"   0: 0100007F:9C40 0100007F:72FC 01 00000000:00000000 00:00000000 00000000     0        0 111 1 0000000000000000 20 4 30 10 -1",
		"   1: 0100007F:9C41 0100007F:72FC 01 00000000:00000000 00:00000000 00000000     0        0 112 1 0000000000000000 20 4 30 10 -1",
		"   2: 0100007F:9C42 0100007F:72FD 01 00000000:00000000 00:00000000 00000000     0        0 113 1 0000000000000000 20 4 30 10 -1",
		"   3: 0100007F:9C43 0100007F:72FC 01 00000000:00000000 00:00000000 00000000     0        0 999 1 0000000000000000 20 4 30 10 -1", // another process's
		"   4: 0100007F:9C44 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 114 1 0000000000000000 20 4 30 10 -1", // another port
		"   5: 0100007F:72FC 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 115 1 0000000000000000 20 4 30 10 -1", // a listener
		"garbage",
	}, "\n")
	inodes := map[string]bool{"111": true, "112": true, "113": true, "114": true, "115": true}
	got := connsByRemotePort(table, inodes, []int{29436, 29437, 29438})
	if want := map[int]int{29436: 2, 29437: 1}; !maps.Equal(got, want) {
		t.Fatalf("connsByRemotePort = %v, want %v", got, want)
	}
}

func TestParseGoroutineTotal(t *testing.T) {
	if n, err := parseGoroutineTotal(strings.NewReader("goroutine profile: total 37\n5 @ 0x1\n")); err != nil || n != 37 {
		t.Fatalf("parseGoroutineTotal = %d, %v", n, err)
	}
	for _, bad := range []string{"", "heap profile: 1\n", "goroutine profile: total x\n", "goroutine profile: total -3\n"} {
		if _, err := parseGoroutineTotal(strings.NewReader(bad)); err == nil {
			t.Fatalf("parseGoroutineTotal(%q) passed", bad)
		}
	}
}
