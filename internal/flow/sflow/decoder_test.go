package sflow

import (
	"errors"
	"net/netip"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"yocho/internal/flow"
	st "yocho/internal/flow/sflow/sflowtest"
)

var (
	agent4  = netip.MustParseAddr("192.0.2.1")
	source4 = netip.MustParseAddr("198.51.100.7")
	v4a     = netip.MustParseAddr("10.1.2.3")
	v4b     = netip.MustParseAddr("10.9.8.7")
	v6a     = netip.MustParseAddr("2001:db8::a")
	v6b     = netip.MustParseAddr("2001:db8:1::b")
)

// oneSample wraps records in a compact flow sample at 1:1000, from ifIndex 3 to 7, sampled on 3.
func oneSample(records ...st.Item) *st.FlowSample {
	return &st.FlowSample{Sequence: 1, SourceIndex: 3, Rate: 1000, In: 3, Out: 7, Records: records}
}

func datagramOf(samples ...st.Item) []byte {
	d := st.Datagram{Agent: agent4, Sequence: 10, UptimeMs: 1000, Samples: samples}
	return d.Bytes()
}

// header builds a raw header record sampling the first 128 bytes of f, with a 4-byte FCS.
func header(f st.Frame) *st.RawHeader {
	b := f.Bytes()
	return &st.RawHeader{Protocol: st.HeaderEthernet, FrameLength: uint32(len(b) + 4), Stripped: 4, Header: st.Header(b, 128)}
}

func decodeOne(t *testing.T, d *Decoder, packet []byte) flow.Record {
	t.Helper()
	b := flow.NewBatch(8)
	if err := d.Decode(source4, 5000, packet, b); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if b.Len() != 1 {
		t.Fatalf("%d records, want 1", b.Len())
	}
	return b.Record(0)
}

