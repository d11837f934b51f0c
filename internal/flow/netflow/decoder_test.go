package netflow_test

import (
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/flow"
	"yocho/internal/flow/netflow"
	"yocho/internal/flow/netflow/netflowtest"
)

var exporterA = netip.MustParseAddr("192.0.2.10")

const nowMs = int64(testExportSecs) * 1000

// decode runs datagrams through one decoder and returns the records and the errors.
func decode(t *testing.T, dec *netflow.Decoder, pkts ...[]byte) (*flow.Batch, []error) {
	t.Helper()
	b := flow.NewBatch(16)
	var errs []error
	for _, p := range pkts {
		if err := dec.Decode(exporterA, nowMs, p, b); err != nil {
			errs = append(errs, err)
		}
	}
	return b, errs
}

func rates(b *flow.Batch) []uint32 { return slices.Clone(b.SamplingRate) }

// TestSamplingRate covers where routers put their sampling rate (see PITFALLS.md).
func TestSamplingRate(t *testing.T) {
	samplerOptions := []fs{{48, 2, 0}, {34, 4, 0}} // sampler id, samplingInterval
	withSampler := append(slices.Clone(flowFields), fs{48, 2, 0})
	tests := []struct {
		name string
		pkts [][]byte
		want []uint32
	}{{
		name: "v9 options data after the flow data in the same datagram",
		pkts: [][]byte{
			v9Packet(1, 0, v9Template(256, flowFields...), v9OptionsTemplate(257, fs{34, 4, 0})),
			v9Packet(2, 0, set(256, flowRecord("10.0.0.1", 100, 1)), set(257, u32(0), u32(1000))),
		},
		want: []uint32{1000},
	}, {
		name: "v9 options data before its options template",
		pkts: [][]byte{
			v9Packet(1, 0, set(257, u32(0), u32(512))),
			v9Packet(2, 0, v9OptionsTemplate(257, fs{34, 4, 0}), v9Template(256, flowFields...)),
			v9Packet(3, 0, set(256, flowRecord("10.0.0.1", 100, 1))),
		},
		want: []uint32{512},
	}, {
		name: "held flows and held options decoded when both templates come",
		pkts: [][]byte{
			v9Packet(1, 0, set(256, flowRecord("10.0.0.1", 100, 1)), set(257, u32(0), u32(64))),
			v9Packet(2, 0, v9Template(256, flowFields...), v9OptionsTemplate(257, fs{34, 4, 0})),
		},
		want: []uint32{64},
	}, {
		name: "IPFIX rate in the data records (Huawei, IE 34)",
		pkts: [][]byte{ipfixPacket(0, 1,
			ipfixTemplate(300, append(slices.Clone(flowFields), fs{34, 4, 0})...),
			set(300, flowRecord("10.0.0.1", 100, 1, u32(2000)), flowRecord("10.0.0.2", 100, 1, u32(4000))))},
		want: []uint32{2000, 4000},
	}, {
		name: "v9 several samplers looked up by sampler id",
		pkts: [][]byte{
			v9Packet(1, 0, v9OptionsTemplate(257, samplerOptions...), v9Template(256, withSampler...)),
			v9Packet(2, 0, set(257, u32(0), u16(1), u32(100), u32(0), u16(2), u32(1000))),
			v9Packet(3, 0, set(256, flowRecord("10.0.0.1", 1, 1, u16(2)), flowRecord("10.0.0.2", 1, 1, u16(1)),
				flowRecord("10.0.0.3", 1, 1, u16(9)))),
		},
		want: []uint32{1000, 100, 0}, // sampler 9 unknown: two rates, none is the default
	}, {
		name: "IPFIX packet interval and space (IE 305/306) per selector id",
		pkts: [][]byte{ipfixPacket(0, 1,
			ipfixOptionsTemplate(400, 1, fs{302, 4, 0}, fs{305, 4, 0}, fs{306, 4, 0}),
			set(400, u32(7), u32(1), u32(99)),
			ipfixTemplate(300, append(slices.Clone(flowFields), fs{302, 4, 0})...),
			set(300, flowRecord("10.0.0.1", 1, 1, u32(7))))},
		want: []uint32{100},
	}, {
		name: "IPFIX random interval (IE 50) with sampler id and mode (48, 49)",
		pkts: [][]byte{ipfixPacket(0, 1,
			ipfixOptionsTemplate(400, 1, fs{48, 1, 0}, fs{49, 1, 0}, fs{50, 4, 0}),
			set(400, u8(3), u8(2), u32(250)),
			ipfixTemplate(300, append(slices.Clone(flowFields), fs{48, 1, 0})...),
			set(300, flowRecord("10.0.0.1", 1, 1, u8(3))))},
		want: []uint32{250},
	}, {
		name: "IPFIX n-out-of-N (IE 309/310) next to a packet interval of 1 (IOS XR)",
		pkts: [][]byte{ipfixPacket(0, 1,
			ipfixOptionsTemplate(400, 1, fs{302, 4, 0}, fs{305, 4, 0}, fs{309, 4, 0}, fs{310, 4, 0}),
			set(400, u32(1), u32(1), u32(1), u32(256)),
			ipfixTemplate(300, flowFields...),
			set(300, flowRecord("10.0.0.1", 1, 1)))},
		want: []uint32{256},
	}, {
		name: "little-endian rate (MikroTik)",
		pkts: [][]byte{
			v9Packet(1, 0, v9OptionsTemplate(257, fs{34, 4, 0}), v9Template(256, flowFields...)),
			v9Packet(2, 0, set(257, u32(0), []byte{0xe8, 0x03, 0, 0}), set(256, flowRecord("10.0.0.1", 1, 1))),
		},
		want: []uint32{1000},
	}, {
		name: "exporter that never sends a rate: unknown, the collector applies its default",
		pkts: [][]byte{v9Packet(1, 0, v9Template(256, flowFields...), set(256, flowRecord("10.0.0.1", 1, 1)))},
		want: []uint32{0},
	}, {
		name: "options of another observation domain do not apply",
		pkts: [][]byte{
			v9Packet(1, 5, v9OptionsTemplate(257, fs{34, 4, 0}), set(257, u32(0), u32(100))),
			v9Packet(2, 6, v9Template(256, flowFields...), set(256, flowRecord("10.0.0.1", 1, 1))),
		},
		want: []uint32{0},
	}, {
		name: "v5 sampling interval, low 14 bits, mode in the top 2",
		pkts: [][]byte{v5Packet(0, 0x4000|100, 2)},
		want: []uint32{100, 100},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec := netflow.New(netflow.DefaultConfig(), nil)
			b, errs := decode(t, dec, tt.pkts...)
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			if got := rates(b); !slices.Equal(got, tt.want) {
				t.Errorf("rates %v, want %v", got, tt.want)
			}
			st := dec.ExporterState(exporterA)
			var announced []uint32
			for _, r := range tt.want {
				if r > 0 && !slices.Contains(announced, r) {
					announced = append(announced, r)
				}
			}
			slices.Sort(announced)
			for _, r := range announced {
				if !slices.Contains(st.SamplingRates, r) {
					t.Errorf("ExporterState.SamplingRates %v lacks %d", st.SamplingRates, r)
				}
			}
		})
	}
}

