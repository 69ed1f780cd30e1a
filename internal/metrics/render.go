package metrics

import (
	"bytes"
	"fmt"
	"math"
	"strconv"

	"github.com/prometheus/common/expfmt"

	dto "github.com/prometheus/client_model/go"
)

// Text renders every family in the Prometheus text exposition format
// (version 0.0.4), as a Prometheus server scrapes it, and returns the
// format's content type.
func (m *Metrics) Text() (body []byte, contentType string, err error) {
	mfs, err := m.registry.Gather()
	if err != nil {
		return nil, "", fmt.Errorf("gathering the metrics: %w", err)
	}
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return nil, "", fmt.Errorf("encoding %s: %w", mf.GetName(), err)
		}
	}
	return buf.Bytes(), string(format), nil
}

// Family is one family in the JSON rendering.
type Family struct {
	Type    string   `json:"type"` // counter, gauge or histogram
	Help    string   `json:"help"`
	Samples []Sample `json:"samples"` // sorted by label values; empty, never null, before the first event
}

// Sample is one series. Counters and gauges have Value; histograms have
// Count, Sum and Buckets.
type Sample struct {
	Labels  map[string]string `json:"labels"` // every label of the family; {} for none
	Value   *float64          `json:"value,omitempty"`
	Count   *uint64           `json:"count,omitempty"`
	Sum     *float64          `json:"sum,omitempty"`
	Buckets []Bucket          `json:"buckets,omitempty"`
}

// Bucket is a cumulative histogram bucket: Count observations were at most
// LE seconds. LE is written as Prometheus writes it ("0.005", "+Inf").
type Bucket struct {
	LE    string `json:"le"`
	Count uint64 `json:"count"`
}

// Families renders every family by name, including those without any
// sample yet, so the shape does not depend on what has happened.
func (m *Metrics) Families() (map[string]Family, error) {
	mfs, err := m.registry.Gather()
	if err != nil {
		return nil, fmt.Errorf("gathering the metrics: %w", err)
	}
	gathered := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		gathered[mf.GetName()] = mf
	}
	out := make(map[string]Family, len(m.families))
	for _, f := range m.families {
		fam := Family{Type: f.kind, Help: f.help, Samples: []Sample{}}
		if mf := gathered[f.name]; mf != nil {
			for _, pm := range mf.GetMetric() {
				fam.Samples = append(fam.Samples, sample(pm))
			}
		}
		out[f.name] = fam
	}
	return out, nil
}

func sample(pm *dto.Metric) Sample {
	s := Sample{Labels: make(map[string]string, len(pm.GetLabel()))}
	for _, l := range pm.GetLabel() {
		s.Labels[l.GetName()] = l.GetValue()
	}
	switch {
	case pm.Counter != nil:
		s.Value = ptr(pm.Counter.GetValue())
	case pm.Gauge != nil:
		s.Value = ptr(pm.Gauge.GetValue())
	case pm.Histogram != nil:
		h := pm.Histogram
		s.Count, s.Sum = ptr(h.GetSampleCount()), ptr(h.GetSampleSum())
		for _, b := range h.GetBucket() {
			s.Buckets = append(s.Buckets, Bucket{LE: formatLE(b.GetUpperBound()), Count: b.GetCumulativeCount()})
		}
		// The +Inf bucket is implicit in the gathered data: every
		// observation.
		s.Buckets = append(s.Buckets, Bucket{LE: formatLE(math.Inf(1)), Count: h.GetSampleCount()})
	}
	return s
}

func formatLE(v float64) string {
	if math.IsInf(v, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func ptr[T any](v T) *T { return &v }