func TestDecodeRecords(t *testing.T) {
	tcp4 := st.Frame{Src: v4a, Dst: v4b, Proto: st.ProtoTCP, SrcPort: 1234, DstPort: 443, TCPFlags: 0x12, ToS: 0x28, Payload: 1000}
	base := flow.Record{ReceivedMs: 5000, StartMs: 5000, EndMs: 5000, Exporter: agent4, SamplerID: 3,
		SamplingRate: 1000, InIf: 3, OutIf: 7, Packets: 1, Direction: flow.DirectionIngress}
	with := func(f func(r *flow.Record)) flow.Record { r := base; f(&r); return r }
	tcp4Want := func(r *flow.Record) {
		r.SrcAddr, r.DstAddr, r.Proto, r.SrcPort, r.DstPort, r.TCPFlags, r.ToS = v4a, v4b, 6, 1234, 443, 0x12, 0x28
		r.Bytes = 14 + 20 + 20 + 1000 + 4
	}
	cases := []struct {
		name   string
		packet []byte
		want   flow.Record
	}{
		{"ethernet ipv4 tcp", datagramOf(oneSample(header(tcp4))), with(tcp4Want)},
		{"802.1Q", datagramOf(oneSample(header(st.Frame{VLANs: []uint16{42}, Src: v4a, Dst: v4b, Proto: st.ProtoUDP, SrcPort: 53, DstPort: 5353}))),
			with(func(r *flow.Record) {
				r.SrcAddr, r.DstAddr, r.Proto, r.SrcPort, r.DstPort, r.VLAN, r.Bytes = v4a, v4b, 17, 53, 5353, 42, 14+4+20+8+4
			})},
		{"QinQ 802.1ad outer tag wins", datagramOf(oneSample(header(st.Frame{QinQ: true, VLANs: []uint16{300, 42}, Src: v6a, Dst: v6b, Proto: st.ProtoUDP, SrcPort: 1, DstPort: 2}))),
			with(func(r *flow.Record) {
				r.SrcAddr, r.DstAddr, r.Proto, r.SrcPort, r.DstPort, r.VLAN, r.Bytes = v6a, v6b, 17, 1, 2, 300, 14+8+40+8+4
			})},
		{"extended switch VLAN wins over the frame's", datagramOf(oneSample(&st.ExtSwitch{InVLAN: 0xFFFFFFFF, OutVLAN: 20},
			header(st.Frame{VLANs: []uint16{42}, Src: v4a, Dst: v4b, Proto: st.ProtoICMP, ICMPType: 8}))),
			with(func(r *flow.Record) {
				r.SrcAddr, r.DstAddr, r.Proto, r.ICMPType, r.VLAN, r.Bytes = v4a, v4b, 1, 8, 20, 14+4+20+8+4
			})},
		{"MPLS stack over IPv4", datagramOf(oneSample(header(st.Frame{MPLS: []uint32{16005, 24001, 3}, Src: v4a, Dst: v4b, Proto: st.ProtoTCP, SrcPort: 179, DstPort: 40000, TCPFlags: 2}))),
			with(func(r *flow.Record) {
				r.SrcAddr, r.DstAddr, r.Proto, r.SrcPort, r.DstPort, r.TCPFlags, r.MPLSLabel, r.Bytes = v4a, v4b, 6, 179, 40000, 2, 16005, 14+12+20+20+4
			})},
		{"MPLS over IPv6, header protocol MPLS", datagramOf(oneSample(&st.RawHeader{Protocol: st.HeaderMPLS, FrameLength: 100,
			Header: (&st.Frame{MPLS: []uint32{999}, Src: v6a, Dst: v6b, Proto: st.ProtoICMPv6, ICMPType: 128}).Bytes()[14:]})),
			with(func(r *flow.Record) {
				r.SrcAddr, r.DstAddr, r.Proto, r.ICMPType, r.MPLSLabel, r.Bytes = v6a, v6b, 58, 128, 999, 100
			})},
		{"IPv4 later fragment: no ports", datagramOf(oneSample(header(st.Frame{Src: v4a, Dst: v4b, Proto: st.ProtoUDP, SrcPort: 1, DstPort: 2, FragOffset: 185, Payload: 500}))),
			with(func(r *flow.Record) { r.SrcAddr, r.DstAddr, r.Proto, r.Bytes = v4a, v4b, 17, 14+20+500+4 })},
		{"IPv6 extension headers", datagramOf(oneSample(header(st.Frame{Src: v6a, Dst: v6b, Proto: st.ProtoTCP, SrcPort: 22, DstPort: 2222, TCPFlags: 0x10, IPv6ExtHeaders: []uint8{0, 60, 43}}))),
			with(func(r *flow.Record) {
				r.SrcAddr, r.DstAddr, r.Proto, r.SrcPort, r.DstPort, r.TCPFlags, r.Bytes = v6a, v6b, 6, 22, 2222, 0x10, 14+40+24+20+4
			})},
		{"IPv6 later fragment: no ports", datagramOf(oneSample(header(st.Frame{Src: v6a, Dst: v6b, Proto: st.ProtoUDP, SrcPort: 1, DstPort: 2, FragOffset: 100, Payload: 64}))),
			with(func(r *flow.Record) { r.SrcAddr, r.DstAddr, r.Proto, r.Bytes = v6a, v6b, 17, 14+40+8+64+4 })},
		{"header protocol IPv4, ICMP", datagramOf(oneSample(&st.RawHeader{Protocol: st.HeaderIPv4, FrameLength: 84,
			Header: (&st.Frame{Src: v4a, Dst: v4b, Proto: st.ProtoICMP, ICMPType: 3, ICMPCode: 13}).Bytes()[14:]})),
			with(func(r *flow.Record) {
				r.SrcAddr, r.DstAddr, r.Proto, r.ICMPType, r.ICMPCode, r.Bytes = v4a, v4b, 1, 3, 13, 84
			})},
		{"header cut inside TCP: ports, no flags", datagramOf(oneSample(&st.RawHeader{Protocol: st.HeaderEthernet, FrameLength: 1500, Header: tcp4.Bytes()[:14+20+6]})),
			with(func(r *flow.Record) {
				r.SrcAddr, r.DstAddr, r.Proto, r.SrcPort, r.DstPort, r.ToS, r.Bytes = v4a, v4b, 6, 1234, 443, 0x28, 1500
			})},
		{"sampled IPv4 record, no header", datagramOf(oneSample(&st.SampledIP{Length: 1344, Proto: 6, Src: v4a, Dst: v4b, SrcPort: 80, DstPort: 8080, TCPFlags: 0x11, ToS: 4})),
			with(func(r *flow.Record) {
				r.SrcAddr, r.DstAddr, r.Proto, r.SrcPort, r.DstPort, r.TCPFlags, r.ToS, r.Bytes = v4a, v4b, 6, 80, 8080, 0x11, 4, 1344
			})},
		{"sampled IPv6 record, ICMPv6 in the ports", datagramOf(oneSample(&st.SampledIP{Length: 104, Proto: 58, Src: v6a, Dst: v6b, SrcPort: 135, DstPort: 0})),
			with(func(r *flow.Record) { r.SrcAddr, r.DstAddr, r.Proto, r.ICMPType, r.Bytes = v6a, v6b, 58, 135, 104 })},
		{"header wins over a sampled IP record before it", datagramOf(oneSample(&st.SampledIP{Length: 9, Proto: 17, Src: v6a, Dst: v6b, SrcPort: 1, DstPort: 2}, header(tcp4))),
			with(tcp4Want)},
		{"sampled Ethernet record only", datagramOf(oneSample(&st.SampledEthernet{Length: 60, EtherType: 0x0806})),
			with(func(r *flow.Record) { r.Bytes = 60 })},
		{"unknown records skipped", datagramOf(oneSample(&st.Opaque{Enterprise: 4413, Fmt: 5, Body: make([]byte, 12)}, &st.Opaque{Fmt: 1010, Body: []byte{1, 2, 3, 4}}, header(tcp4))),
			with(tcp4Want)},
		{"router and gateway records", datagramOf(oneSample(header(tcp4),
			&st.ExtRouter{NextHop: netip.MustParseAddr("2001:db8::ff"), SrcMask: 48, DstMask: 64},
			&st.ExtGateway{NextHop: netip.MustParseAddr("192.0.2.99"), AS: 64500, SrcAS: 64501, Path: [][]uint32{{64502, 64503}, {64504}}, Communities: []uint32{1, 2}, LocalPref: 100})),
			with(func(r *flow.Record) {
				tcp4Want(r)
				r.NextHop, r.SrcMask, r.DstMask, r.SrcAS, r.DstAS = netip.MustParseAddr("2001:db8::ff"), 48, 64, 64501, 64504
			})},
		{"gateway next hop when the router's is unspecified; empty path: router's AS", datagramOf(oneSample(header(tcp4),
			&st.ExtRouter{NextHop: netip.IPv4Unspecified(), SrcMask: 24, DstMask: 16},
			&st.ExtGateway{NextHop: netip.MustParseAddr("192.0.2.99"), AS: 64500, SrcAS: 0})),
			with(func(r *flow.Record) {
				tcp4Want(r)
				r.NextHop, r.SrcMask, r.DstMask, r.DstAS = netip.MustParseAddr("192.0.2.99"), 24, 16, 64500
			})},
		{"expanded sample, ifIndex above 2^30, egress", datagramOf(&st.FlowSample{Expanded: true, SourceIndex: 1285816721, Rate: 4096,
			In: 1 << 31, Out: 1285816721, Records: []st.Item{header(tcp4)}}),
			with(func(r *flow.Record) {
				tcp4Want(r)
				r.SamplerID, r.SamplingRate, r.InIf, r.OutIf, r.Direction = 1285816721, 4096, 1<<31, 1285816721, flow.DirectionEgress
			})},
		{"discarded packet", datagramOf(&st.FlowSample{SourceIndex: 3, Rate: 1000, In: 3, OutFormat: st.IfDiscarded, Out: 258, Records: []st.Item{header(tcp4)}}),
			with(func(r *flow.Record) { tcp4Want(r); r.OutIf, r.Direction, r.ForwardingStatus = 0, 0, 128 })},
		{"multiple output interfaces", datagramOf(&st.FlowSample{SourceIndex: 3, Rate: 1000, In: 3, OutFormat: st.IfMultiple, Out: 5, Records: []st.Item{header(tcp4)}}),
			with(func(r *flow.Record) { tcp4Want(r); r.OutIf, r.Direction = 0, 0 })},
		{"to and from the router itself", datagramOf(&st.FlowSample{SourceIndex: 3, Rate: 1000, In: st.IfInternal, Out: st.IfInternal, Records: []st.Item{header(tcp4)}}),
			with(func(r *flow.Record) { tcp4Want(r); r.InIf, r.OutIf, r.Direction, r.ForwardingStatus = 0, 0, 0, 192 })},
		{"unknown sample types skipped", datagramOf(&st.Opaque{Fmt: 5, Body: make([]byte, 40)}, &st.Opaque{Enterprise: 9, Fmt: 1}, oneSample(header(tcp4))),
			with(tcp4Want)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := decodeOne(t, New(DefaultConfig(), nil), c.packet)
			if got != c.want {
				t.Errorf("\n got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestExporterChoice(t *testing.T) {
	sample := oneSample(header(st.Frame{Src: v4a, Dst: v4b, Proto: st.ProtoUDP}))
	v6agent := netip.MustParseAddr("2001:db8::1")
	cases := []struct {
		name  string
		agent netip.Addr
		cfg   func(*Config)
		want  netip.Addr
	}{
		{"IPv4 agent", agent4, nil, agent4},
		{"IPv6 agent", v6agent, nil, v6agent},
		{"no agent address: source", netip.Addr{}, nil, source4},
		{"unspecified agent: source", netip.IPv4Unspecified(), nil, source4},
		{"configured to use the source", agent4, func(c *Config) { c.ExporterFromSource = true }, source4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			d := New(cfg, nil)
			dg := st.Datagram{Agent: c.agent, SubAgent: 4, Samples: []st.Item{sample}}
			r := decodeOne(t, d, dg.Bytes())
			if r.Exporter != c.want || r.ObsDomain != 4 {
				t.Errorf("Exporter %s ObsDomain %d, want %s 4", r.Exporter, r.ObsDomain, c.want)
			}
			if rates := d.ExporterState(c.want).SamplingRates; len(rates) != 1 || rates[0] != 1000 {
				t.Errorf("ExporterState(%s).SamplingRates = %v, want [1000]", c.want, rates)
			}
		})
	}
}

// TestHostile feeds truncated, garbage and hostile datagrams: each must be rejected with its
// reason, counted once under that reason, keep the records before the fault, and never panic.
func TestHostile(t *testing.T) {
	good := oneSample(header(st.Frame{Src: v4a, Dst: v4b, Proto: st.ProtoTCP, SrcPort: 1, DstPort: 2}))
	full := datagramOf(good, good)
	cases := []struct {
		name    string
		packet  []byte
		reason  string
		records int
	}{
		{"empty", nil, ReasonTruncated, 0},
		{"four bytes", []byte{0, 0, 0, 5}, ReasonTruncated, 0},
		{"version 4", append([]byte{0, 0, 0, 4}, full[4:]...), ReasonBadVersion, 0},
		{"NetFlow v9", []byte{0, 9, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, ReasonBadVersion, 0},
		{"agent address type 3", append([]byte{0, 0, 0, 5, 0, 0, 0, 3}, full[8:]...), ReasonBadAgentType, 0},
		{"cut in the agent address", full[:10], ReasonTruncated, 0},
		{"cut in the datagram header", full[:20], ReasonTruncated, 0},
		{"cut in the second sample", full[:len(full)-10], ReasonTruncated, 1},
		{"2^32-1 samples", (&st.Datagram{Agent: agent4, NumSamples: st.U32(0xFFFFFFFF), Samples: []st.Item{good}}).Bytes(), ReasonBadCount, 0},
		{"one sample more than sent", (&st.Datagram{Agent: agent4, NumSamples: st.U32(2), Samples: []st.Item{good}}).Bytes(), ReasonTruncated, 1},
		{"sample length past the end", datagramOf(good, &st.Opaque{Fmt: 1, Body: make([]byte, 8), Length: st.U32(0x7FFFFFF0)}), ReasonTruncated, 1},
		{"zero-length flow sample", datagramOf(good, &st.Opaque{Fmt: 1}), ReasonBadLength, 1},
		{"zero-length expanded sample", datagramOf(&st.Opaque{Fmt: 3}), ReasonBadLength, 0},
		{"2^32-1 flow records", datagramOf(&st.FlowSample{Rate: 1, NumRecords: st.U32(0xFFFFFFFF), Records: []st.Item{good.Records[0]}}), ReasonBadCount, 0},
		{"record length past the sample", datagramOf(oneSample(&st.Opaque{Fmt: 1, Body: make([]byte, 16), Length: st.U32(1 << 30)})), ReasonTruncated, 0},
		{"zero-length header record", datagramOf(oneSample(&st.Opaque{Fmt: 1})), ReasonBadLength, 0},
		{"sampled header longer than its record", datagramOf(oneSample(&st.RawHeader{Protocol: 1, FrameLength: 64, Header: make([]byte, 20), HeaderLength: st.U32(0xFFFFFFF0)})), ReasonBadLength, 0},
		{"short sampled IPv6 record", datagramOf(oneSample(&st.Opaque{Fmt: 4, Body: make([]byte, 40)})), ReasonBadLength, 0},
		{"short switch record", datagramOf(oneSample(&st.Opaque{Fmt: 1001, Body: make([]byte, 8)})), ReasonBadLength, 0},
		{"router record with address type 7", datagramOf(oneSample(&st.Opaque{Fmt: 1002, Body: []byte{0, 0, 0, 7, 1, 2, 3, 4, 0, 0, 0, 1, 0, 0, 0, 1}})), ReasonBadLength, 0},
		{"gateway with 2^32-1 path segments", datagramOf(oneSample(&st.ExtGateway{NextHop: v4a, NumSegments: st.U32(0xFFFFFFFF)})), ReasonBadCount, 0},
		{"gateway segment with 2^30 ASes", datagramOf(oneSample(&st.Opaque{Fmt: 1003, Body: []byte{0, 0, 0, 1, 1, 2, 3, 4, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0x40, 0, 0, 0, 0, 0, 0, 9}})), ReasonBadCount, 0},
		{"counter sample with 2^32-1 records", datagramOf(&st.Opaque{Fmt: 2, Body: []byte{0, 0, 0, 1, 0, 0, 0, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0}}), ReasonBadCount, 0},
		{"short interface counters", datagramOf(&st.CounterSample{Records: []st.Item{&st.Opaque{Fmt: 1, Body: make([]byte, 40)}}}), ReasonBadLength, 0},
		{"zero-length counter sample", datagramOf(good, &st.Opaque{Fmt: 4}), ReasonBadLength, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			d := New(DefaultConfig(), reg)
			b := flow.NewBatch(4)
			err := d.Decode(source4, 1, c.packet, b)
			var de *flow.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v (%T), want a *flow.DecodeError", err, err)
			}
			if de.Reason != c.reason {
				t.Errorf("reason %q (%v), want %q", de.Reason, err, c.reason)
			}
			if b.Len() != c.records {
				t.Errorf("%d records kept, want %d", b.Len(), c.records)
			}
			for _, r := range allReasons {
				want := 0.0
				if r == c.reason {
					want = 1
				}
				if got := counterValue(d.m.errors[r]); got != want {
					t.Errorf("decode_errors_total{reason=%q} = %v, want %v", r, got, want)
				}
			}
		})
	}
}

// TestHostileHeaders: sampled headers that lie never fail the datagram and never read past
// themselves; loops are bounded.
func TestHostileHeaders(t *testing.T) {
	vlanLoop := append([]byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2}, make([]byte, 0, 400)...)
	for i := 0; i < 100; i++ {
		vlanLoop = append(vlanLoop, 0x81, 0x00, 0, byte(i))
	}
	mplsNoBottom := []byte{}
	for i := 0; i < 100; i++ {
		mplsNoBottom = append(mplsNoBottom, 0, 0, 0x10, 64) // label 1, S bit clear
	}
	v6chain := (&st.Frame{Src: v6a, Dst: v6b, Proto: st.ProtoTCP, SrcPort: 1, DstPort: 2, IPv6ExtHeaders: make([]uint8, 20)}).Bytes()[14:]
	hugeExt := (&st.Frame{Src: v6a, Dst: v6b, Proto: st.ProtoUDP, IPv6ExtHeaders: []uint8{60}}).Bytes()[14:]
	hugeExt[41] = 255 // extension header length far beyond the header
	badIHL := (&st.Frame{Src: v4a, Dst: v4b, Proto: st.ProtoTCP, SrcPort: 1, DstPort: 2}).Bytes()[14:]
	badIHL[0] = 0x4F // 60-byte IP header in a 40-byte sample
	cases := []struct {
		name  string
		proto uint32
		h     []byte
		want  func(r flow.Record) bool
	}{
		{"100 VLAN tags", st.HeaderEthernet, vlanLoop, func(r flow.Record) bool { return r.VLAN == 0 && !r.SrcAddr.IsValid() }},
		{"MPLS without bottom of stack", st.HeaderMPLS, mplsNoBottom, func(r flow.Record) bool { return r.MPLSLabel == 1 && !r.SrcAddr.IsValid() }},
		{"20 IPv6 extension headers", st.HeaderIPv6, v6chain, func(r flow.Record) bool { return r.SrcAddr == v6a && r.SrcPort == 0 }},
		{"IPv6 extension header longer than the sample", st.HeaderIPv6, hugeExt, func(r flow.Record) bool { return r.Proto == 60 && r.SrcPort == 0 }},
		{"IPv4 header length past the sample", st.HeaderIPv4, badIHL, func(r flow.Record) bool { return r.SrcAddr == v4a && r.SrcPort == 0 }},
		{"IPv4 header length 0", st.HeaderIPv4, append([]byte{0x40}, badIHL[1:]...), func(r flow.Record) bool { return r.SrcAddr == v4a && r.SrcPort == 0 }},
		{"IPv6 version in an IPv4 header", st.HeaderIPv4, append([]byte{0x60}, badIHL[1:]...), func(r flow.Record) bool { return !r.SrcAddr.IsValid() }},
		{"empty header", st.HeaderEthernet, nil, func(r flow.Record) bool { return !r.SrcAddr.IsValid() }},
		{"unknown header protocol", 7, badIHL, func(r flow.Record) bool { return !r.SrcAddr.IsValid() }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := decodeOne(t, New(DefaultConfig(), nil), datagramOf(oneSample(&st.RawHeader{Protocol: c.proto, FrameLength: 1, Header: c.h})))
			if !c.want(r) {
				t.Errorf("unexpected record %+v", r)
			}
		})
	}
}