// TestSyntheticRecords checks every field of the benchmark's datagrams.
func TestSyntheticRecords(t *testing.T) {
	for _, proto := range []string{"v9", "ipfix"} {
		t.Run(proto, func(t *testing.T) {
			tpl, data := netflowtest.SyntheticV9(30)
			if proto == "ipfix" {
				tpl, data = netflowtest.SyntheticIPFIX(30)
			}
			dec := netflow.New(netflow.DefaultConfig(), nil)
			b, errs := decode(t, dec, tpl, data)
			if len(errs) > 0 || b.Len() != 30 {
				t.Fatalf("%d records, errors %v", b.Len(), errs)
			}
			for i := range 30 {
				r, w := b.Record(i), netflowtest.SyntheticFlow(i)
				got := []any{r.SrcAddr, r.DstAddr, r.NextHop, r.SrcPort, r.DstPort, r.Proto, r.TCPFlags, r.ToS,
					r.Bytes, r.Packets, r.InIf, r.OutIf, r.SrcAS, r.DstAS, r.SrcMask, r.DstMask,
					r.Direction, r.StartMs, r.EndMs, r.SamplerID, r.VLAN, r.ForwardingStatus, r.ObsDomain, r.Exporter}
				want := []any{w.Src, w.Dst, w.NextHop, w.SrcPort, w.DstPort, w.Proto, w.TCPFlags, w.ToS,
					w.Bytes, w.Packets, w.InIf, w.OutIf, w.SrcAS, w.DstAS, w.SrcMask, w.DstMask,
					w.Direction + 1, w.StartMs, w.EndMs, uint32(netflowtest.SamplerID), uint16(100), uint8(0x40),
					uint32(netflowtest.SourceID), exporterA}
				for j := range got {
					if got[j] != want[j] {
						t.Errorf("record %d field %d: %v, want %v", i, j, got[j], want[j])
					}
				}
			}
		})
	}
}

