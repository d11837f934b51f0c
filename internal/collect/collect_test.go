package collect

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/flow"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testCollector starts a collector on random loopback ports with fake decoders.
func testCollector(t *testing.T, cfg Config, consumers ...flow.Consumer) (*Collector, *fakeDecoder, *fakeDecoder, *prometheus.Registry) {
	t.Helper()
	if cfg.NetFlow == nil {
		cfg.NetFlow = []string{"127.0.0.1:0", "[::1]:0"}
	}
	if cfg.SFlow == nil {
		cfg.SFlow = []string{"127.0.0.1:0"}
	}
	if cfg.Readers == 0 {
		cfg.Readers = 2
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = 20 * time.Millisecond
	}
	nf, sf := &fakeDecoder{}, &fakeDecoder{sflow: true}
	reg := prometheus.NewRegistry()
	c, err := New(cfg, Deps{NetFlow: nf, SFlow: sf, Consumers: consumers, Registerer: reg, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c, nf, sf, reg
}

// send writes datagrams to addr from a new socket bound on from (port 0), and returns that socket's address.
func send(t *testing.T, from string, addr netip.AddrPort, pkts ...[]byte) netip.AddrPort {
	t.Helper()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(from)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, p := range pkts {
		if _, err := conn.WriteToUDPAddrPort(p, addr); err != nil {
			t.Fatal(err)
		}
	}
	return conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func exporterOf(t *testing.T, c *Collector, a string) Exporter {
	t.Helper()
	want := netip.MustParseAddr(a)
	for _, e := range c.Exporters() {
		if e.Address == want {
			return e
		}
	}
	t.Fatalf("exporter %s not in the registry: %+v", a, c.Exporters())
	return Exporter{}
}

func TestCollectorReceivesEveryProtocolOnEveryAddress(t *testing.T) {
	rec := &recorder{}
	c, nf, _, _ := testCollector(t, Config{}, rec)
	nfAddrs, sfAddrs := c.NetFlowAddrs(), c.SFlowAddrs()
	if len(nfAddrs) != 2 || len(sfAddrs) != 1 || nfAddrs[0].Port() == 0 {
		t.Fatalf("bound addresses: netflow %v sflow %v", nfAddrs, sfAddrs)
	}
	nf.setState(netip.MustParseAddr("127.0.0.1"), flow.ExporterState{Templates: 3, SequenceLost: 7, SamplingRates: []uint32{10}})

	// 127.0.0.1 sends v5, v9 and IPFIX to the IPv4 port; ::1 sends IPFIX to the IPv6 port; the
	// sFlow agent 192.0.2.9 sends from 127.0.0.1 to the sFlow port.
	agent := netip.MustParseAddr("192.0.2.9")
	var pkts [][]byte
	for i := range 30 {
		pkts = append(pkts, fakeNetFlow([]uint16{5, 9, 10}[i%3], fakeRec{bytes: 100, packets: 2, rate: 10}, fakeRec{bytes: 50, packets: 1, rate: 10}))
	}
	send(t, "127.0.0.1:0", nfAddrs[0], pkts...)
	send(t, "[::1]:0", nfAddrs[1], fakeNetFlow(10, fakeRec{bytes: 1000, packets: 1}))
	send(t, "127.0.0.1:0", sfAddrs[0], fakeSFlow(agent, fakeRec{bytes: 64, packets: 1, rate: 512}), fakeSFlow(agent, fakeRec{bytes: 1500, packets: 1, rate: 512}))

	waitFor(t, "63 records", func() bool { return len(rec.snapshot()) == 63 })
	before := time.Now().Add(-time.Minute)

	lo := exporterOf(t, c, "127.0.0.1")
	if lo.Packets != 30 || lo.Flows != 60 || lo.Bytes != 30*150*10 || lo.FlowPackets != 30*3*10 {
		t.Errorf("127.0.0.1: packets %d flows %d bytes %d flow packets %d; want 30, 60, 45000, 900", lo.Packets, lo.Flows, lo.Bytes, lo.FlowPackets)
	}
	if want := []string{"netflow-v5", "netflow-v9", "ipfix"}; !slices.Equal(lo.Versions, want) {
		t.Errorf("127.0.0.1 versions %v, want %v", lo.Versions, want)
	}
	if lo.PacketsByProtocol["ipfix"] != 10 {
		t.Errorf("127.0.0.1 IPFIX datagrams %d, want 10", lo.PacketsByProtocol["ipfix"])
	}
	if lo.Templates != 3 || lo.SequenceLost != 7 || !slices.Equal(lo.AnnouncedSamplingRates, []uint32{10}) || !slices.Equal(lo.SamplingRates, []uint32{10}) {
		t.Errorf("127.0.0.1 decoder state: templates %d lost %d announced %v applied %v", lo.Templates, lo.SequenceLost, lo.AnnouncedSamplingRates, lo.SamplingRates)
	}
	if lo.LastSeen.Before(before) || lo.LastSeen.Location() != time.UTC {
		t.Errorf("127.0.0.1 last seen %v", lo.LastSeen)
	}
	v6 := exporterOf(t, c, "::1")
	if v6.Flows != 1 || v6.Bytes != 1000 || v6.UnknownSampling != 1 {
		t.Errorf("::1: flows %d bytes %d unknown sampling %d; want 1, 1000, 1", v6.Flows, v6.Bytes, v6.UnknownSampling)
	}
	sf := exporterOf(t, c, "192.0.2.9")
	if sf.Packets != 2 || sf.Flows != 2 || sf.Bytes != (64+1500)*512 || !slices.Equal(sf.Versions, []string{"sflow-v5"}) {
		t.Errorf("sFlow agent: packets %d flows %d bytes %d versions %v", sf.Packets, sf.Flows, sf.Bytes, sf.Versions)
	}
	for _, r := range rec.snapshot() {
		if r.SamplingRate == 0 || !r.Exporter.IsValid() {
			t.Fatalf("record handed out without a rate or exporter: %+v", r)
		}
	}
}

func TestSamplingRatePolicy(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	for _, tc := range []struct {
		name        string
		def         uint32
		override    uint32 // for 127.0.0.1; 0 = none
		announced   uint32 // in the records; 0 = none
		wantRate    uint32
		wantUnknown uint64
	}{
		{"announced rate kept", 7, 0, 100, 100, 0},
		{"override wins over announced", 7, 1000, 100, 1000, 0},
		{"override wins over none", 7, 1000, 0, 1000, 0},
		{"default when none", 7, 0, 0, 7, 3},
		{"default of 1", 0, 0, 0, 1, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{DefaultSamplingRate: tc.def, Readers: 1}
			if tc.override != 0 {
				cfg.Overrides = map[netip.Addr]uint32{lo: tc.override}
			}
			rec := &recorder{}
			c, _, _, reg := testCollector(t, cfg, rec)
			r := fakeRec{bytes: 40, packets: 1, rate: tc.announced}
			send(t, "127.0.0.1:0", c.NetFlowAddrs()[0], fakeNetFlow(10, r, r, r))
			waitFor(t, "3 records", func() bool { return len(rec.snapshot()) == 3 })
			for _, r := range rec.snapshot() {
				if r.SamplingRate != tc.wantRate {
					t.Errorf("record rate %d, want %d", r.SamplingRate, tc.wantRate)
				}
			}
			e := exporterOf(t, c, "127.0.0.1")
			if e.Bytes != 3*40*uint64(tc.wantRate) || e.UnknownSampling != tc.wantUnknown || !slices.Equal(e.SamplingRates, []uint32{tc.wantRate}) {
				t.Errorf("registry: bytes %d unknown %d rates %v", e.Bytes, e.UnknownSampling, e.SamplingRates)
			}
			if n := metricValue(t, reg, "yocho_flows_unknown_sampling_total", "exporter", "127.0.0.1"); n != float64(tc.wantUnknown) {
				t.Errorf("yocho_flows_unknown_sampling_total{exporter=127.0.0.1} = %v, want %d", n, tc.wantUnknown)
			}
		})
	}
}

func TestBadDatagramsCountedByReason(t *testing.T) {
	rec := &recorder{}
	c, _, _, reg := testCollector(t, Config{Readers: 1}, rec)
	good := fakeNetFlow(9, fakeRec{bytes: 10, packets: 1, rate: 1})
	truncatedRecord := fakeNetFlow(9, fakeRec{bytes: 10, packets: 1, rate: 1}, fakeRec{bytes: 20, packets: 1, rate: 1})
	truncatedRecord = truncatedRecord[:len(truncatedRecord)-3] // first record decodes, second is cut
	panics := []byte{0, 9, 0xde, 0xad}
	bad := [][]byte{
		{},                       // empty: truncated
		{0},                      // one byte: truncated
		{0, 7, 0, 0, 1, 2},       // version 7: bad-version
		{0xff, 0xff, 0xff, 0xff}, // bad-version
		truncatedRecord,          // decoder: truncated, after one record
		panics,                   // decoder panics
		good,                     // still decoded afterwards
	}
	send(t, "127.0.0.1:0", c.NetFlowAddrs()[0], bad...)
	waitFor(t, "7 datagrams", func() bool { return c.Stats().Packets == 7 })
	waitFor(t, "2 records", func() bool { return len(rec.snapshot()) == 2 })
	e := exporterOf(t, c, "127.0.0.1")
	want := map[string]uint64{ReasonTruncated: 3, ReasonBadVersion: 2, ReasonPanic: 1}
	for k, v := range want {
		if e.Errors[k] != v {
			t.Errorf("errors[%s] = %d, want %d (all: %v)", k, e.Errors[k], v, e.Errors)
		}
	}
	if len(e.Errors) != len(want) || e.Flows != 2 || e.PacketsByProtocol["unknown"] != 4 {
		t.Errorf("errors %v, flows %d, unknown-protocol datagrams %d", e.Errors, e.Flows, e.PacketsByProtocol["unknown"])
	}
	if n := metricValue(t, reg, "yocho_collector_decode_errors_total", "reason", ReasonBadVersion); n != 2 {
		t.Errorf("yocho_collector_decode_errors_total{reason=bad-version} = %v, want 2", n)
	}
}

// metricValue gathers reg and returns the value of metric name whose label has the given value.
func metricValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("metric %s{%s=%q} not gathered", name, label, value)
	return 0
}

func TestBatchLeavesWithinFlushInterval(t *testing.T) {
	rec := &recorder{}
	c, _, _, _ := testCollector(t, Config{Readers: 1, FlushInterval: 50 * time.Millisecond, BatchRecords: 1000}, rec)
	start := time.Now()
	send(t, "127.0.0.1:0", c.NetFlowAddrs()[0], fakeNetFlow(10, fakeRec{bytes: 1, packets: 1}))
	waitFor(t, "the record", func() bool { return len(rec.snapshot()) == 1 })
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("a lone record took %v to reach the consumer; flush interval is 50ms", d)
	}
}