func seqDatagram(sub, seq, uptime uint32) []byte {
	d := st.Datagram{Agent: agent4, SubAgent: sub, Sequence: seq, UptimeMs: uptime}
	return d.Bytes()
}

func TestSequenceLost(t *testing.T) {
	type dg struct{ sub, seq, uptime uint32 }
	cases := []struct {
		name string
		dgs  []dg
		lost uint64
	}{
		{"in order", []dg{{0, 1, 1000}, {0, 2, 2000}, {0, 3, 3000}}, 0},
		{"two missing", []dg{{0, 1, 1000}, {0, 4, 4000}}, 2},
		{"duplicate and late ones are not loss", []dg{{0, 1, 1000}, {0, 3, 3000}, {0, 2, 2000}, {0, 3, 3000}, {0, 4, 4000}}, 1},
		{"restart: sequence and uptime back to low", []dg{{0, 500, 9_000_000}, {0, 1, 500}, {0, 2, 1500}, {0, 5, 4500}}, 2},
		{"huge jump is a restart", []dg{{0, 1, 1000}, {0, 1_000_000, 2000}, {0, 1_000_001, 3000}}, 0},
		{"wrap of the sequence number", []dg{{0, 0xFFFFFFFE, 1000}, {0, 0xFFFFFFFF, 2000}, {0, 1, 3000}}, 1},
		{"sub-agents counted apart", []dg{{0, 1, 1000}, {1, 100, 1000}, {0, 2, 2000}, {1, 103, 2000}, {0, 4, 3000}}, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := New(DefaultConfig(), nil)
			b := flow.NewBatch(1)
			for _, x := range c.dgs {
				if err := d.Decode(source4, 1, seqDatagram(x.sub, x.seq, x.uptime), b); err != nil {
					t.Fatal(err)
				}
			}
			if got := d.ExporterState(agent4).SequenceLost; got != c.lost {
				t.Errorf("SequenceLost = %d, want %d", got, c.lost)
			}
		})
	}
}

