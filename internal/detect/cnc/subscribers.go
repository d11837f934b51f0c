package cnc

import (
	"net/netip"
	"slices"

	"yocho/internal/enrich"
)

// Subscribers says which addresses are the carrier's subscriber hosts, and whose they are.
type Subscribers interface {
	// Subscriber reports whether a is a subscriber host and, if known, its customer.
	Subscriber(a netip.Addr) (customer string, ok bool)
}

// Network is one subscriber prefix and its customer.
type Network struct {
	Prefix   netip.Prefix
	Customer string
}

// Prefixes is a Subscribers over a list of prefixes: the most specific one holding an address
// names its customer. Build it with NewPrefixes; it is read-only afterwards.
type Prefixes struct {
	byLen map[int]map[netip.Prefix]string // prefix length → prefix → customer
	lens  []int                           // lengths present, longest first
}

// NewPrefixes returns the subscriber set made of nets.
func NewPrefixes(nets []Network) *Prefixes {
	p := &Prefixes{byLen: map[int]map[netip.Prefix]string{}}
	for _, n := range nets {
		pre := n.Prefix.Masked()
		if pre.Addr().Is4In6() {
			pre = netip.PrefixFrom(pre.Addr().Unmap(), pre.Bits()-96).Masked()
		}
		m := p.byLen[pre.Bits()]
		if m == nil {
			m = map[netip.Prefix]string{}
			p.byLen[pre.Bits()] = m
			p.lens = append(p.lens, pre.Bits())
		}
		m[pre] = n.Customer
	}
	slices.Sort(p.lens)
	slices.Reverse(p.lens)
	return p
}

// Subscriber implements Subscribers.
func (p *Prefixes) Subscriber(a netip.Addr) (string, bool) {
	a = a.Unmap()
	for _, l := range p.lens {
		if l > a.BitLen() {
			continue
		}
		pre, err := a.Prefix(l)
		if err != nil {
			continue
		}
		if c, ok := p.byLen[l][pre]; ok {
			return c, true
		}
	}
	return "", false
}

// LocalRanges is the Subscribers used when the config declares no networks: the private and
// local ranges (RFC 1918, RFC 6598 shared address space, IPv6 unique local), where a carrier's
// or an enterprise's own hosts usually sit. Loopback, link-local and multicast are never
// subscribers.
type LocalRanges struct{}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// Subscriber implements Subscribers.
func (LocalRanges) Subscriber(a netip.Addr) (string, bool) {
	a = a.Unmap()
	return "", a.IsPrivate() || cgnat.Contains(a)
}

// external reports whether a can be a C&C server: a global unicast address.
func external(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && a.IsGlobalUnicast() && !a.IsPrivate() && !cgnat.Contains(a)
}

// HostgroupLookup finds the carrier network holding an address (an *enrich.Networks).
type HostgroupLookup interface {
	Lookup(a netip.Addr) *enrich.Hostgroup
}

// networkSubscribers are the hosts of the configured networks.
type networkSubscribers struct{ n HostgroupLookup }

func (s networkSubscribers) Subscriber(a netip.Addr) (string, bool) {
	if g := s.n.Lookup(a); g != nil {
		return g.Customer, true
	}
	return "", false
}

// FromNetworks is the Subscribers of the config's networks, or LocalRanges when there are none.
func FromNetworks(n HostgroupLookup, configured int) Subscribers {
	if n == nil || configured == 0 {
		return LocalRanges{}
	}
	return networkSubscribers{n}
}
