package query

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Metric is what a query sums or rates. Volumes are scaled by the sampling rate; flows counts flow
// records as exported.
type Metric string

// Metrics.
const (
	Bytes   Metric = "bytes"
	Packets Metric = "packets"
	Flows   Metric = "flows"
	BPS     Metric = "bps" // bits per second: bytes × 8 over the range or the bucket
	PPS     Metric = "pps" // packets per second
)

// ParseMetric reads a metric name; empty means bytes.
func ParseMetric(s string) (Metric, error) {
	switch m := Metric(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return Bytes, nil
	case Bytes, Packets, Flows, BPS, PPS:
		return m, nil
	}
	return "", fmt.Errorf("unknown metric %q (want bytes, packets, flows, bps or pps)", s)
}

// Column is the stored sum the metric is computed from: bytes, packets or flows.
func (m Metric) Column() string {
	switch m {
	case Packets, PPS:
		return "packets"
	case Flows:
		return "flows"
	}
	return "bytes"
}

// PerSecond converts a sum over seconds into the metric's value.
func (m Metric) PerSecond(sum float64, seconds float64) float64 {
	switch m {
	case BPS:
		return sum * 8 / seconds
	case PPS:
		return sum / seconds
	}
	return sum
}

// ParseDims reads a comma-separated list of fields to group by ("dst_addr" or "proto,dst_port").
func ParseDims(s string) ([]Field, error) {
	var out []Field
	seen := map[string]bool{}
	for _, name := range strings.Split(s, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		f, ok := LookupField(name)
		if !ok {
			return nil, fmt.Errorf("unknown field %q in by; known fields: %s", name, strings.Join(FieldNames(), ", "))
		}
		if f.Name == "bytes" || f.Name == "packets" {
			return nil, fmt.Errorf("cannot group by %s: it is a metric", f.Name)
		}
		if !seen[f.Name] {
			seen[f.Name] = true
			out = append(out, f)
		}
	}
	if len(out) > 4 {
		return nil, errors.New("group by at most 4 fields")
	}
	return out, nil
}

// ParseTime reads an instant: RFC 3339 ("2026-11-25T10:00:00Z"), "now", or a duration before now
// ("1h", "90m", "15d").
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "now") {
		return now, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad time %q (want RFC 3339 such as 2026-11-25T10:00:00Z, or a duration before now such as 1h or 7d)", s)
	}
	return now.Add(-d), nil
}

// parseDuration reads Go durations and days ("15d").
func parseDuration(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(d, 64)
		if err != nil || n < 0 || n > 100000 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	return d, nil
}

// Range is a half-open time interval [From, To).
type Range struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Duration is To - From.
func (r Range) Duration() time.Duration { return r.To.Sub(r.From) }

