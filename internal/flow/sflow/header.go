package sflow

import (
	"encoding/binary"
	"net/netip"

	"yocho/internal/flow"
)

// Header protocols of the raw packet header record.
const (
	headerEthernet = 1
	headerIPv4     = 11
	headerIPv6     = 12
	headerMPLS     = 13
)

const (
	etherTypeIPv4   = 0x0800
	etherTypeIPv6   = 0x86DD
	etherTypeVLAN   = 0x8100
	etherTypeQinQ   = 0x88A8
	etherTypeQinQ2  = 0x9100 // pre-standard double tagging
	etherTypeMPLS   = 0x8847
	etherTypeMPLSMc = 0x8848

	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
	protoSCTP   = 132
	protoUDPL   = 136 // UDP-Lite: ports where UDP has them

	maxVLANTags   = 4 // tags read before giving up on a frame
	maxMPLSLabels = 8 // labels read before giving up on a stack
	maxIPv6ExtHdr = 8 // extension headers followed before giving up
)

// clearPacketFields forgets what an earlier record said of the packet itself.
func clearPacketFields(r *flow.Record) {
	r.SrcAddr, r.DstAddr = netip.Addr{}, netip.Addr{}
	r.SrcPort, r.DstPort = 0, 0
	r.Proto, r.TCPFlags, r.ToS, r.ICMPType, r.ICMPCode = 0, 0, 0, 0, 0
	r.MPLSLabel = 0
}

// parseHeader reads the sampled packet header h (of the given sFlow header protocol) into r and
// returns the outer 802.1Q VLAN of the frame, if any. A header cut short is read as far as it
// goes: sampled headers are truncated by design, so a short one is not an error. Every loop is
// bounded by a constant; nothing is allocated.
func parseHeader(proto uint32, h []byte, r *flow.Record) (vlan uint16) {
	switch proto {
	case headerEthernet:
		if len(h) < 14 {
			return 0
		}
		et := binary.BigEndian.Uint16(h[12:])
		h = h[14:]
		for i := 0; i < maxVLANTags && (et == etherTypeVLAN || et == etherTypeQinQ || et == etherTypeQinQ2); i++ {
			if len(h) < 4 {
				return vlan
			}
			if i == 0 {
				vlan = binary.BigEndian.Uint16(h) & 0x0FFF
			}
			et = binary.BigEndian.Uint16(h[2:])
			h = h[4:]
		}
		switch et {
		case etherTypeIPv4:
			parseIPv4(h, r)
		case etherTypeIPv6:
			parseIPv6(h, r)
		case etherTypeMPLS, etherTypeMPLSMc:
			parseMPLS(h, r)
		}
	case headerIPv4:
		parseIPv4(h, r)
	case headerIPv6:
		parseIPv6(h, r)
	case headerMPLS:
		parseMPLS(h, r)
	}
	return vlan
}

// parseMPLS reads a label stack, keeps its top label, and reads the IP packet below the bottom
// of the stack when its first nibble says IPv4 or IPv6 (MPLS does not say what it carries).
func parseMPLS(h []byte, r *flow.Record) {
	for i := 0; i < maxMPLSLabels; i++ {
		if len(h) < 4 {
			return
		}
		e := binary.BigEndian.Uint32(h)
		if i == 0 {
			r.MPLSLabel = e >> 12
		}
		h = h[4:]
		if e&0x100 != 0 { // bottom of stack
			if len(h) == 0 {
				return
			}
			switch h[0] >> 4 {
			case 4:
				parseIPv4(h, r)
			case 6:
				parseIPv6(h, r)
			}
			return
		}
	}
}

func parseIPv4(h []byte, r *flow.Record) {
	if len(h) < 20 || h[0]>>4 != 4 {
		return
	}
	ihl := int(h[0]&0x0F) * 4
	r.ToS = h[1]
	r.Proto = h[9]
	r.SrcAddr = netip.AddrFrom4([4]byte(h[12:16]))
	r.DstAddr = netip.AddrFrom4([4]byte(h[16:20]))
	if ihl < 20 || binary.BigEndian.Uint16(h[6:])&0x1FFF != 0 {
		return // bad header length, or not the first fragment: no transport header here
	}
	if len(h) < ihl {
		return
	}
	parseTransport(r.Proto, h[ihl:], r)
}

func parseIPv6(h []byte, r *flow.Record) {
	if len(h) < 40 || h[0]>>4 != 6 {
		return
	}
	r.ToS = h[0]<<4 | h[1]>>4
	r.SrcAddr = netip.AddrFrom16([16]byte(h[8:24]))
	r.DstAddr = netip.AddrFrom16([16]byte(h[24:40]))
	nh := h[6]
	h = h[40:]
	for i := 0; i < maxIPv6ExtHdr; i++ {
		var size int
		switch nh {
		case 0, 43, 60, 135, 139, 140: // hop-by-hop, routing, destination options, mobility, HIP, shim6
			if len(h) < 8 {
				r.Proto = nh
				return
			}
			size = (int(h[1]) + 1) * 8
		case 51: // authentication header
			if len(h) < 8 {
				r.Proto = nh
				return
			}
			size = (int(h[1]) + 2) * 4
		case 44: // fragment
			if len(h) < 8 {
				r.Proto = nh
				return
			}
			if binary.BigEndian.Uint16(h[2:])>>3 != 0 {
				r.Proto = h[0] // a later fragment: the protocol, but no transport header
				return
			}
			size = 8
		default:
			r.Proto = nh
			parseTransport(nh, h, r)
			return
		}
		if len(h) < size {
			r.Proto = nh
			return
		}
		nh = h[0]
		h = h[size:]
	}
	r.Proto = nh // chain too long: stop without a transport header
}

func parseTransport(proto uint8, h []byte, r *flow.Record) {
	switch proto {
	case protoTCP:
		if len(h) >= 4 {
			r.SrcPort = binary.BigEndian.Uint16(h)
			r.DstPort = binary.BigEndian.Uint16(h[2:])
		}
		if len(h) >= 14 {
			r.TCPFlags = h[13]
		}
	case protoUDP, protoSCTP, protoUDPL:
		if len(h) >= 4 {
			r.SrcPort = binary.BigEndian.Uint16(h)
			r.DstPort = binary.BigEndian.Uint16(h[2:])
		}
	case protoICMP, protoICMPv6:
		if len(h) >= 2 {
			r.ICMPType, r.ICMPCode = h[0], h[1]
		}
	}
}
