package query

import (
	"encoding/binary"
	"net/netip"
)

// EncodeAddr is how the store keeps an address: the 16 bytes of its IPv6 form (IPv4 mapped into
// ::ffff:a.b.c.d) as two big-endian halves, so that one pair of UBIGINT columns holds both families
// and a prefix is a range of (hi, lo). The invalid (zero) Addr encodes as (0, 0), the address "::".
func EncodeAddr(a netip.Addr) (hi, lo uint64) {
	if !a.IsValid() {
		return 0, 0
	}
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

// DecodeAddr reverses EncodeAddr. IPv4-mapped addresses come back as IPv4 and (0, 0) as the
// invalid Addr.
func DecodeAddr(hi, lo uint64) netip.Addr {
	if hi == 0 {
		if lo == 0 {
			return netip.Addr{}
		}
		if lo>>32 == 0xffff {
			return netip.AddrFrom4([4]byte{byte(lo >> 24), byte(lo >> 16), byte(lo >> 8), byte(lo)})
		}
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	return netip.AddrFrom16(b)
}

// prefixRange is the first and last address of p, encoded.
func prefixRange(p netip.Prefix) (fhi, flo, lhi, llo uint64) {
	p = p.Masked()
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	fhi, flo = EncodeAddr(p.Addr())
	lhi, llo = fhi, flo
	switch {
	case bits <= 0:
		lhi, llo = ^uint64(0), ^uint64(0)
	case bits <= 64:
		lhi = fhi | (^uint64(0) >> bits)
		if bits == 64 {
			lhi = fhi
		}
		llo = ^uint64(0)
	case bits < 128:
		llo = flo | (^uint64(0) >> (bits - 64))
	}
	return fhi, flo, lhi, llo
}