func TestFullBatchesHandedOutAndLastOnStop(t *testing.T) {
	rec := &recorder{}
	nf := &fakeDecoder{}
	c, err := New(Config{NetFlow: []string{"127.0.0.1:0"}, Readers: 1, BatchRecords: 10, FlushInterval: time.Hour}, Deps{NetFlow: nf, Consumers: []flow.Consumer{rec}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var pkts [][]byte
	for range 25 {
		pkts = append(pkts, fakeNetFlow(9, fakeRec{bytes: 1, packets: 1}))
	}
	send(t, "127.0.0.1:0", c.NetFlowAddrs()[0], pkts...)
	waitFor(t, "two full batches", func() bool { return len(rec.snapshot()) == 20 })
	waitFor(t, "25 datagrams read", func() bool { return c.Stats().Packets == 25 })
	c.Stop()
	if n := len(rec.snapshot()); n != 25 || rec.batches != 3 {
		t.Errorf("after Stop: %d records in %d batches, want 25 in 3", n, rec.batches)
	}
	if c.Ready() {
		t.Error("Ready after Stop")
	}
}

func TestStartFailsOnTakenPortAndLeavesNothingOpen(t *testing.T) {
	taken, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.LocalAddr().String()
	free.Close()
	c, err := New(Config{NetFlow: []string{freeAddr, taken.LocalAddr().String()}, Readers: 2}, Deps{NetFlow: &fakeDecoder{}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), taken.LocalAddr().String()) {
		t.Fatalf("Start on a taken port: %v", err)
	}
	again, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(freeAddr)))
	if err != nil {
		t.Fatalf("the first address was left open after the failed Start: %v", err)
	}
	again.Close()
	if c.Ready() {
		t.Error("Ready after a failed Start")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		deps Deps
		want string
	}{
		{"bad address", Config{NetFlow: []string{"localhost:2055"}}, Deps{NetFlow: &fakeDecoder{}}, "listen address"},
		{"twice", Config{NetFlow: []string{"127.0.0.1:2055"}, SFlow: []string{"127.0.0.1:2055"}}, Deps{NetFlow: &fakeDecoder{}, SFlow: &fakeDecoder{}}, "twice"},
		{"no decoder", Config{SFlow: []string{"127.0.0.1:6343"}}, Deps{}, "sFlow decoder"},
		{"zero override", Config{Overrides: map[netip.Addr]uint32{netip.MustParseAddr("192.0.2.1"): 0}}, Deps{}, "override"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg, tc.deps); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error about %q", err, tc.want)
			}
		})
	}
}

