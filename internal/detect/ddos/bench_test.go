package ddos

import (
	"maps"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"

	"yocho/internal/alert"
	"yocho/internal/config"
	"yocho/internal/enrich"
	"yocho/internal/flow"
)

const carrierNetworks = `
networks:
  - prefix: 10.0.0.0/12
    name: subscribers
  - prefix: 198.51.100.0/22
    name: hosting
    criticality: high
  - prefix: fd00:100::/40
    name: subscribers-v6
  - prefix: 2001:db8:100::/48
    name: hosting-v6
detection:
  ddos:
    # As first measured. The mix's Zipf-busiest hosts are over their thresholds (dozens of
    # alerts besides the three floods'); with 1 s, more of them in the NTP-bombed /24 are alerted in
    # the first seconds, and the carpet alert that the benchmark checks for waits for them to end.
    min_duration: 2s
`

// carrierBatches builds batches of a carrier's traffic: 60 % towards our hosts (subscribers and
// hosted servers, Zipf popularity over a million), 40 % from them; 30 % IPv6; a mix of TCP, UDP
// and ICMP; sampled 1:1000: 85 % of records one packet, the others 2 to 21 packets over up to
// 30 s. With floods, 10 % of the records are attacks under way, from spoofed random sources: a UDP
// flood on a hosted server (4 %, 8x its threshold), a SYN flood on a subscriber (3 %, 6x) and NTP
// amplification carpet-bombing a /24 (3 %).
func carrierBatches(n, size int, sec int64, floods bool) []*flow.Batch {
	r := rand.New(rand.NewPCG(3, 4))
	zipf := rand.NewZipf(r, 1.05, 1, 1<<20)
	ours := func() netip.Addr {
		i := zipf.Uint64()
		if i%10 < 3 {
			return netip.AddrFrom16([16]byte{0xfd, 0, 1, 0, 0, byte(i >> 16), 0, 0, 0, 0, 0, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)})
		}
		if i%10 == 3 {
			return netip.AddrFrom4([4]byte{198, 51, 100 + byte(i%4), byte(i)})
		}
		return netip.AddrFrom4([4]byte{10, byte(i >> 16 & 15), byte(i >> 8), byte(i)})
	}
	theirs := func(v6 bool) netip.Addr {
		if v6 {
			return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xf0, 0, 0, 0, 0, 0, 0, 0, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		}
		return netip.AddrFrom4([4]byte{byte(20 + r.IntN(150)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
	}
	var out []*flow.Batch
	for j := 0; j < n; j++ {
		b := flow.NewBatch(size)
		for i := 0; i < size; i++ {
			our := ours()
			other := theirs(our.Is6())
			// Sampled 1:1000, most records are one packet (start = end); some carry an
			// elephant flow's packets over up to 30 s.
			pk, dur := uint64(1), int64(0)
			if r.IntN(100) < 15 {
				pk, dur = uint64(2+r.IntN(20)), int64(r.IntN(30000))
			}
			rec := flow.Record{
				ReceivedMs: sec * 1000, EndMs: sec*1000 - int64(r.IntN(2000)), SamplingRate: 1000,
				Exporter: netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + r.IntN(4))}), InIf: uint32(r.IntN(8)),
				Packets: pk, Bytes: pk * uint64(60+r.IntN(1400)), SrcAS: uint32(r.IntN(70000)),
			}
			rec.StartMs = rec.EndMs - dur
			switch x := r.IntN(100); {
			case x < 70:
				rec.Proto, rec.TCPFlags, rec.SrcPort, rec.DstPort = 6, 0x1b, 443, uint16(1024+r.IntN(60000))
			case x < 97:
				rec.Proto, rec.SrcPort, rec.DstPort = 17, uint16(1024+r.IntN(60000)), uint16(1024+r.IntN(60000))
			default:
				rec.Proto = 1
			}
			if r.IntN(10) < 6 {
				rec.SrcAddr, rec.DstAddr = other, our
			} else {
				rec.SrcAddr, rec.DstAddr = our, other
			}
			if x := r.IntN(100); floods && x < 10 {
				rec.SrcAddr = netip.AddrFrom4([4]byte{byte(20 + r.IntN(150)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
				rec.StartMs, rec.Packets, rec.TCPFlags, rec.SrcPort, rec.DstPort = rec.EndMs, 1, 0, uint16(1024+r.IntN(60000)), 80
				switch {
				case x < 4:
					rec.DstAddr, rec.Proto, rec.Bytes = netip.AddrFrom4([4]byte{198, 51, 100, 9}), 17, 512
				case x < 7:
					rec.DstAddr, rec.Proto, rec.TCPFlags, rec.Bytes = netip.AddrFrom4([4]byte{10, 1, 2, 3}), 6, tcpSYN, 60
				default:
					rec.DstAddr, rec.Proto, rec.SrcPort, rec.Bytes = netip.AddrFrom4([4]byte{198, 51, 101, byte(r.IntN(256))}), 17, 123, 468
				}
			}
			b.Append(&rec)
		}
		out = append(out, b)
	}
	return out
}

func benchDetector(tb testing.TB, yaml string) (*Detector, *int64) {
	d, _, _ := newDetector(tb, yaml)
	sec := new(int64)
	*sec = time.Now().Unix()
	d.now = func() time.Time { return time.Unix(*sec, 0) }
	return d, sec
}

// BenchmarkDetect measures the detector on a carrier's mix with three floods under way (the
// headline figure). Each batch of 4096 records is one second of flow time (a carrier of some
// 50-80 Gbps sampled 1:1000: realistic volumes per host, so that the busiest hosts, and only they,
// come near a threshold), and the detector evaluates as its ticker would at 5 M flows/s: every
// host each EvaluateEvery (250 ms: 1.25 M flows), the hot ones after a batch that brought them
// flows, at most each onsetEvery (50 ms: 250 k flows). The batches are enriched, as in yocho serve: the enricher has found each
// address's hostgroup (for the store and every detector), and the detector reads it.
func BenchmarkDetect(b *testing.B) { benchDetect(b, true, true) }

// BenchmarkDetectRaw is BenchmarkDetect with batches not enriched: the detector finds the
// hostgroups itself.
func BenchmarkDetectRaw(b *testing.B) { benchDetect(b, true, false) }

// BenchmarkDetectBenign is the same carrier's mix without attacks.
func BenchmarkDetectBenign(b *testing.B) { benchDetect(b, false, true) }

func benchDetect(b *testing.B, floods, enriched bool) {
	d, sec := benchDetector(b, carrierNetworks)
	batches := carrierBatches(64, flow.DefaultBatchSize, *sec, floods)
	if enriched {
		e := enrich.NewEnricher(d.nets, nil)
		for _, bt := range batches {
			e.Enrich(bt)
		}
	}
	batchSec := make([]int64, len(batches))
	for i := range batchSec {
		batchSec[i] = *sec
	}
	perFull := int(5e6*d.cfg.EvaluateEvery.Seconds()) / flow.DefaultBatchSize
	perOnset := int(5e6*onsetEvery.Seconds()) / flow.DefaultBatchSize
	step := func(i int) bool {
		j := i % len(batches)
		bt := batches[j]
		*sec++
		moveTo(bt, batchSec[j], *sec)
		batchSec[j] = *sec
		return d.consume(bt)
	}
	// Ten seconds first, evaluated each: the floods are attacks under way when the clock starts.
	for i := 0; i < 10; i++ {
		step(i)
		d.Evaluate()
	}
	cpu0 := cpuTime()
	b.ResetTimer()
	lastOnset := 0
	for i := 0; i < b.N; i++ {
		hot := step(i + 10)
		switch {
		case i%perFull == perFull-1:
			d.evaluate(false)
			lastOnset = i
		case hot && i-lastOnset >= perOnset:
			d.evaluate(true)
			lastOnset = i
		}
	}
	b.StopTimer()
	flows := float64(b.N) * flow.DefaultBatchSize
	b.ReportMetric(flows/b.Elapsed().Seconds(), "flows/s")
	b.ReportMetric(flows/(cpuTime()-cpu0).Seconds(), "flows/cpu-s")

	b.ReportMetric(float64(len(d.dets)-len(d.freeDets)), "detailed")
	if floods {
		keys := map[string]bool{}
		for _, a := range d.sink.(*alert.Manager).List(alert.Filter{}) {
			keys[a.Key] = true
		}
		for _, want := range []string{"ddos/incoming/198.51.100.9", "ddos/incoming/10.1.2.3", "ddos/incoming/198.51.101.0/24"} {
			if !keys[want] {
				b.Errorf("no alert %s among %d", want, len(keys))
			}
		}
	}
	if late := counterValue(b, d.dropped.WithLabelValues("late")); late > 0 {
		b.Fatalf("%.0f records counted late: the benchmark's clock is wrong", late)
	}
}

// cpuTime is the CPU time this process used (user and system, every thread): on a shared
// machine, flows per CPU second is the per-core figure.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// spoofedFlood sends n records from distinct random IPv4 sources (10.0.0.0/12, ours, included:
// those become tracked outgoing hosts) to one victim and to a /24 of ours, then reports the
// detector's heap growth.
func spoofedFlood(tb testing.TB, n int) (heapMB float64, detailed int, alerts []alert.Alert) {
	d, sec := benchDetector(tb, carrierNetworks)
	m := d.sink.(*alert.Manager)
	r := rand.New(rand.NewPCG(5, 6))
	b := flow.NewBatch(flow.DefaultBatchSize)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	victim := netip.MustParseAddr("198.51.100.9")
	perSec := 1_000_000
	for i := 0; i < n; i++ {
		src := netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())})
		dst := victim
		if i%4 == 0 {
			dst = netip.AddrFrom4([4]byte{198, 51, 101, byte(r.IntN(256))})
		}
		rec := flow.Record{ReceivedMs: *sec * 1000, StartMs: *sec*1000 - 500, EndMs: *sec * 1000, SamplingRate: 1000,
			Exporter: netip.MustParseAddr("192.0.2.1"), SrcAddr: src, DstAddr: dst, Proto: 17,
			SrcPort: uint16(r.Uint32()), DstPort: uint16(r.Uint32()), Packets: 1, Bytes: 512}
		b.Append(&rec)
		if b.Len() == b.Cap() {
			d.Consume(b)
			b.Reset()
		}
		if i%perSec == perSec-1 {
			*sec++
			d.Evaluate()
		}
	}
	d.Consume(b)
	d.Evaluate()
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	return float64(after.HeapAlloc-min(after.HeapAlloc, before.HeapAlloc)) / 1e6, len(d.dets) - len(d.freeDets), m.List(alert.Filter{})
}