// TestTimes covers the time encodings: v9 uptime (and its wrap), IPFIX seconds, ms, NTP µs/ns,
// and uptime fields with a boot time from options data.
func TestTimes(t *testing.T) {
	exportMs := int64(testExportSecs) * 1000
	ntp := func(ms int64) []byte {
		sec := uint64(ms/1000 + 2208988800)
		frac := uint64(ms%1000) << 32 / 1000
		return u64b(sec<<32 | (frac + 1)) // +1: rounding down must still give the same ms
	}
	tests := []struct {
		name       string
		pkts       [][]byte
		start, end int64
	}{{
		name: "v9 relative to sysUptime",
		pkts: [][]byte{v9Packet(1, 0, v9Template(256, fs{8, 4, 0}, fs{22, 4, 0}, fs{21, 4, 0}),
			set(256, ip4("10.0.0.1"), u32(testUptimeMs-5000), u32(testUptimeMs-1000)))},
		start: exportMs - 5000, end: exportMs - 1000,
	}, {
		name: "v9 uptime wrapped between the flow's start and the export",
		pkts: [][]byte{cat(u16(9), u16(1), u32(1000), u32(testExportSecs), u32(1), u32(0),
			v9Template(256, fs{8, 4, 0}, fs{22, 4, 0}, fs{21, 4, 0}),
			set(256, ip4("10.0.0.1"), u32(0xFFFFFFFF-1999), u32(500)))},
		start: exportMs - 3000, end: exportMs - 500,
	}, {
		name: "IPFIX seconds",
		pkts: [][]byte{ipfixPacket(0, 1, ipfixTemplate(300, fs{8, 4, 0}, fs{150, 4, 0}, fs{151, 4, 0}),
			set(300, ip4("10.0.0.1"), u32(testExportSecs-60), u32(testExportSecs-1)))},
		start: exportMs - 60000, end: exportMs - 1000,
	}, {
		name: "IPFIX microseconds and nanoseconds (NTP format)",
		pkts: [][]byte{ipfixPacket(0, 1, ipfixTemplate(300, fs{8, 4, 0}, fs{154, 8, 0}, fs{157, 8, 0}),
			set(300, ip4("10.0.0.1"), ntp(exportMs-1234), ntp(exportMs-567)))},
		start: exportMs - 1234, end: exportMs - 567,
	}, {
		name: "IPFIX uptime fields with the boot time from options data (Cisco)",
		pkts: [][]byte{ipfixPacket(0, 1,
			ipfixOptionsTemplate(400, 1, fs{149, 4, 0}, fs{160, 8, 0}),
			set(400, u32(1), u64b(uint64(exportMs-100_000))),
			ipfixTemplate(300, fs{8, 4, 0}, fs{22, 4, 0}, fs{21, 4, 0}),
			set(300, ip4("10.0.0.1"), u32(90_000), u32(95_000)))},
		start: exportMs - 10_000, end: exportMs - 5_000,
	}, {
		name: "IPFIX uptime fields with the boot time in the record (Huawei)",
		pkts: [][]byte{ipfixPacket(0, 1,
			ipfixTemplate(300, fs{8, 4, 0}, fs{22, 4, 0}, fs{21, 4, 0}, fs{160, 8, 0}),
			set(300, ip4("10.0.0.1"), u32(90_000), u32(95_000), u64b(uint64(exportMs-100_000))))},
		start: exportMs - 10_000, end: exportMs - 5_000,
	}, {
		name:  "no time fields: the export time",
		pkts:  [][]byte{ipfixPacket(0, 1, ipfixTemplate(300, fs{8, 4, 0}), set(300, ip4("10.0.0.1")))},
		start: exportMs, end: exportMs,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, errs := decode(t, netflow.New(netflow.DefaultConfig(), nil), tt.pkts...)
			if len(errs) > 0 || b.Len() != 1 {
				t.Fatalf("%d records, errors %v", b.Len(), errs)
			}
			if b.StartMs[0] != tt.start || b.EndMs[0] != tt.end {
				t.Errorf("start %d end %d, want %d %d (off by %d, %d ms)", b.StartMs[0], b.EndMs[0],
					tt.start, tt.end, b.StartMs[0]-tt.start, b.EndMs[0]-tt.end)
			}
		})
	}
}