// TestSocketDropsCounted makes the kernel drop datagrams (a tiny receive buffer and a consumer
// that blocks the only reader) and checks that every datagram sent is either counted or dropped.
func TestSocketDropsCounted(t *testing.T) {
	rec := &recorder{block: make(chan struct{})}
	c, _, _, reg := testCollector(t, Config{NetFlow: []string{"127.0.0.1:0"}, SFlow: []string{}, Readers: 1, ReceiveBuffer: 4096, BatchRecords: 1}, rec)
	const sent = 3000
	pkts := make([][]byte, sent)
	for i := range pkts {
		pkts[i] = fakeNetFlow(9, fakeRec{bytes: 1, packets: 1})
	}
	send(t, "127.0.0.1:0", c.NetFlowAddrs()[0], pkts...)
	close(rec.block)
	var st Stats
	waitFor(t, "every datagram read or dropped", func() bool {
		st = c.Stats()
		return st.Packets+st.SocketDrops == sent
	})
	if st.SocketDrops == 0 || st.DropsUnknown {
		t.Errorf("socket drops %d (unknown %v): the 4 KiB buffer should have overflowed", st.SocketDrops, st.DropsUnknown)
	}
	if n := metricValue(t, reg, "yocho_collector_socket_drops_total", "listen", c.NetFlowAddrs()[0].String()); uint64(n) != st.SocketDrops {
		t.Errorf("yocho_collector_socket_drops_total = %v, Stats says %d", n, st.SocketDrops)
	}
	t.Logf("sent %d, read %d, dropped by the kernel %d", sent, st.Packets, st.SocketDrops)
}

