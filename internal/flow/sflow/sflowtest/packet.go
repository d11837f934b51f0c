package sflowtest

import (
	"encoding/binary"
	"net/netip"
)

// IP protocols used by Frame.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
)

// Frame describes an Ethernet frame to build: optional 802.1Q/802.1ad tags (outer first), an
// optional MPLS label stack (top first), then an IPv4 or IPv6 packet after Src's family.
type Frame struct {
	VLANs            []uint16 // the first tag is written with TPID 0x88A8 when QinQ is set
	QinQ             bool
	MPLS             []uint32
	Src, Dst         netip.Addr
	Proto            uint8
	ToS              uint8
	SrcPort, DstPort uint16 // TCP, UDP
	TCPFlags         uint8
	ICMPType         uint8
	ICMPCode         uint8
	FragOffset       uint16  // in 8-byte units (IPv4 header field; IPv6 fragment header when set)
	IPv6ExtHeaders   []uint8 // next-header values of 8-byte extension headers to insert (0, 43, 60)
	Payload          int     // bytes of zero payload after the transport header
}

// Bytes builds the whole frame.
func (f *Frame) Bytes() []byte {
	b := make([]byte, 0, 128+f.Payload)
	b = append(b, 0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01) // dst, src MACs
	inner := uint16(0x0800)
	if f.Src.Is6() {
		inner = 0x86DD
	}
	if len(f.MPLS) > 0 {
		inner = 0x8847
	}
	for i, v := range f.VLANs {
		tpid := uint16(0x8100)
		if i == 0 && f.QinQ {
			tpid = 0x88A8
		}
		b = binary.BigEndian.AppendUint16(b, tpid)
		b = binary.BigEndian.AppendUint16(b, v&0x0FFF)
	}
	b = binary.BigEndian.AppendUint16(b, inner)
	for i, l := range f.MPLS {
		e := l<<12 | 64
		if i == len(f.MPLS)-1 {
			e |= 0x100
		}
		b = binary.BigEndian.AppendUint32(b, e)
	}
	return f.appendIP(b)
}

func (f *Frame) transport() []byte {
	var t []byte
	switch f.Proto {
	case ProtoTCP:
		t = make([]byte, 20)
		binary.BigEndian.PutUint16(t, f.SrcPort)
		binary.BigEndian.PutUint16(t[2:], f.DstPort)
		t[12] = 5 << 4
		t[13] = f.TCPFlags
	case ProtoUDP:
		t = make([]byte, 8)
		binary.BigEndian.PutUint16(t, f.SrcPort)
		binary.BigEndian.PutUint16(t[2:], f.DstPort)
		binary.BigEndian.PutUint16(t[4:], uint16(8+f.Payload))
	case ProtoICMP, ProtoICMPv6:
		t = make([]byte, 8)
		t[0], t[1] = f.ICMPType, f.ICMPCode
	}
	return append(t, make([]byte, f.Payload)...)
}

func (f *Frame) appendIP(b []byte) []byte {
	t := f.transport()
	if f.FragOffset != 0 && f.Src.Is4() {
		t = make([]byte, f.Payload) // a later fragment carries no transport header
	}
	if f.Src.Is4() {
		h := make([]byte, 20)
		h[0] = 0x45
		h[1] = f.ToS
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(t)))
		binary.BigEndian.PutUint16(h[6:], f.FragOffset&0x1FFF)
		h[8] = 64
		h[9] = f.Proto
		s, d := f.Src.As4(), f.Dst.As4()
		copy(h[12:], s[:])
		copy(h[16:], d[:])
		return append(append(b, h...), t...)
	}
	var ext []byte
	nh := f.Proto
	// Extension headers are chained in order; each names the next.
	chain := append([]uint8(nil), f.IPv6ExtHeaders...)
	if f.FragOffset != 0 {
		chain = append(chain, 44)
		t = make([]byte, f.Payload)
	}
	first := nh
	if len(chain) > 0 {
		first = chain[0]
	}
	for i, typ := range chain {
		next := nh
		if i+1 < len(chain) {
			next = chain[i+1]
		}
		e := make([]byte, 8)
		e[0] = next
		if typ == 44 {
			binary.BigEndian.PutUint16(e[2:], f.FragOffset<<3)
		}
		ext = append(ext, e...)
	}
	h := make([]byte, 40)
	h[0] = 0x60 | f.ToS>>4
	h[1] = f.ToS << 4
	binary.BigEndian.PutUint16(h[4:], uint16(len(ext)+len(t)))
	h[6] = first
	h[7] = 64
	s, d := f.Src.As16(), f.Dst.As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	return append(append(append(b, h...), ext...), t...)
}

// Header returns the frame's first n bytes (all of it when shorter), as an agent samples it.
func Header(frame []byte, n int) []byte {
	if len(frame) < n {
		return frame
	}
	return frame[:n]
}

// Typical builds a datagram of n flow samples at 1:rate, each with a headerLen-byte sampled
// header of typical traffic (TCP and UDP, IPv4 and IPv6, some of it VLAN-tagged), an extended
// switch record and, every other sample, extended router and gateway records.
func Typical(n, headerLen int, rate uint32) []byte {
	d := Datagram{
		Agent:    netip.AddrFrom4([4]byte{192, 0, 2, 1}),
		Sequence: 1,
		UptimeMs: 123456,
	}
	for i := 0; i < n; i++ {
		f := Frame{
			Src:     netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}),
			Dst:     netip.AddrFrom4([4]byte{203, 0, 113, byte(10 + i)}),
			Proto:   ProtoTCP,
			SrcPort: 443, DstPort: uint16(40000 + i),
			TCPFlags: 0x18,
			Payload:  1400,
		}
		switch i % 4 {
		case 1:
			f.Proto, f.SrcPort, f.DstPort, f.Payload = ProtoUDP, 53, uint16(50000+i), 200
		case 2:
			f.Src = netip.MustParseAddr("2001:db8::1")
			f.Dst = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)})
			f.VLANs = []uint16{100}
		case 3:
			f.Src = netip.MustParseAddr("2001:db8::2")
			f.Dst = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)})
			f.Proto, f.SrcPort, f.DstPort, f.Payload = ProtoUDP, 4500, 4500, 900
		}
		frame := f.Bytes()
		s := &FlowSample{
			Sequence:    uint32(i + 1),
			SourceIndex: 3,
			Rate:        rate,
			Pool:        uint32(i+1) * rate,
			InFormat:    IfSingle, In: 3,
			OutFormat: IfSingle, Out: uint32(10 + i%2),
			Records: []Item{
				&RawHeader{Protocol: HeaderEthernet, FrameLength: uint32(len(frame) + 4), Stripped: 4, Header: Header(frame, headerLen)},
				&ExtSwitch{InVLAN: 100, OutVLAN: 100},
			},
		}
		if i%2 == 0 {
			s.Records = append(s.Records,
				&ExtRouter{NextHop: netip.AddrFrom4([4]byte{192, 0, 2, 254}), SrcMask: 24, DstMask: 22},
				&ExtGateway{NextHop: netip.AddrFrom4([4]byte{192, 0, 2, 254}), AS: 64500, SrcAS: 64501, SrcPeerAS: 64501,
					Path: [][]uint32{{64510, 64511, 64512}}, Communities: []uint32{64500<<16 | 100}, LocalPref: 100})
		}
		d.Samples = append(d.Samples, s)
	}
	return d.Bytes()
}