// TestFields covers IE choices: fallbacks, IPv6, variable-length and enterprise fields.
func TestFields(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::1")
	t.Run("total and post counters when delta counters are absent", func(t *testing.T) {
		b, errs := decode(t, netflow.New(netflow.DefaultConfig(), nil), ipfixPacket(0, 1,
			ipfixTemplate(300, fs{8, 4, 0}, fs{85, 8, 0}, fs{86, 8, 0}, fs{23, 4, 0}),
			set(300, ip4("10.0.0.1"), u64b(1500), u64b(3), u32(9))))
		if len(errs) > 0 || b.Len() != 1 || b.Bytes[0] != 1500 || b.Packets[0] != 3 {
			t.Fatalf("got %v, errors %v", b.Record(0), errs)
		}
	})
	t.Run("IPv6, BGP next hop fallback, VLAN 243, ICMP from IE 139, MPLS label, direction", func(t *testing.T) {
		b, errs := decode(t, netflow.New(netflow.DefaultConfig(), nil), ipfixPacket(0, 1,
			ipfixTemplate(300, fs{27, 16, 0}, fs{28, 16, 0}, fs{63, 16, 0}, fs{4, 1, 0}, fs{139, 2, 0},
				fs{243, 2, 0}, fs{70, 3, 0}, fs{61, 1, 0}, fs{89, 1, 0}),
			set(300, v6.AsSlice(), v6.AsSlice(), v6.AsSlice(), u8(58), u16(128<<8), u16(42),
				[]byte{0x01, 0x86, 0xa1}, u8(1), u8(0x80))))
		if len(errs) > 0 || b.Len() != 1 {
			t.Fatalf("%d records, errors %v", b.Len(), errs)
		}
		r := b.Record(0)
		if r.SrcAddr != v6 || r.NextHop != v6 || r.ICMPType != 128 || r.VLAN != 42 || r.MPLSLabel != 6250 ||
			r.Direction != flow.DirectionEgress || r.ForwardingStatus != 0x80 {
			t.Errorf("got %+v", r)
		}
	})
	t.Run("v9 ICMP type and code from the destination port", func(t *testing.T) {
		b, _ := decode(t, netflow.New(netflow.DefaultConfig(), nil), v9Packet(1, 0,
			v9Template(256, fs{8, 4, 0}, fs{4, 1, 0}, fs{11, 2, 0}), set(256, ip4("10.0.0.1"), u8(1), u16(3<<8|1))))
		if b.Len() != 1 || b.ICMPType[0] != 3 || b.ICMPCode[0] != 1 {
			t.Errorf("got %+v", b.Record(0))
		}
	})
	t.Run("variable-length and enterprise fields are skipped", func(t *testing.T) {
		tpl := ipfixTemplate(300, fs{8, 4, 0}, fs{82, 0xFFFF, 0}, fs{1, 4, 0}, fs{100, 0xFFFF, 29305}, fs{2, 4, 0})
		rec1 := cat(ip4("10.0.0.1"), u8(3), []byte("eth"), u32(100), u8(255), u16(2), []byte{1, 2}, u32(1))
		rec2 := cat(ip4("10.0.0.2"), u8(0), u32(200), u8(1), []byte{9}, u32(2))
		b, errs := decode(t, netflow.New(netflow.DefaultConfig(), nil), ipfixPacket(0, 1, tpl, set(300, rec1, rec2)))
		if len(errs) > 0 || b.Len() != 2 || b.Bytes[0] != 100 || b.Packets[1] != 2 || b.SrcAddr[1] != netip.MustParseAddr("10.0.0.2") {
			t.Fatalf("%d records %v, errors %v", b.Len(), b.Bytes, errs)
		}
	})
}