// ParseRange reads since and until (see ParseTime); an empty since means def before until.
func ParseRange(since, until string, now time.Time, def time.Duration) (Range, error) {
	to, err := ParseTime(until, now)
	if err != nil {
		return Range{}, fmt.Errorf("until: %w", err)
	}
	from := to.Add(-def)
	if strings.TrimSpace(since) != "" {
		if from, err = ParseTime(since, now); err != nil {
			return Range{}, fmt.Errorf("since: %w", err)
		}
	}
	if !from.Before(to) {
		return Range{}, fmt.Errorf("since (%s) must be before until (%s)", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	return Range{From: from.UTC(), To: to.UTC()}, nil
}

// TopRequest asks for the N largest groups of flows by one or several fields.
type TopRequest struct {
	Range
	By     []Field
	Metric Metric
	Limit  int
	Filter *Filter
}

// SeriesRequest asks for a metric over time, in buckets, optionally stacked by the top Limit groups
// of By, the rest summed as "other".
type SeriesRequest struct {
	Range
	By     []Field // may be empty: one series
	Metric Metric
	Limit  int           // groups stacked; the rest is "other"
	Bucket time.Duration // 0: chosen from the range
	Filter *Filter
}

// FlowsRequest asks for raw flows, newest first.
type FlowsRequest struct {
	Range
	Limit  int
	Filter *Filter
}

// Limits on answers.
const (
	DefaultLimit    = 10
	MaxTopLimit     = 10000
	DefaultFlows    = 100
	MaxFlows        = 100000
	DefaultStack    = 5
	MaxStack        = 50
	MaxSeriesPoints = 5000
)

// ClampLimit applies the default and the maximum to a requested limit.
func ClampLimit(n, def, max int) int {
	if n <= 0 {
		return def
	}
	if n > max {
		return max
	}
	return n
}

// TopRow is one group in a top-N answer.
type TopRow struct {
	Key     []string `json:"key"`   // one value per By field, as text
	Value   float64  `json:"value"` // the requested metric
	Bytes   uint64   `json:"bytes"`
	Packets uint64   `json:"packets"`
	Flows   uint64   `json:"flows"`
}

// TopResult answers a TopRequest. From and To are the range the tier could answer exactly (a
// roll-up tier aligns them to its buckets).
type TopResult struct {
	Tier   string   `json:"tier"`
	From   string   `json:"from"`
	To     string   `json:"to"`
	By     []string `json:"by"`
	Metric Metric   `json:"metric"`
	Rows   []TopRow `json:"rows"`
}

// Series is one stacked line of a SeriesResult.
type Series struct {
	Key    []string  `json:"key"` // empty for the total, nil with Other for the rest
	Other  bool      `json:"other,omitempty"`
	Values []float64 `json:"values"` // one per SeriesResult.Times
}

// SeriesResult answers a SeriesRequest.
type SeriesResult struct {
	Tier          string      `json:"tier"`
	From          string      `json:"from"`
	To            string      `json:"to"`
	BucketSeconds int64       `json:"bucket_seconds"`
	By            []string    `json:"by"`
	Metric        Metric      `json:"metric"`
	Times         []time.Time `json:"times"` // start of each bucket
	Series        []Series    `json:"series"`
}

// FlowRow is one raw flow in a FlowsResult. Bytes and packets are scaled by the sampling rate.
type FlowRow struct {
	Start            time.Time `json:"start"`
	End              time.Time `json:"end"`
	Received         time.Time `json:"received"`
	Exporter         string    `json:"exporter"`
	ObsDomain        uint32    `json:"obs_domain"`
	SamplerID        uint32    `json:"sampler_id"`
	SamplingRate     uint32    `json:"sampling_rate"`
	InIf             uint32    `json:"in_if"`
	OutIf            uint32    `json:"out_if"`
	SrcAddr          string    `json:"src_addr"`
	DstAddr          string    `json:"dst_addr"`
	NextHop          string    `json:"next_hop"`
	SrcPort          uint16    `json:"src_port"`
	DstPort          uint16    `json:"dst_port"`
	Proto            string    `json:"proto"`
	TCPFlags         uint8     `json:"tcp_flags"`
	ToS              uint8     `json:"tos"`
	ICMPType         uint8     `json:"icmp_type"`
	ICMPCode         uint8     `json:"icmp_code"`
	Bytes            uint64    `json:"bytes"`
	Packets          uint64    `json:"packets"`
	SrcAS            uint32    `json:"src_as"`
	DstAS            uint32    `json:"dst_as"`
	SrcMask          uint8     `json:"src_mask"`
	DstMask          uint8     `json:"dst_mask"`
	VLAN             uint16    `json:"vlan"`
	Direction        string    `json:"direction"`
	ForwardingStatus uint8     `json:"forwarding_status"`
	MPLSLabel        uint32    `json:"mpls_label"`
	SrcHostgroup     string    `json:"src_hostgroup"`
	DstHostgroup     string    `json:"dst_hostgroup"`
	SrcCountry       string    `json:"src_country"`
	DstCountry       string    `json:"dst_country"`
}

// FlowsResult answers a FlowsRequest.
type FlowsResult struct {
	Tier  string    `json:"tier"`
	From  string    `json:"from"`
	To    string    `json:"to"`
	Flows []FlowRow `json:"flows"`
}

// FormatValue renders a stored value of field f as text: addresses from their two halves,
// protocols and directions by name, numbers in decimal.
func FormatValue(f Field, hi, lo uint64) string {
	switch f.Kind {
	case KindAddr:
		a := DecodeAddr(hi, lo)
		if !a.IsValid() {
			return "-"
		}
		return a.String()
	case KindProto:
		return ProtoName(uint8(lo))
	case KindDir:
		return DirectionName(uint8(lo))
	}
	return strconv.FormatUint(lo, 10)
}

// FormatTime renders an instant in the answers: RFC 3339, UTC.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
