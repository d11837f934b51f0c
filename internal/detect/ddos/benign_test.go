package ddos

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"yocho/internal/alert"
	"yocho/internal/flow"
	"yocho/internal/simulate"
)

// e2eNetworks are the networks of cmd/yocho's end-to-end test.
const e2eNetworks = `
detection:
  ddos:
    clock: flow
networks:
  - {prefix: 10.0.0.0/12, name: subscribers, criticality: low}
  - prefix: "fd00:100::/40"
    name: subscribers-v6
    criticality: low
    prefix_thresholds: {bps: 10G, pps: 2M}
  - {prefix: 198.51.100.0/24, name: hosting-a, criticality: high}
  - {prefix: 203.0.113.0/24, name: hosting-b}
  - {prefix: 192.0.2.0/24, name: hosting-c}
  - {prefix: "2001:db8:100::/48", name: hosting-v6}
`

// simBatcher is a simulate.Emitter that hands full batches to the detector, with the sampling
// rate the collector would set.
type simBatcher struct {
	b     *flow.Batch
	d     *Detector
	rates []uint32
	n     uint64
}

func (bt *simBatcher) Emit(exporter int, r *flow.Record, _ int) {
	rec := *r
	if rec.SamplingRate == 0 {
		rec.SamplingRate = bt.rates[exporter]
	}
	bt.b.Append(&rec)
	if bt.b.Len() == bt.b.Cap() {
		bt.flush()
	}
}

func (bt *simBatcher) flush() {
	bt.n += uint64(bt.b.Len())
	bt.d.Consume(bt.b)
	bt.b.Reset()
}

// TestBenignDay plays scenarios/benign-day.yaml (a day of a carrier's traffic with a flash crowd
// and flows lasting hours) straight into the detector, with the end-to-end test's networks and
// the flow clock, evaluating after every simulated second: not one alert. It is the in-process
// twin of `YOCHO_E2E=1 go test ./cmd/yocho -run TestDDoSEndToEnd/benign` (which goes through UDP,
// the collector and the API at speed 60), minutes instead of half an hour, and it names what
// alerted.
func TestBenignDay(t *testing.T) {
	if os.Getenv("YOCHO_LONG") == "" {
		t.Skip("set YOCHO_LONG=1 to play a simulated benign day (minutes); YOCHO_LONG_FROM=21 YOCHO_LONG_HOURS=2 for 21:00-23:00")
	}
	hours := 24.0
	if h, err := strconv.ParseFloat(os.Getenv("YOCHO_LONG_HOURS"), 64); err == nil && h > 0 {
		hours = h
	}
	from := 0.0 // hours after midnight
	if h, err := strconv.ParseFloat(os.Getenv("YOCHO_LONG_FROM"), 64); err == nil && h > 0 {
		from = h
	}
	_, file, _, _ := runtime.Caller(0)
	sc, err := simulate.LoadScenario(filepath.Join(filepath.Dir(file), "..", "..", "..", "scenarios", "benign-day.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := simulate.NewGenerator(sc, simulate.GenConfig{Start: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC).Add(time.Duration(from * float64(time.Hour))),
		Duration: time.Duration(hours * float64(time.Hour)), Step: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	d, m, _ := newDetector(t, e2eNetworks)
	rates := make([]uint32, g.Exporters())
	for i, x := range sc.Exporters {
		rates[i] = x.SamplingRate
	}
	bt := &simBatcher{b: flow.NewBatch(flow.DefaultBatchSize), d: d, rates: rates}
	start := time.Now()
	for g.Step(bt) {
		bt.flush()
		d.Evaluate()
	}
	bt.flush()
	d.Evaluate()
	alerts := m.List(alert.Filter{})
	t.Logf("%.0f h of benign-day: %d records in %s; %d alerts", hours, bt.n, time.Since(start).Round(time.Second), len(alerts))
	for _, a := range alerts {
		t.Errorf("false alert %s %s (%s): attack from %s, peak %.0f bps %.0f pps, %d sources, crossed %+v",
			a.Key, a.Vector, a.Hostgroup, a.AttackStartedAt.Format(time.TimeOnly), a.PeakBps, a.PeakPps, a.DistinctSources, a.Crossed)
	}
}
