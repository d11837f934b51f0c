package netflow_test

import (
	"encoding/binary"
	"net/netip"
)

// Builders of v5, v9 and IPFIX datagrams for the table tests.

// fs is a template field: IE (v9 type), length, and an enterprise number for IPFIX (0 = none).
type fs struct {
	ie, length uint16
	pen        uint32
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func u8(v uint8) []byte   { return []byte{v} }
func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func u64b(v uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, v)
}
func ip4(s string) []byte { return netip.MustParseAddr(s).AsSlice() }

// set wraps a body in a set header, padded to 4 bytes.
func set(id uint16, body ...[]byte) []byte {
	b := cat(body...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return cat(u16(id), u16(uint16(4+len(b))), b)
}

func specs(fields []fs) []byte {
	var b []byte
	for _, f := range fields {
		if f.pen != 0 {
			b = cat(b, u16(f.ie|0x8000), u16(f.length), u32(f.pen))
		} else {
			b = cat(b, u16(f.ie), u16(f.length))
		}
	}
	return b
}

// v9Template is a v9 template flowset with one template.
func v9Template(id uint16, fields ...fs) []byte {
	return set(0, u16(id), u16(uint16(len(fields))), specs(fields))
}

// v9OptionsTemplate is a v9 options template flowset with a System scope of 4 bytes.
func v9OptionsTemplate(id uint16, fields ...fs) []byte {
	return set(1, u16(id), u16(4), u16(uint16(4*len(fields))), u16(1), u16(4), specs(fields))
}

func ipfixTemplate(id uint16, fields ...fs) []byte {
	return set(2, u16(id), u16(uint16(len(fields))), specs(fields))
}

func ipfixOptionsTemplate(id uint16, scope int, fields ...fs) []byte {
	return set(3, u16(id), u16(uint16(len(fields))), u16(uint16(scope)), specs(fields))
}

const (
	testExportSecs = 1_764_000_000
	testUptimeMs   = 500_000
)

func v9Packet(seq, sourceID uint32, sets ...[]byte) []byte {
	return cat(u16(9), u16(uint16(len(sets))), u32(testUptimeMs), u32(testExportSecs), u32(seq), u32(sourceID), cat(sets...))
}

func ipfixPacket(seq, domain uint32, sets ...[]byte) []byte {
	body := cat(sets...)
	return cat(u16(10), u16(uint16(16+len(body))), u32(testExportSecs), u32(seq), u32(domain), body)
}

// v5Packet builds a v5 datagram of n records from 10.0.0.i to 192.0.2.1.
func v5Packet(seq uint32, sampling uint16, n int) []byte {
	b := cat(u16(5), u16(uint16(n)), u32(testUptimeMs), u32(testExportSecs), u32(0), u32(seq), u8(1), u8(2), u16(sampling))
	for i := range n {
		b = cat(b, ip4("10.0.0."+itoa(i+1)), ip4("192.0.2.1"), ip4("198.51.100.1"), u16(1), u16(2),
			u32(3), u32(300), u32(testUptimeMs-2000), u32(testUptimeMs-1000), u16(1234), u16(80),
			u8(0), u8(0x12), u8(6), u8(0), u16(64500), u16(64501), u8(24), u8(16), u16(0))
	}
	return b
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// A minimal flow template: source, destination, bytes, packets, and what the test adds.
var flowFields = []fs{{8, 4, 0}, {12, 4, 0}, {1, 4, 0}, {2, 4, 0}}

func flowRecord(src string, bytes, packets uint32, extra ...[]byte) []byte {
	return cat(ip4(src), ip4("192.0.2.1"), u32(bytes), u32(packets), cat(extra...))
}