// TestSpoofedFloodMemoryBounded: 10 M distinct spoofed sources. The sources themselves are never
// tracked (only our own addresses are); those that fall in our 10.0.0.0/12 become outgoing hosts,
// at under 200 bytes each; the victim and the /24 are found.
func TestSpoofedFloodMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("10 M flows")
	}
	heap, detailed, alerts := spoofedFlood(t, 10_000_000)
	t.Logf("10 M spoofed sources: heap +%.1f MB, %d detailed, %d alerts", heap, detailed, len(alerts))
	if heap > 64 {
		t.Errorf("heap grew %.1f MB, want under 64 MB", heap)
	}
	found := map[string]bool{}
	for _, a := range alerts {
		found[a.Key] = true
	}
	if !found["ddos/incoming/198.51.100.9"] || !found["ddos/incoming/198.51.101.0/24"] {
		t.Errorf("alerts %v", found)
	}
}

func BenchmarkSpoofedFlood(b *testing.B) {
	for i := 0; i < b.N; i++ {
		heap, detailed, _ := spoofedFlood(b, 10_000_000)
		b.ReportMetric(heap, "heap-MB")

		b.ReportMetric(float64(detailed), "detailed")
	}
}

// TestConsumeDoesNotAllocate: once its busy hosts are tracked, counting a batch allocates nothing.
func TestConsumeDoesNotAllocate(t *testing.T) {
	d, sec := benchDetector(t, carrierNetworks)
	batches := carrierBatches(4, flow.DefaultBatchSize, *sec, true)
	at := make([]int64, len(batches))
	for j := range at {
		at[j] = *sec
	}
	step := func(i int) {
		j := i % len(batches)
		bt := batches[j]
		*sec++
		moveTo(bt, at[j], *sec)
		at[j] = *sec
		d.Consume(bt)
	}
	for i := 0; i < 4*len(batches); i++ {
		step(i)
		d.Evaluate()
	}
	i := 0
	if n := testing.AllocsPerRun(2*len(batches), func() { step(i); i++ }); n != 0 {
		t.Errorf("Consume allocates %.1f times a batch", n)
	}
}