// TestTemplates covers withdrawal, expiry, refresh and held data.
func TestTemplates(t *testing.T) {
	data := ipfixPacket(5, 1, set(300, flowRecord("10.0.0.1", 1, 1)))
	t.Run("withdrawal", func(t *testing.T) {
		dec := netflow.New(netflow.DefaultConfig(), nil)
		b, _ := decode(t, dec, ipfixPacket(0, 1, ipfixTemplate(300, flowFields...)), data)
		if dec.ExporterState(exporterA).Templates != 1 || b.Len() != 1 {
			t.Fatalf("template not learned")
		}
		b, _ = decode(t, dec, ipfixPacket(1, 1, set(2, u16(300), u16(0))), data)
		if st := dec.ExporterState(exporterA); st.Templates != 0 || b.Len() != 0 || st.Pending != 1 {
			t.Errorf("after withdrawal: %+v, %d records", st, b.Len())
		}
	})
	t.Run("expiry", func(t *testing.T) {
		cfg := netflow.DefaultConfig()
		cfg.TemplateTimeout = time.Minute
		dec := netflow.New(cfg, nil)
		b := flow.NewBatch(4)
		_ = dec.Decode(exporterA, nowMs, ipfixPacket(0, 1, ipfixTemplate(300, flowFields...)), b)
		_ = dec.Decode(exporterA, nowMs+2*60_000, data, b)
		if b.Len() != 0 || dec.ExporterState(exporterA).Pending != 1 {
			t.Errorf("expired template still used: %d records", b.Len())
		}
	})
	t.Run("held data decoded with the template, else counted lost", func(t *testing.T) {
		cfg := netflow.DefaultConfig()
		cfg.PendingMax = 2
		dec := netflow.New(cfg, nil)
		b := flow.NewBatch(4)
		for range 3 {
			if err := dec.Decode(exporterA, nowMs, data, b); err != nil {
				t.Fatal(err)
			}
		}
		if st := dec.ExporterState(exporterA); st.Pending != 2 || st.PendingLost != 1 || b.Len() != 0 {
			t.Fatalf("state %+v, %d records", st, b.Len())
		}
		if err := dec.Decode(exporterA, nowMs, ipfixPacket(9, 1, ipfixTemplate(300, flowFields...)), b); err != nil {
			t.Fatal(err)
		}
		if st := dec.ExporterState(exporterA); st.Pending != 0 || b.Len() != 2 {
			t.Errorf("after the template: state %+v, %d records", st, b.Len())
		}
		_ = dec.Decode(exporterA, nowMs, ipfixPacket(10, 1, set(301, flowRecord("10.0.0.1", 1, 1))), b)
		_ = dec.Decode(exporterA, nowMs+time.Hour.Milliseconds(), ipfixPacket(11, 1), b)
		if st := dec.ExporterState(exporterA); st.Pending != 0 || st.PendingLost != 2 {
			t.Errorf("after the hold time: state %+v", st)
		}
	})
	t.Run("templates and data from two sockets at once share the state", func(t *testing.T) {
		dec := netflow.New(netflow.DefaultConfig(), nil)
		tpl, d := netflowtest.SyntheticIPFIX(10)
		var wg sync.WaitGroup
		var mu sync.Mutex
		total := 0
		for g := range 4 {
			wg.Go(func() {
				b := flow.NewBatch(64)
				for range 200 {
					p := d
					if g == 0 {
						p = tpl
					}
					_ = dec.Decode(exporterA, nowMs, p, b)
				}
				mu.Lock()
				total += b.Len()
				mu.Unlock()
			})
		}
		wg.Wait()
		if st := dec.ExporterState(exporterA); total+10*st.Pending+10*int(st.PendingLost) != 3*200*10 {
			t.Errorf("%d records decoded, %+v: some lost", total, st)
		}
	})
}

