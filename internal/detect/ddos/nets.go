package ddos

import (
	"encoding/binary"
	"net/netip"

	"yocho/internal/enrich"
)

// netTable answers "which of our hostgroups holds this address" for IPv4 with one or two loads:
// a table by /16, and for the /16s that hold networks longer than /16, a table by /24 of each.
// Addresses in a /24 that holds networks longer than /24 are asked of the enrich.Networks it was
// built from; IPv6 addresses too, their answer kept by /64 in a small direct-mapped cache when no
// network is longer than /64. Its cache makes it the Detector's: used under its lock.
type netTable struct {
	nets  *enrich.Networks
	v4    []uint16      // by /16: 0 not ours, g+1 group g, sub+subBase the /24 table sub
	sub   [][256]uint16 // by /24: 0 not ours, g+1 group g, askNets
	v6by  bool          // the cache can be used: every IPv6 network is /64 or shorter
	v6hit []v6entry
}

type v6entry struct {
	hi    uint64 // the /64
	group int32  // -1: not ours
	set   bool
}

const v6Cache = 4096

const (
	subBase = 0x8000
	askNets = 0xFFFF
)

func newNetTable(nets *enrich.Networks) *netTable {
	t := &netTable{nets: nets, v4: make([]uint16, 1<<16), v6by: true, v6hit: make([]v6entry, v6Cache)}
	// longer[x]: the /16 x holds a v4 network longer than /16; longer24 likewise for /24s.
	longer16 := map[uint32]bool{}
	longer24 := map[uint32]bool{}
	for _, g := range nets.Groups() {
		p := g.Prefix
		if !p.Addr().Is4() {
			t.v6by = t.v6by && p.Bits() <= 64
			continue
		}
		a := p.Addr().As4()
		v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
		if p.Bits() > 16 {
			longer16[v>>16] = true
		}
		if p.Bits() > 24 {
			longer24[v>>8] = true
		}
	}
	group := func(v uint32) uint16 {
		a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		if g := nets.Lookup(a); g != nil {
			return uint16(g.Index + 1)
		}
		return 0
	}
	if len(nets.Groups()) >= subBase-1 {
		for x := range t.v4 {
			t.v4[x] = askNets
		}
		return t
	}
	for x := uint32(0); x < 1<<16; x++ {
		if !longer16[x] {
			t.v4[x] = group(x << 16)
			continue
		}
		if len(t.sub) >= askNets-subBase {
			t.v4[x] = askNets
			continue
		}
		var s [256]uint16
		for y := uint32(0); y < 256; y++ {
			if longer24[x<<8|y] {
				s[y] = askNets
			} else {
				s[y] = group(x<<16 | y<<8)
			}
		}
		t.v4[x] = uint16(subBase + len(t.sub))
		t.sub = append(t.sub, s)
	}
	return t
}

// lookup is the index of the hostgroup holding a (unmapped), or -1 when a is not ours.
func (t *netTable) lookup(a netip.Addr) int32 {
	if a.Is4() {
		b := a.As4()
		v := t.v4[uint32(b[0])<<8|uint32(b[1])]
		if v >= subBase && v != askNets {
			v = t.sub[v-subBase][b[2]]
		}
		if v != askNets {
			return int32(v) - 1
		}
	} else if t.v6by {
		b := a.As16()
		hi := binary.BigEndian.Uint64(b[:8])
		e := &t.v6hit[mix64(hi)%v6Cache]
		if !e.set || e.hi != hi {
			*e = v6entry{hi: hi, group: t.ask(a), set: true}
		}
		return e.group
	}
	return t.ask(a)
}

func (t *netTable) ask(a netip.Addr) int32 {
	if g := t.nets.Lookup(a); g != nil {
		return int32(g.Index)
	}
	return -1
}
