package loginlimit

import (
	"strings"
	"testing"
	"time"
)

func TestParseAccepts(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Limit
	}{
		{"5/1m", Limit{5, time.Minute, 5}},
		{"5/1m,burst=10", Limit{5, time.Minute, 10}},
		{"1/1s", Limit{1, time.Second, 1}},
		{"10000/24h,burst=10000", Limit{10000, 24 * time.Hour, 10000}},
		{"3/1h30m,burst=1", Limit{3, 90 * time.Minute, 1}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("Parse(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
			// String reads back as the same limit.
			again, err := Parse(got.String())
			if err != nil || again != got {
				t.Fatalf("Parse(%q) = %+v, %v; want %+v", got.String(), again, err, got)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	for _, in := range []string{
		"", "5", "/1m", "5/", "0/1m", "10001/1m", "-1/1m", "+5/1m", " 5/1m", "5/1m ", "5 /1m",
		"5/0s", "5/999ms", "5/25h", "5/-1m", "5/1m,", "5/1m,burst=", "5/1m,burst=0", "5/1m,burst=10001",
		"5/1m,burst=-1", "5/1m,burst=1,burst=2", "5/1m,rate=2", "5/1m;burst=2", "5/1m,burst= 2",
		"5/1m/2", "1e3/1m", "0x5/1m", "5/1minute", "00000000005/1m", strings.Repeat("1", 65),
	} {
		if l, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", in, l)
		}
	}
}

func TestRetryAfterIsWholeSecondsAtLeastOne(t *testing.T) {
	l := Limit{Count: 5, Period: time.Minute, Burst: 5} // a token every 12s
	for _, tc := range []struct {
		tokens float64
		want   time.Duration
	}{
		{0, 12 * time.Second}, {0.5, 6 * time.Second}, {0.99, time.Second}, {-2, 36 * time.Second}, {1, time.Second},
	} {
		if got := l.RetryAfter(tc.tokens); got != tc.want {
			t.Errorf("RetryAfter(%v) = %v, want %v", tc.tokens, got, tc.want)
		}
	}
}

// FuzzParse: whatever the input, Parse either refuses it or returns a
// limit within the bounds that reads back as itself.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"5/1m", "5/1m,burst=10", "10000/24h", "0/1s", "5/1m,burst=", "1/1h30m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := Parse(s)
		if err != nil {
			return
		}
		if l.Count < 1 || l.Count > MaxCount || l.Burst < 1 || l.Burst > MaxBurst || l.Period < MinPeriod || l.Period > MaxPeriod {
			t.Fatalf("Parse(%q) = %+v, out of bounds", s, l)
		}
		if again, err := Parse(l.String()); err != nil || again != l {
			t.Fatalf("Parse(%q) = %+v, but its String %q reads as %+v, %v", s, l, l.String(), again, err)
		}
		if r := l.RetryAfter(0); r < time.Second || r > MaxPeriod {
			t.Fatalf("RetryAfter(0) of %+v = %v", l, r)
		}
	})
}