func TestCounters(t *testing.T) {
	d := New(Config{MaxInterfacesPerAgent: 2}, nil)
	b := flow.NewBatch(4)
	ifc := func(idx uint32, inOctets uint64) *st.IfCounters {
		return &st.IfCounters{IfIndex: idx, IfType: 6, Speed: 10_000_000_000, Status: 3, InOctets: inOctets, InUcast: 10, InMcast: 2, InBcast: 1,
			InDiscards: 4, InErrors: 5, OutOctets: 999, OutUcast: 20, OutMcast: 0, OutBcast: 1, OutDiscards: 6, OutErrors: 7}
	}
	dg := datagramOf(
		&st.CounterSample{SourceIndex: 7, Records: []st.Item{ifc(7, 100), &st.Opaque{Fmt: 2, Body: make([]byte, 52)}}},
		&st.CounterSample{Expanded: true, SourceIndex: 1 << 31, Records: []st.Item{ifc(1<<31, 5)}},
		oneSample(header(st.Frame{Src: v4a, Dst: v4b, Proto: st.ProtoUDP})),
	)
	if err := d.Decode(source4, 1000, dg, b); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 1 {
		t.Fatalf("%d records, want 1 (counters must stay out of the batch)", b.Len())
	}
	if err := d.Decode(source4, 2000, datagramOf(&st.CounterSample{Records: []st.Item{ifc(7, 200), ifc(8, 1)}}), b); err != nil {
		t.Fatal(err)
	}
	got := d.Counters(agent4)
	want := []InterfaceCounters{
		{IfIndex: 7, IfType: 6, Speed: 10_000_000_000, AdminUp: true, OperUp: true, InOctets: 200, InPackets: 13, InErrors: 5, InDiscards: 4,
			OutOctets: 999, OutPackets: 21, OutErrors: 7, OutDiscards: 6, UpdatedMs: 2000},
		{IfIndex: 1 << 31, IfType: 6, Speed: 10_000_000_000, AdminUp: true, OperUp: true, InOctets: 5, InPackets: 13, InErrors: 5, InDiscards: 4,
			OutOctets: 999, OutPackets: 21, OutErrors: 7, OutDiscards: 6, UpdatedMs: 1000},
	}
	if len(got) != len(want) {
		t.Fatalf("Counters = %+v, want %+v (ifIndex 8 beyond the bound of 2)", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("interface %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	if v := counterValue(d.m.ifacesFull); v != 1 {
		t.Errorf("state_full_total{table=interfaces} = %v, want 1", v)
	}
	if c := d.Counters(v4a); c != nil {
		t.Errorf("Counters of an unknown agent = %v", c)
	}
}

func TestAgentTableBounded(t *testing.T) {
	d := New(Config{MaxAgents: 3}, nil)
	b := flow.NewBatch(16)
	sample := oneSample(header(st.Frame{Src: v4a, Dst: v4b, Proto: st.ProtoUDP}))
	send := func(i int, nowMs int64) {
		dg := st.Datagram{Agent: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), Sequence: 1, Samples: []st.Item{sample}}
		if err := d.Decode(source4, nowMs, dg.Bytes(), b); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 10; i++ {
		send(i, 1000)
	}
	if b.Len() != 10 {
		t.Errorf("%d records, want 10: agents beyond the table are still decoded", b.Len())
	}
	if n := d.agentCount(); n != 3 {
		t.Errorf("%d agents kept, want 3", n)
	}
	if v := counterValue(d.m.agentsFull); v != 7 {
		t.Errorf("state_full_total{table=agents} = %v, want 7", v)
	}
	// Two hours later the idle agents make room for a new one.
	send(20, 1000+2*3600*1000)
	if rates := d.ExporterState(netip.AddrFrom4([4]byte{10, 0, 0, 20})).SamplingRates; len(rates) != 1 {
		t.Errorf("new agent after idle ones expired: rates %v", rates)
	}
}

func TestConcurrentDecode(t *testing.T) {
	d := New(DefaultConfig(), prometheus.NewRegistry())
	dg := st.Typical(8, 128, 1000)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := flow.NewBatch(64)
			for i := 0; i < 200; i++ {
				b.Reset()
				if err := d.Decode(source4, int64(i), dg, b); err != nil || b.Len() != 8 {
					t.Errorf("Decode: %v, %d records", err, b.Len())
					return
				}
				_ = d.ExporterState(agent4)
				_ = d.Counters(agent4)
			}
		}()
	}
	wg.Wait()
}

func TestDecodeAllocs(t *testing.T) {
	d := New(DefaultConfig(), prometheus.NewRegistry())
	dg := st.Typical(8, 128, 1000)
	b := flow.NewBatch(64)
	allocs := testing.AllocsPerRun(1000, func() {
		b.Reset()
		if err := d.Decode(source4, 1, dg, b); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per datagram of 8 samples, want 0", allocs)
	}
	if b.Len() != 8 {
		t.Fatalf("%d records, want 8", b.Len())
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
