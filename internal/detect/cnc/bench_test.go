package cnc

import (
	"net/netip"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"yocho/internal/flow"
)

// mixBatches builds batches of a sampled carrier mix: 100 k subscribers contacting a Zipf-like
// spread of 200 k external endpoints (popular ones often, a long tail once), answers included.
func mixBatches(n int) []*flow.Batch {
	var out []*flow.Batch
	b := flow.NewBatch(flow.DefaultBatchSize)
	x := uint64(1)
	for i := range n {
		x = mix64(x + uint64(i))
		client := sub(int(x % 100000))
		// popular endpoints: the square of a uniform draw skews towards small indexes
		u := float64(x>>40) / float64(1<<24)
		server := ext(int(u * u * 200000))
		r := flow.Record{StartMs: t0 + int64(i)/10, ReceivedMs: t0 + int64(i)/10, SrcAddr: client, DstAddr: server,
			SrcPort: uint16(32768 + x%28000), DstPort: []uint16{443, 80, 53, 48101, 8443}[x%5], Proto: 6,
			TCPFlags: 0x18, Packets: 1 + x%3, Bytes: 60 + x%1400, SamplingRate: 1000}
		if x%4 == 0 {
			r.SrcAddr, r.DstAddr, r.SrcPort, r.DstPort = r.DstAddr, r.SrcAddr, r.DstPort, r.SrcPort
		}
		r.EndMs = r.StartMs
		b.Append(&r)
		if b.Len() == b.Cap() {
			out = append(out, b)
			b = flow.NewBatch(flow.DefaultBatchSize)
		}
	}
	return out
}

// BenchmarkConsume measures flows per second through the C&C scoring, one core, sampled mix.
func BenchmarkConsume(b *testing.B) {
	batches := mixBatches(1 << 20)
	e, _ := New(DefaultConfig(), Deps{})
	for _, bt := range batches { // warm: the endpoints exist, as in a steady state
		e.Consume(bt)
	}
	b.ResetTimer()
	cpu0 := cpuSeconds()
	flows := 0
	for i := 0; i < b.N; i++ {
		bt := batches[i%len(batches)]
		e.Consume(bt)
		flows += bt.Len()
	}
	report(b, flows, cpu0)
}

// cpuSeconds is the process's CPU time: on a shared machine, flows per CPU-second is the
// per-core figure; flows per wall second depends on the neighbours.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func report(b *testing.B, flows int, cpu0 float64) {
	b.ReportMetric(float64(flows)/b.Elapsed().Seconds(), "flows/s")
	if cpu := cpuSeconds() - cpu0; cpu > 0 {
		b.ReportMetric(float64(flows)/cpu, "flows/cpu-s")
	}
}

// BenchmarkConsumeUnsampled is the same mix unsampled: pair beaconing runs too.
func BenchmarkConsumeUnsampled(b *testing.B) {
	batches := mixBatches(1 << 20)
	for _, bt := range batches {
		for i := range bt.SamplingRate {
			bt.SamplingRate[i] = 1
		}
	}
	e, _ := New(DefaultConfig(), Deps{})
	for _, bt := range batches {
		e.Consume(bt)
	}
	b.ResetTimer()
	cpu0 := cpuSeconds()
	flows := 0
	for i := 0; i < b.N; i++ {
		bt := batches[i%len(batches)]
		e.Consume(bt)
		flows += bt.Len()
	}
	report(b, flows, cpu0)
}

// TestMemoryTenMillionEndpoints feeds a day of 10 M distinct endpoints (each contacted three
// times by different clients, so that each wants a detail) and checks the heap stays under Config.MemoryBound. Set
// CNC_MEMORY_TEST=1 to run it (about a minute).
func TestMemoryTenMillionEndpoints(t *testing.T) {
	if os.Getenv("CNC_MEMORY_TEST") == "" {
		t.Skip("set CNC_MEMORY_TEST=1 to feed 10 M distinct endpoints")
	}
	cfg := DefaultConfig()
	e, _ := New(cfg, Deps{})
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b := flow.NewBatch(flow.DefaultBatchSize)
	const endpoints = 10_000_000
	start := time.Now()
	for i := range 3 * endpoints {
		ep := i / 3
		server := netip.AddrFrom4([4]byte{byte(11 + ep>>24), byte(ep >> 16), byte(ep >> 8), byte(ep)})
		ms := t0 + int64(i)*86400000/(3*endpoints)
		// the second and third contacts come from other clients: every endpoint wants a detail
		r := flow.Record{StartMs: ms, EndMs: ms, ReceivedMs: ms, SrcAddr: sub(i%3*7919 + ep%100000), DstAddr: server,
			SrcPort: 50000, DstPort: 443, Proto: 6, TCPFlags: 0x18, Packets: 1, Bytes: 100, SamplingRate: 1000}
		b.Append(&r)
		if b.Len() == b.Cap() {
			e.Consume(b)
			b.Reset()
		}
	}
	e.Consume(b)
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	used := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	st := e.Stats()
	t.Logf("30 M records over 10 M endpoints in %s: heap %.0f MB (bound %.0f MB); state %+v",
		time.Since(start).Round(time.Second), float64(used)/1e6, float64(cfg.MemoryBound())/1e6, st)
	if used > cfg.MemoryBound() {
		t.Errorf("heap %d bytes over the bound %d", used, cfg.MemoryBound())
	}
	if st.Endpoints > cfg.MaxEndpoints || st.Detailed > cfg.MaxDetailed {
		t.Errorf("state %+v beyond its bounds", st)
	}
}
