package sflow

import (
	"errors"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"

	"yocho/internal/flow"
	st "yocho/internal/flow/sflow/sflowtest"
)

func fuzzSeeds() [][]byte {
	tcp := st.Frame{Src: v4a, Dst: v4b, Proto: st.ProtoTCP, SrcPort: 1, DstPort: 2}
	seeds := [][]byte{
		st.Typical(8, 128, 1000),
		st.Typical(2, 64, 1),
		datagramOf(oneSample(header(st.Frame{QinQ: true, VLANs: []uint16{1, 2}, MPLS: []uint32{3, 4}, Src: v6a, Dst: v6b, Proto: st.ProtoUDP, IPv6ExtHeaders: []uint8{0, 60}, FragOffset: 0}))),
		datagramOf(oneSample(header(st.Frame{Src: v6a, Dst: v6b, Proto: st.ProtoICMPv6, ICMPType: 1, FragOffset: 3}))),
		datagramOf(oneSample(&st.SampledIP{Length: 1, Proto: 6, Src: v6a, Dst: v6b}, &st.SampledEthernet{Length: 2},
			&st.ExtRouter{NextHop: v6a}, &st.ExtGateway{NextHop: v4a, Path: [][]uint32{{1, 2}, {3}}, Communities: []uint32{7}})),
		datagramOf(&st.FlowSample{Expanded: true, SourceIndex: 1 << 31, In: 1 << 31, OutFormat: 1, Records: []st.Item{header(tcp)}}),
		datagramOf(&st.CounterSample{Records: []st.Item{&st.IfCounters{IfIndex: 1}}}, &st.CounterSample{Expanded: true, Records: []st.Item{&st.IfCounters{IfIndex: 2}}}),
		(&st.Datagram{Agent: netip.MustParseAddr("2001:db8::1"), Samples: []st.Item{oneSample(header(tcp))}}).Bytes(),
	}
	files, _ := filepath.Glob(filepath.Join(corpusDir, "*.pcap"))
	for _, f := range files {
		dgs, _ := readPcapFile(f)
		for _, dg := range dgs {
			seeds = append(seeds, dg.payload)
		}
	}
	return seeds
}

// FuzzDecode checks that no datagram panics, that every error is a DecodeError with a known
// reason, that records stay within what the bytes could hold, and that decoding is
// deterministic.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	d := New(Config{MaxAgents: 64, MaxInterfacesPerAgent: 64}, nil)
	b1, b2 := flow.NewBatch(16), flow.NewBatch(16)
	f.Fuzz(func(t *testing.T, packet []byte) {
		b1.Reset()
		b2.Reset()
		err1 := d.Decode(source4, 1, packet, b1)
		err2 := d.Decode(source4, 1, packet, b2)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("not deterministic: %v then %v", err1, err2)
		}
		if err1 != nil {
			var de *flow.DecodeError
			if !errors.As(err1, &de) || !slices.Contains(allReasons, de.Reason) {
				t.Fatalf("error %v is not a DecodeError with a known reason", err1)
			}
		}
		// A flow sample takes at least 8 bytes of header and 32 of body.
		if b1.Len() > len(packet)/40 {
			t.Fatalf("%d records from %d bytes", b1.Len(), len(packet))
		}
		if b1.Len() != b2.Len() {
			t.Fatalf("not deterministic: %d then %d records", b1.Len(), b2.Len())
		}
		for i := 0; i < b1.Len(); i++ {
			if r1, r2 := b1.Record(i), b2.Record(i); r1 != r2 || r1.Packets != 1 {
				t.Fatalf("record %d: %+v then %+v", i, r1, r2)
			}
		}
	})
}
