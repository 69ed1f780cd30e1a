package soak

import (
	"bufio"
	"strconv"
	"strings"
)

// parseCounters reads the TokenReview count and the refusals by reason
// from the plugin's Prometheus text.
func parseCounters(text string) Counters {
	c := Counters{Reasons: map[string]float64{}}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(line, "kubeauth_tokenreview_duration_seconds_count{"):
			c.Reviews += v
		case strings.HasPrefix(line, "kubeauth_refusals_total{"):
			if _, rest, ok := strings.Cut(line, `reason="`); ok {
				reason, _, _ := strings.Cut(rest, `"`)
				c.Reasons[reason] += v
			}
		}
	}
	return c
}
