// Package netflowtest builds NetFlow v9 and IPFIX datagrams for tests and benchmarks: a typical
// router template (IPv4 5-tuple, counters, interfaces, AS numbers, masks, next hop, times,
// sampler id) and data records with known values, so that the decoder's benchmark and the
// comparison with goflow2 (module yocho/bench) decode the very same bytes.
package netflowtest

import (
	"encoding/binary"
	"net/netip"
)

// Header values of the synthetic datagrams.
const (
	ExportSecs = 1_764_000_000 // 2025-11-24T16:00:00Z
	UptimeMs   = 3_600_000     // v9 sysUptime at export
	SourceID   = 7             // v9 source id, IPFIX observation domain
	TemplateID = 300
	SamplerID  = 2
)

// Flow is what synthetic record i holds.
type Flow struct {
	Src, Dst, NextHop netip.Addr
	SrcPort, DstPort  uint16
	Proto, TCPFlags   uint8
	ToS               uint8
	Bytes, Packets    uint64
	InIf, OutIf       uint32
	SrcAS, DstAS      uint32
	SrcMask, DstMask  uint8
	Direction         uint8 // 0 ingress, 1 egress, as exported
	StartMs, EndMs    int64 // Unix ms
}

// SyntheticFlow returns the values of record i.
func SyntheticFlow(i int) Flow {
	u := uint32(i)
	end := int64(ExportSecs)*1000 - int64(i%50)*100
	return Flow{
		Src:       netip.AddrFrom4([4]byte{10, byte(u >> 16), byte(u >> 8), byte(u)}),
		Dst:       netip.AddrFrom4([4]byte{192, 0, 2, byte(u * 7)}),
		NextHop:   netip.AddrFrom4([4]byte{198, 51, 100, byte(u % 4)}),
		SrcPort:   uint16(1024 + u*13),
		DstPort:   []uint16{80, 443, 53, 123}[i%4],
		Proto:     []uint8{6, 6, 17, 17}[i%4],
		TCPFlags:  uint8(u * 3),
		ToS:       uint8(u % 3 * 32),
		Bytes:     uint64(64 + u*1500),
		Packets:   uint64(1 + u),
		InIf:      10 + u%3,
		OutIf:     20 + u%5,
		SrcAS:     64500 + u%10,
		DstAS:     65000 + u%20,
		SrcMask:   24,
		DstMask:   uint8(16 + u%17),
		Direction: uint8(u % 2),
		StartMs:   end - 30_000 - int64(i%7)*1000,
		EndMs:     end,
	}
}

// field is one template field: IE (v9 type) and length.
type field struct{ ie, length uint16 }

// The template: 22 fields, 64 bytes a record, as a typical router exports.
func fields(ipfix bool) []field {
	start, end := field{22, 4}, field{21, 4} // v9: FIRST_SWITCHED, LAST_SWITCHED
	if ipfix {
		start, end = field{152, 8}, field{153, 8} // flowStart/EndMilliseconds
	}
	return []field{
		{8, 4}, {12, 4}, {7, 2}, {11, 2}, {4, 1}, {6, 1}, {5, 1}, {61, 1},
		{1, 4}, {2, 4}, {10, 4}, {14, 4}, {16, 4}, {17, 4}, {9, 1}, {13, 1},
		{15, 4}, {48, 1}, {89, 1}, {58, 2}, start, end,
	}
}

func appendRecord(b []byte, f Flow, ipfix bool) []byte {
	b = append(b, f.Src.AsSlice()...)
	b = append(b, f.Dst.AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, f.SrcPort)
	b = binary.BigEndian.AppendUint16(b, f.DstPort)
	b = append(b, f.Proto, f.TCPFlags, f.ToS, f.Direction)
	b = binary.BigEndian.AppendUint32(b, uint32(f.Bytes))
	b = binary.BigEndian.AppendUint32(b, uint32(f.Packets))
	b = binary.BigEndian.AppendUint32(b, f.InIf)
	b = binary.BigEndian.AppendUint32(b, f.OutIf)
	b = binary.BigEndian.AppendUint32(b, f.SrcAS)
	b = binary.BigEndian.AppendUint32(b, f.DstAS)
	b = append(b, f.SrcMask, f.DstMask)
	b = append(b, f.NextHop.AsSlice()...)
	b = append(b, SamplerID, 0x40)            // sampler id; forwarding status: forwarded
	b = binary.BigEndian.AppendUint16(b, 100) // VLAN
	if ipfix {
		b = binary.BigEndian.AppendUint64(b, uint64(f.StartMs))
		b = binary.BigEndian.AppendUint64(b, uint64(f.EndMs))
		return b
	}
	exportMs := int64(ExportSecs) * 1000
	b = binary.BigEndian.AppendUint32(b, uint32(UptimeMs-(exportMs-f.StartMs)))
	b = binary.BigEndian.AppendUint32(b, uint32(UptimeMs-(exportMs-f.EndMs)))
	return b
}

func templateSet(ipfix bool) []byte {
	fs := fields(ipfix)
	setID := uint16(0)
	if ipfix {
		setID = 2
	}
	b := binary.BigEndian.AppendUint16(nil, setID)
	b = binary.BigEndian.AppendUint16(b, uint16(8+4*len(fs)))
	b = binary.BigEndian.AppendUint16(b, TemplateID)
	b = binary.BigEndian.AppendUint16(b, uint16(len(fs)))
	for _, f := range fs {
		b = binary.BigEndian.AppendUint16(b, f.ie)
		b = binary.BigEndian.AppendUint16(b, f.length)
	}
	return b
}

func dataSet(n int, ipfix bool) []byte {
	b := binary.BigEndian.AppendUint16(nil, TemplateID)
	b = append(b, 0, 0)
	for i := range n {
		b = appendRecord(b, SyntheticFlow(i), ipfix)
	}
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

func v9Packet(seq uint32, records uint16, sets ...[]byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, 9)
	b = binary.BigEndian.AppendUint16(b, records)
	b = binary.BigEndian.AppendUint32(b, UptimeMs)
	b = binary.BigEndian.AppendUint32(b, ExportSecs)
	b = binary.BigEndian.AppendUint32(b, seq)
	b = binary.BigEndian.AppendUint32(b, SourceID)
	for _, s := range sets {
		b = append(b, s...)
	}
	return b
}

func ipfixPacket(seq uint32, sets ...[]byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, 10)
	b = append(b, 0, 0)
	b = binary.BigEndian.AppendUint32(b, ExportSecs)
	b = binary.BigEndian.AppendUint32(b, seq)
	b = binary.BigEndian.AppendUint32(b, SourceID)
	for _, s := range sets {
		b = append(b, s...)
	}
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

// SyntheticV9 returns a NetFlow v9 datagram holding the template, and one holding n data
// records (n ≤ 1000) with the values of SyntheticFlow(0..n-1).
func SyntheticV9(n int) (template, data []byte) {
	return v9Packet(1, 1, templateSet(false)), v9Packet(2, uint16(n), dataSet(n, false))
}

// SyntheticIPFIX is SyntheticV9 for IPFIX, with absolute times in milliseconds.
func SyntheticIPFIX(n int) (template, data []byte) {
	return ipfixPacket(0, templateSet(true)), ipfixPacket(0, dataSet(n, true))
}
