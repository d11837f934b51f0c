package simulate

import (
	"syscall"
	"testing"
	"time"

	"yocho/internal/flow"
)

// encodeSink encodes every record with its exporter's encoder and drops the datagrams.
type encodeSink struct {
	encs      []encoder
	records   int
	datagrams int
}

func (s *encodeSink) Emit(e int, r *flow.Record, _ int) { s.encs[e].add(r) }

func newEncodeSink(t testing.TB, g *Generator, sc *Scenario, proto string) *encodeSink {
	s := &encodeSink{}
	for i, e := range sc.Exporters {
		p := e.Protocol
		if proto != "" {
			p = proto
		}
		s.encs = append(s.encs, newEncoder(p, encoderConfig{
			agent: e.Address.Addr, rate: e.SamplingRate, domain: uint32(i + 1),
			refreshMs: e.TemplateRefresh.D().Milliseconds(), bootMs: g.startMs - 3600e3,
		}, func(d *Datagram) { s.records += d.Records; s.datagrams++ }))
	}
	return s
}

func loadScenario(t testing.TB, name string) *Scenario {
	t.Helper()
	sc, err := LoadScenario("../../scenarios/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// BenchmarkGenerate measures generation and encoding (no sending) of the benign day at its
// peak hour, per protocol, in flow records per second.
func BenchmarkGenerate(b *testing.B) {
	for _, proto := range []string{"ipfix", "netflow9", "netflow5", "sflow"} {
		b.Run(proto, func(b *testing.B) {
			sc := loadScenario(b, "benign-day.yaml")
			start := time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC)
			g, err := NewGenerator(sc, GenConfig{Start: start, Rate: 1e6, Protocol: proto, Duration: 24 * time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			sink := newEncodeSink(b, g, sc, proto)
			b.ReportAllocs()
			b.ResetTimer()
			t0, cpu0 := time.Now(), cpuTime()
			for sink.records < b.N {
				for _, e := range sink.encs {
					e.setTime(g.NextMs())
				}
				if !g.Step(sink) {
					b.Fatal("scenario ended")
				}
				for _, e := range sink.encs {
					e.flush()
				}
			}
			b.ReportMetric(float64(sink.records)/time.Since(t0).Seconds(), "flows/s")
			// On a shared machine the wall clock counts other processes' time too: flows per
			// second of this process's CPU is what one core does.
			if cpu := cpuTime() - cpu0; cpu > 0 {
				b.ReportMetric(float64(sink.records)/cpu.Seconds(), "flows/cpu-s")
			}
		})
	}
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