// TestSequence covers export loss estimation.
func TestSequence(t *testing.T) {
	tpl := v9Template(256, flowFields...)
	rec := set(256, flowRecord("10.0.0.1", 1, 1))
	tests := []struct {
		name string
		pkts [][]byte
		want uint64
	}{
		{"v9 in order", [][]byte{v9Packet(10, 0, tpl), v9Packet(11, 0, rec), v9Packet(12, 0, rec)}, 0},
		{"v9 two datagrams lost", [][]byte{v9Packet(10, 0, tpl), v9Packet(13, 0, rec)}, 2},
		{"v9 reordered", [][]byte{v9Packet(10, 0, tpl), v9Packet(12, 0, rec), v9Packet(11, 0, rec), v9Packet(13, 0, rec)}, 0},
		{"v9 restart", [][]byte{v9Packet(4_000_000, 0, tpl), v9Packet(1, 0, tpl), v9Packet(2, 0, rec)}, 0},
		{"v9 per source id", [][]byte{v9Packet(10, 0, tpl), v9Packet(500, 1, tpl), v9Packet(11, 0, rec), v9Packet(501, 1, tpl)}, 0},
		{"v9 wrap", [][]byte{v9Packet(0xFFFFFFFF, 0, tpl), v9Packet(0, 0, rec)}, 0},
		{"v5 counts flows", [][]byte{v5Packet(100, 0, 3), v5Packet(103, 0, 2), v5Packet(110, 0, 1)}, 5},
		{"IPFIX counts data records", [][]byte{
			ipfixPacket(0, 1, ipfixTemplate(300, flowFields...), set(300, flowRecord("10.0.0.1", 1, 1), flowRecord("10.0.0.2", 1, 1))),
			ipfixPacket(2, 1, set(300, flowRecord("10.0.0.1", 1, 1))),
			ipfixPacket(7, 1, set(300, flowRecord("10.0.0.1", 1, 1))),
		}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec := netflow.New(netflow.DefaultConfig(), nil)
			_, errs := decode(t, dec, tt.pkts...)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if got := dec.ExporterState(exporterA).SequenceLost; got != tt.want {
				t.Errorf("SequenceLost %d, want %d", got, tt.want)
			}
		})
	}
}