// BenchmarkEvaluate measures one evaluation of every detailed host and prefix after a minute of
// the carrier's mix with its floods (some 650 of them, three attacks under way).
func BenchmarkEvaluate(b *testing.B) {
	d := afterAMinute(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.Evaluate()
	}
	b.ReportMetric(float64(len(d.dets)-len(d.freeDets)), "detailed")
}

// BenchmarkEvaluateOnset measures one evaluation of the hot hosts and prefixes only (the one a
// batch that brings them flows asks for), in the same state.
func BenchmarkEvaluateOnset(b *testing.B) {
	d := afterAMinute(b)
	hot := 0
	for _, dt := range d.dets {
		if dt.inUse && dt.hot {
			hot++
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.evaluate(true)
	}
	b.ReportMetric(float64(hot), "hot")
}

// afterAMinute is a detector that has counted a minute of the carrier's mix with its floods,
// evaluated every second.
func afterAMinute(b *testing.B) *Detector {
	d, sec := benchDetector(b, carrierNetworks)
	batches := carrierBatches(64, flow.DefaultBatchSize, *sec, true)
	at := *sec
	for i := 0; i < 64; i++ {
		bt := batches[i]
		*sec++
		moveTo(bt, at, *sec)
		d.Consume(bt)
		d.Evaluate()
	}
	return d
}

// TestEnrichedBatchesCountedAlike: the detector reads the hostgroups the enricher found when it
// was given the same networks, and finds them itself otherwise: the carrier's mix with its floods
// gives the same attacks, the same peaks, whichever way, and hostgroups found in other networks
// (where the flooded servers are not ours) are not believed.
func TestEnrichedBatchesCountedAlike(t *testing.T) {
	type outcome map[string][2]float64 // alert key: peak bps, peak pps
	run := func(enrichWith func(d *Detector) *enrich.Networks) outcome {
		d, sec := benchDetector(t, carrierNetworks)
		batches := carrierBatches(16, flow.DefaultBatchSize, *sec, true)
		if enrichWith != nil {
			e := enrich.NewEnricher(enrichWith(d), nil)
			for _, bt := range batches {
				e.Enrich(bt)
			}
		}
		at := *sec
		for _, bt := range batches {
			*sec++
			moveTo(bt, at, *sec)
			d.Consume(bt)
			d.Evaluate()
		}
		out := outcome{}
		for _, a := range d.sink.(*alert.Manager).List(alert.Filter{}) {
			out[a.Key] = [2]float64{a.PeakBps, a.PeakPps}
		}
		return out
	}
	raw := run(nil)
	if len(raw) < 3 {
		t.Fatalf("%d alerts without enrichment, want the three floods' at least", len(raw))
	}
	same := run(func(d *Detector) *enrich.Networks { return d.nets })
	other := run(func(*Detector) *enrich.Networks {
		cfg, err := config.Parse([]byte("networks:\n  - {prefix: 10.0.0.0/12, name: subscribers}\n"))
		if err != nil {
			t.Fatal(err)
		}
		nets, err := enrich.NewNetworks(cfg.Networks, cfg.Detection.DDoS)
		if err != nil {
			t.Fatal(err)
		}
		return nets
	})
	for name, got := range map[string]outcome{"enriched": same, "enriched with other networks": other} {
		if !maps.Equal(got, raw) {
			t.Errorf("%s: %d alerts %v\nnot enriched: %d alerts %v", name, len(got), got, len(raw), raw)
		}
	}
}

// moveTo shifts a batch's times by to-from seconds: the benchmarks and tests replay their batches,
// each in its turn the newest second.
func moveTo(bt *flow.Batch, from, to int64) {
	shift := (to - from) * 1000
	for k := range bt.ReceivedMs {
		bt.ReceivedMs[k] += shift
		bt.StartMs[k] += shift
		bt.EndMs[k] += shift
	}
}