func TestMaxExportersSumsTheRest(t *testing.T) {
	rec := &recorder{}
	c, _, _, _ := testCollector(t, Config{Readers: 1, MaxExporters: 1}, rec)
	send(t, "127.0.0.1:0", c.NetFlowAddrs()[0], fakeNetFlow(9, fakeRec{bytes: 1, packets: 1}))
	waitFor(t, "first", func() bool { return len(rec.snapshot()) == 1 })
	send(t, "127.0.0.2:0", c.NetFlowAddrs()[0], fakeNetFlow(9, fakeRec{bytes: 1, packets: 1}))
	waitFor(t, "second", func() bool { return len(rec.snapshot()) == 2 })
	exps := c.Exporters()
	if len(exps) != 2 || exps[0].Address.String() != "127.0.0.1" || !exps[1].Overflow || exps[1].Flows != 1 {
		t.Errorf("exporters: %+v", exps)
	}
}

func TestContextEndStopsReaders(t *testing.T) {
	c, err := New(Config{NetFlow: []string{"127.0.0.1:0"}, Readers: 2}, Deps{NetFlow: &fakeDecoder{}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if !c.Ready() {
		t.Fatal("not Ready after Start")
	}
	cancel()
	done := make(chan struct{})
	go func() { c.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop hung after the context ended")
	}
}

func TestParseProcNetUDP(t *testing.T) {
	table := `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  812: 0100007F:0807 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 41234 2 0000000000000000 17
  813: 0100007F:0807 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 41235 2 0000000000000000 5
  900: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 999 2 0000000000000000 1000
  bad line
`
	out := map[uint64]uint64{}
	parseProcNetUDP([]byte(table), map[uint64]bool{41234: true, 41235: true}, out)
	if len(out) != 2 || out[41234] != 17 || out[41235] != 5 {
		t.Errorf("drops = %v, want 41234:17 41235:5", out)
	}
}

func TestProtocolAndAgent(t *testing.T) {
	for _, tc := range []struct {
		p    []byte
		want protocol
	}{
		{[]byte{0, 5, 0, 1}, protoNetFlow5},
		{[]byte{0, 9, 0, 1}, protoNetFlow9},
		{[]byte{0, 10, 0, 1}, protoIPFIX},
		{[]byte{0, 0, 0, 5}, protoSFlow5},
		{[]byte{0, 0, 0, 4}, protoUnknown},
		{[]byte{0, 9}, protoUnknown},
	} {
		if got := protocolOf(tc.p); got != tc.want {
			t.Errorf("protocolOf(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	v6 := netip.MustParseAddr("2001:db8::1")
	p := append([]byte{0, 0, 0, 5, 0, 0, 0, 2}, v6.AsSlice()...)
	if a, ok := sflowAgent(p); !ok || a != v6 {
		t.Errorf("sflowAgent v6 = %v %v", a, ok)
	}
	if _, ok := sflowAgent([]byte{0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 0}); ok {
		t.Error("an unspecified agent address was taken as the exporter")
	}
	if _, ok := sflowAgent(p[:20]); ok {
		t.Error("a truncated IPv6 agent address was accepted")
	}
}

// TestHandleDoesNotAllocate checks the per-datagram path: read counters, decode, sampling policy.
func TestHandleDoesNotAllocate(t *testing.T) {
	c, err := New(Config{NetFlow: []string{"127.0.0.1:0"}, Overrides: map[netip.Addr]uint32{netip.MustParseAddr("192.0.2.7"): 5}},
		Deps{NetFlow: &fakeDecoder{}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r := &reader{c: c, table: c.reg.newTable(), batch: flow.NewBatch(flow.DefaultBatchSize)}
	pkt := fakeNetFlow(10, fakeRec{bytes: 100, packets: 1}, fakeRec{bytes: 200, packets: 2, rate: 100})
	from := netip.MustParseAddrPort("192.0.2.7:4000")
	r.handle(pkt, from, 1) // first sight of the exporter allocates its counters
	allocs := testing.AllocsPerRun(1000, func() {
		if r.batch.Len() > 4000 {
			r.batch.Reset()
		}
		r.handle(pkt, from, 2)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per datagram, want 0", allocs)
	}
}

func BenchmarkHandle(b *testing.B) {
	c, err := New(Config{NetFlow: []string{"127.0.0.1:0"}}, Deps{NetFlow: &fakeDecoder{}, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	r := &reader{c: c, table: c.reg.newTable(), batch: flow.NewBatch(flow.DefaultBatchSize)}
	recs := make([]fakeRec, 30)
	for i := range recs {
		recs[i] = fakeRec{bytes: 1500, packets: 1, rate: 1000, srcPort: uint16(i)}
	}
	pkt := fakeNetFlow(10, recs...)
	from := netip.MustParseAddrPort("192.0.2.7:4000")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if r.batch.Len() > 4000 {
			r.batch.Reset()
		}
		r.handle(pkt, from, 2)
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "flows/s")
}

// TestBatchReaderDoesNotAllocate reads datagrams with recvmmsg from a real socket.
func TestBatchReaderDoesNotAllocate(t *testing.T) {
	s, err := listenUDP(context.Background(), netip.MustParseAddrPort("127.0.0.1:0"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.conn.Close()
	in, err := newBatchReader(s.conn)
	if err != nil {
		t.Fatal(err)
	}
	out, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	dst := s.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	src := out.LocalAddr().(*net.UDPAddr).AddrPort()
	msg := []byte("0123456789")
	var got int
	allocs := testing.AllocsPerRun(200, func() {
		_, _ = out.WriteToUDPAddrPort(msg, dst)
		_, _ = out.WriteToUDPAddrPort(msg, dst)
		for n := 0; n < 2; {
			k, err := in.read()
			if err != nil {
				t.Fatal(err)
			}
			for i := range k {
				p, from, cut := in.datagram(i)
				if string(p) != string(msg) || from != src || cut {
					t.Fatalf("datagram %q from %v (cut %v), want %q from %v", p, from, cut, msg, src)
				}
			}
			n += k
			got += k
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per read, want 0", allocs)
	}
	if got < 400 {
		t.Errorf("read %d datagrams", got)
	}
}