// TestHostile feeds truncated, garbage and hostile datagrams: each must fail with its reason,
// be counted, and never panic, loop or allocate without bound.
func TestHostile(t *testing.T) {
	tpl := v9Template(256, flowFields...)
	many := make([]fs, 300)
	for i := range many {
		many[i] = fs{1, 4, 0}
	}
	zeros := []fs{{8, 0, 0}, {12, 0, 0}}
	tests := []struct {
		name   string
		pkts   [][]byte
		reason string
	}{
		{"empty", [][]byte{{}}, netflow.ReasonTruncated},
		{"one byte", [][]byte{{0}}, netflow.ReasonTruncated},
		{"unknown version", [][]byte{cat(u16(7), make([]byte, 30))}, netflow.ReasonBadVersion},
		{"v5 header cut", [][]byte{v5Packet(0, 0, 1)[:20]}, netflow.ReasonTruncated},
		{"v5 records cut", [][]byte{v5Packet(0, 0, 3)[:24+48*2]}, netflow.ReasonTruncated},
		{"v9 header cut", [][]byte{v9Packet(0, 0)[:12]}, netflow.ReasonTruncated},
		{"IPFIX header cut", [][]byte{ipfixPacket(0, 0)[:10]}, netflow.ReasonTruncated},
		{"IPFIX length past the datagram", [][]byte{ipfixPacket(0, 0, tpl)[:20]}, netflow.ReasonTruncated},
		{"IPFIX length shorter than the header", [][]byte{cat(u16(10), u16(8), make([]byte, 12))}, netflow.ReasonBadLength},
		{"set length < 4", [][]byte{v9Packet(0, 0, cat(u16(256), u16(2), u32(0)))}, netflow.ReasonBadSet},
		{"set length past the datagram", [][]byte{v9Packet(0, 0, cat(u16(256), u16(400), u32(0)))}, netflow.ReasonBadLength},
		{"template with 0 fields", [][]byte{v9Packet(0, 0, set(0, u16(256), u16(0)))}, netflow.ReasonBadTemplate},
		{"template id reserved", [][]byte{v9Packet(0, 0, v9Template(5, flowFields...))}, netflow.ReasonBadTemplate},
		{"template fields past the set", [][]byte{v9Packet(0, 0, set(0, u16(256), u16(5000), u32(1)))}, netflow.ReasonBadLength},
		{"template with too many fields", [][]byte{v9Packet(0, 0, v9Template(256, many...))}, netflow.ReasonBadTemplate},
		{"template of zero-length fields", [][]byte{ipfixPacket(0, 0, ipfixTemplate(256, zeros...))}, netflow.ReasonBadTemplate},
		{"v9 variable length", [][]byte{v9Packet(0, 0, v9Template(256, fs{8, 0xFFFF, 0}))}, netflow.ReasonBadTemplate},
		{"options template scope not a multiple of 4", [][]byte{v9Packet(0, 0, set(1, u16(257), u16(3), u16(4), u32(0)))}, netflow.ReasonBadTemplate},
		{"IPFIX options scope count above field count", [][]byte{ipfixPacket(0, 0, set(3, u16(300), u16(1), u16(2), u32(0)))}, netflow.ReasonBadTemplate},
		{"IPFIX enterprise number cut", [][]byte{ipfixPacket(0, 0, cat(u16(2), u16(12), u16(300), u16(1), u16(0x8001), u16(4)))}, netflow.ReasonBadLength},
		{"variable-length record past the set", [][]byte{ipfixPacket(0, 0, ipfixTemplate(300, fs{82, 0xFFFF, 0}),
			set(300, u8(255), u16(60000), []byte{1, 2, 3}))}, netflow.ReasonTruncatedRecord},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			dec := netflow.New(netflow.DefaultConfig(), reg)
			_, errs := decode(t, dec, tt.pkts...)
			if len(errs) == 0 {
				t.Fatalf("no error, want %q", tt.reason)
			}
			var de *flow.DecodeError
			if !errors.As(errs[0], &de) || de.Reason != tt.reason {
				t.Fatalf("error %v, want reason %q", errs[0], tt.reason)
			}
			if n := counter(t, reg, "yocho_netflow_dropped_total", tt.reason); n < 1 {
				t.Errorf("dropped_total{reason=%q} = %v", tt.reason, n)
			}
		})
	}
	t.Run("template cap per exporter", func(t *testing.T) {
		cfg := netflow.DefaultConfig()
		cfg.MaxTemplates = 3
		reg := prometheus.NewRegistry()
		dec := netflow.New(cfg, reg)
		var pkts [][]byte
		for id := range uint16(5) {
			pkts = append(pkts, v9Packet(uint32(id), 0, v9Template(256+id, flowFields...)))
		}
		_, errs := decode(t, dec, pkts...)
		if len(errs) != 2 || dec.ExporterState(exporterA).Templates != 3 {
			t.Errorf("errors %v, templates %d", errs, dec.ExporterState(exporterA).Templates)
		}
		if n := counter(t, reg, "yocho_netflow_dropped_total", netflow.ReasonTooManyTemplates); n != 2 {
			t.Errorf("too-many-templates counted %v", n)
		}
	})
	t.Run("exporter cap", func(t *testing.T) {
		cfg := netflow.DefaultConfig()
		cfg.MaxExporters = 2
		dec := netflow.New(cfg, nil)
		b := flow.NewBatch(4)
		var err error
		for i := range 3 {
			err = dec.Decode(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), nowMs, v5Packet(0, 0, 1), b)
		}
		var de *flow.DecodeError
		if !errors.As(err, &de) || de.Reason != netflow.ReasonTooManyExporters || b.Len() != 2 {
			t.Errorf("third exporter: %v, %d records", err, b.Len())
		}
	})
}

func counter(t *testing.T, reg *prometheus.Registry, name, reason string) float64 {
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
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestNoAllocations: decoding data into a batch with room allocates nothing.
func TestNoAllocations(t *testing.T) {
	for _, proto := range []string{"v9", "ipfix", "v5"} {
		t.Run(proto, func(t *testing.T) {
			tpl, data := netflowtest.SyntheticV9(30)
			switch proto {
			case "ipfix":
				tpl, data = netflowtest.SyntheticIPFIX(30)
			case "v5":
				tpl, data = v5Packet(0, 100, 1), v5Packet(0, 100, 30)
			}
			dec := netflow.New(netflow.DefaultConfig(), prometheus.NewRegistry())
			b := flow.NewBatch(64)
			_ = dec.Decode(exporterA, nowMs, tpl, b)
			allocs := testing.AllocsPerRun(200, func() {
				b.Reset()
				if err := dec.Decode(exporterA, nowMs, data, b); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 || b.Len() != 30 {
				t.Errorf("%v allocations per datagram of 30 flows, %d records", allocs, b.Len())
			}
		})
	}
}
