package measure

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"k8s.io/client-go/kubernetes"
)

// ReviewCount is what the API server's apiserver_request_total says about
// TokenReviews: all of them, and those answered with anything but 2xx
// (429 from priority-and-fairness, above all).
type ReviewCount struct {
	Total, Failed float64
}

func (c ReviewCount) Sub(o ReviewCount) ReviewCount {
	return ReviewCount{Total: c.Total - o.Total, Failed: c.Failed - o.Failed}
}

// ReadTokenReviews fetches the API server's /metrics (the admin client
// certificate of the kubeconfig may read it) and counts its TokenReviews.
func ReadTokenReviews(ctx context.Context, kc kubernetes.Interface) (ReviewCount, error) {
	body, err := kc.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return ReviewCount{}, fmt.Errorf("kube-apiserver /metrics: %w", err)
	}
	return countTokenReviews(body)
}

// countTokenReviews sums apiserver_request_total over every series for
// resource "tokenreviews" (every code, verb and version) in a Prometheus
// text exposition.
func countTokenReviews(exposition []byte) (ReviewCount, error) {
	var c ReviewCount
	found := false
	sc := bufio.NewScanner(bytes.NewReader(exposition))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		name, labels, value, err := parseSample(line)
		if err != nil {
			return ReviewCount{}, err
		}
		if name != "apiserver_request_total" || labels["resource"] != "tokenreviews" {
			continue
		}
		found = true
		c.Total += value
		if !strings.HasPrefix(labels["code"], "2") {
			c.Failed += value
		}
	}
	if err := sc.Err(); err != nil {
		return ReviewCount{}, err
	}
	if !found {
		// The series appears with the first TokenReview; setup makes one
		// (the first login on each mount) before any count is taken, so
		// its absence means the metric is not what this tool expects.
		return ReviewCount{}, errors.New(`no apiserver_request_total{resource="tokenreviews"} series in /metrics`)
	}
	return c, nil
}

// parseSample parses one sample line of the Prometheus text format:
// name{label="value",...} value [timestamp]. Label values may hold escaped
// backslashes, quotes and newlines, and commas and braces.
func parseSample(line string) (name string, labels map[string]string, value float64, err error) {
	bad := func(why string) (string, map[string]string, float64, error) {
		return "", nil, 0, fmt.Errorf("metrics line %q: %s", line, why)
	}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return bad("no metric name")
	}
	name, rest := line[:i], line[i:]
	labels = map[string]string{}
	if rest[0] == '{' {
		if rest, err = parseLabels(rest[1:], labels); err != nil {
			return bad(err.Error())
		}
	}
	fields := strings.Fields(rest)
	if len(fields) < 1 || len(fields) > 2 {
		return bad("want a value and an optional timestamp")
	}
	value, err = strconv.ParseFloat(fields[0], 64)
	if err != nil || math.IsNaN(value) {
		return bad("value is not a number")
	}
	return name, labels, value, nil
}

// parseLabels reads label="value" pairs into labels up to and including
// the closing brace, and returns what follows it.
func parseLabels(rest string, labels map[string]string) (string, error) {
	for {
		rest = strings.TrimLeft(rest, " ")
		if strings.HasPrefix(rest, "}") {
			return rest[1:], nil
		}
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 || len(rest) < eq+2 || rest[eq+1] != '"' {
			return "", errors.New("malformed label")
		}
		key := strings.TrimSpace(rest[:eq])
		val, after, ok := labelValue(rest[eq+2:])
		if !ok {
			return "", errors.New("unterminated label value")
		}
		labels[key] = val
		rest = strings.TrimLeft(after, " ")
		if strings.HasPrefix(rest, ",") {
			rest = rest[1:]
		} else if !strings.HasPrefix(rest, "}") {
			return "", errors.New("expected , or } after a label")
		}
	}
}

// labelValue reads a quoted label value whose opening quote is already
// consumed, unescaping \\, \" and \n; it returns the value and what follows
// the closing quote, or false when there is none.
func labelValue(s string) (string, string, bool) {
	var val strings.Builder
	for j := 0; j < len(s); j++ {
		ch := s[j]
		if ch == '\\' && j+1 < len(s) {
			j++
			switch s[j] {
			case 'n':
				val.WriteByte('\n')
			default: // \\ and \"
				val.WriteByte(s[j])
			}
			continue
		}
		if ch == '"' {
			return val.String(), s[j+1:], true
		}
		val.WriteByte(ch)
	}
	return "", "", false
}
