package simulate

import (
	"encoding/binary"
	"net/netip"

	"yocho/internal/config"
)

// pool numbers the hosts of some prefixes of one family: host i is in prefix i mod len, at
// offset 1 + i / len from its start (wrapping inside the prefix).
type pool struct {
	prefixes []netip.Prefix
}

func newPool(ps []config.Prefix, v4 bool) pool {
	var p pool
	for _, x := range ps {
		if x.Addr().Is4() == v4 {
			p.prefixes = append(p.prefixes, x.Prefix)
		}
	}
	return p
}

func (p *pool) ok() bool { return len(p.prefixes) > 0 }

// addr is host i of the pool.
func (p *pool) addr(i int) netip.Addr {
	pf := p.prefixes[i%len(p.prefixes)]
	return hostOf(pf, uint64(i/len(p.prefixes)))
}

// hostOf is host n (counted from 0, skipping the prefix's first address) of prefix pf,
// wrapping when the prefix is smaller.
func hostOf(pf netip.Prefix, n uint64) netip.Addr {
	a := pf.Addr()
	if a.Is4() {
		b := a.As4()
		base := binary.BigEndian.Uint32(b[:])
		size := uint64(1) << (32 - pf.Bits())
		if size > 2 {
			n = 1 + n%(size-2)
		} else {
			n %= size
		}
		binary.BigEndian.PutUint32(b[:], base+uint32(n))
		return netip.AddrFrom4(b)
	}
	// IPv6: each host has a /64 of its own (as subscribers get a /64 or a /56), unless the
	// prefix is a /64 or longer.
	b := a.As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	hostBits := 128 - pf.Bits()
	switch {
	case hostBits > 64:
		if hostBits-64 < 64 {
			n %= uint64(1) << (hostBits - 64)
		}
		hi += n
		lo++
	case hostBits < 64:
		lo += 1 + n%(uint64(1)<<hostBits)
	default:
		lo += 1 + n
	}
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	return netip.AddrFrom16(b)
}

// plan is the carrier's address plan, by family.
type plan struct {
	subs, srv, net [2]pool // [0] IPv4, [1] IPv6
	spoofed        netip.Prefix
}

func newPlan(c *Carrier) plan {
	var p plan
	for f, v4 := range []bool{true, false} {
		p.subs[f] = newPool(c.Subscribers, v4)
		p.srv[f] = newPool(c.Servers, v4)
		p.net[f] = newPool(c.Internet, v4)
	}
	p.spoofed = c.Spoofed.Prefix
	return p
}

// family is 1 for IPv6, 0 for IPv4, falling back to IPv4 when a pool has no IPv6 prefix.
func (p *plan) family(v6 bool) int {
	if v6 && p.subs[1].ok() && p.srv[1].ok() && p.net[1].ok() {
		return 1
	}
	return 0
}

// spoof is a random source address, in the spoofed range for IPv4, anywhere in the internet
// prefixes for IPv6.
func (p *plan) spoof(r *rng, v6 bool) netip.Addr {
	if v6 && p.net[1].ok() {
		pf := p.net[1].prefixes[0]
		return hostOf(pf, r.next()>>1)
	}
	return hostOf(p.spoofed, r.next()>>1)
}
