package measure

import "testing"

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tvault-plugin\nVmPeak:\t  900000 kB\nVmRSS:\t   51234 kB\nThreads:\t9\n"
	got, err := parseVmRSS(status)
	if err != nil || got != 51234*1024 {
		t.Fatalf("parseVmRSS = %d, %v; want %d", got, err, 51234*1024)
	}
	for _, bad := range []string{"", "VmPeak:\t1 kB\n", "VmRSS:\t12 MB\n", "VmRSS:\tx kB\n", "VmRSS:\t-3 kB\n", "VmRSS:\n"} {
		if n, err := parseVmRSS(bad); err == nil {
			t.Errorf("parseVmRSS(%q) = %d, no error", bad, n)
		}
	}
}

func FuzzParseVmRSS(f *testing.F) {
	f.Add("VmRSS:\t   51234 kB\n")
	f.Add("VmRSS: 99999999999999999999 kB")
	f.Fuzz(func(t *testing.T, status string) {
		if n, err := parseVmRSS(status); err == nil && n < 0 {
			t.Fatalf("negative size %d from %q", n, status)
		}
	})
}
