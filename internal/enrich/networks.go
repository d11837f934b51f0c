// Package enrich tells what an address is to the carrier: which of its own networks (hostgroups)
// holds it, with the group's customer, criticality and DDoS thresholds. Its data comes from the
// networks section of the configuration; the detectors ask it for every flow's addresses.
package enrich

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"yocho/internal/config"
)

// Kind is a kind of traffic a threshold can bound. KindTotal is all traffic; the others are parts
// of it, and a flow can belong to several (UDP and DNS, TCP and TCP SYN).
type Kind uint8

// Kinds of traffic, in the order of config.ThresholdKinds after KindTotal.
const (
	KindTotal Kind = iota
	KindTCP
	KindTCPSyn
	KindUDP
	KindICMP
	KindFragments
	KindDNS
	KindNTP
	KindMemcached
	KindSSDP
	KindCLDAP
	KindChargen
	KindWSD
	NumKinds
)

// FirstAmplification is the first amplification vector kind; every kind from it on is one.
const FirstAmplification = KindDNS

// String is the kind's name as thresholds spell it ("total" for KindTotal).
func (k Kind) String() string {
	if k == KindTotal {
		return "total"
	}
	if k < NumKinds {
		return config.ThresholdKinds()[k-1]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Metric is a per-second measure: bits, packets or flows per second.
type Metric uint8

// Metrics, in the order of config.ThresholdMetrics.
const (
	MetricBps Metric = iota
	MetricPps
	MetricFlows
	NumMetrics
)

// String is the metric's name as thresholds spell it.
func (m Metric) String() string {
	if m < NumMetrics {
		return config.ThresholdMetrics()[m]
	}
	return fmt.Sprintf("metric(%d)", uint8(m))
}

// Thresholds are per-second limits by kind and metric; 0 means no limit.
type Thresholds [NumKinds][NumMetrics]float64

// Key is the configuration key of a kind and metric ("bps", "udp_pps").
func Key(k Kind, m Metric) string {
	if k == KindTotal {
		return m.String()
	}
	return k.String() + "_" + m.String()
}

// Hostgroup is one network of the carrier with its settings resolved: what it omits comes from its
// parent, then from the detection defaults. Once built it is never modified.
type Hostgroup struct {
	Index       int // position in Networks.Groups
	Prefix      netip.Prefix
	Name        string
	Customer    string
	Criticality string // low, medium or high
	Parent      *Hostgroup
	// Host bounds each host's traffic; Carpet bounds a whole /24 or /64 of the group.
	Host, Carpet Thresholds
}

// segment is a run of addresses whose most specific network is group.
type segment struct {
	first, last addr128
	group       *Hostgroup
}

// Networks finds the hostgroup of an address. It is read-only once built, so safe for concurrent
// use.
type Networks struct {
	groups   []*Hostgroup
	segments []segment // sorted, disjoint
	// v4any has a bit set for each IPv4 /16 that holds some network: most addresses outside our
	// networks are rejected with one load.
	v4any [1 << 16 / 64]uint64
	hasV6 bool
}

// NewNetworks builds the lookup table from the configured networks and the detection defaults.
func NewNetworks(nets config.Networks, ddos config.DDoS) (*Networks, error) {
	n := &Networks{}
	byName := map[string]int{}
	for i, c := range nets {
		if !c.Prefix.IsValid() {
			return nil, fmt.Errorf("networks[%d]: no prefix", i)
		}
		name := c.Name
		if name == "" {
			name = c.Prefix.String()
		}
		if c.Name != "" {
			byName[c.Name] = i
		}
		n.groups = append(n.groups, &Hostgroup{Index: i, Prefix: c.Prefix.Masked(), Name: name, Customer: c.Customer})
	}
	// Parents: the named one, else the nearest enclosing prefix.
	for i, c := range nets {
		g := n.groups[i]
		if c.Parent != "" {
			j, ok := byName[c.Parent]
			if !ok {
				return nil, fmt.Errorf("networks[%d].parent: no network is named %q", i, c.Parent)
			}
			g.Parent = n.groups[j]
			continue
		}
		for _, o := range n.groups {
			if o != g && o.Prefix.Bits() < g.Prefix.Bits() && o.Prefix.Contains(g.Prefix.Addr()) &&
				(g.Parent == nil || o.Prefix.Bits() > g.Parent.Prefix.Bits()) {
				g.Parent = o
			}
		}
	}
	// Resolve settings parents first; a cycle would never finish, so it is refused.
	done := make([]bool, len(nets))
	var resolve func(i int, depth int) error
	resolve = func(i, depth int) error {
		if done[i] {
			return nil
		}
		if depth > len(nets) {
			return fmt.Errorf("networks[%d]: parents form a cycle", i)
		}
		g, c := n.groups[i], nets[i]
		host, carpet := fromConfig(ddos.Thresholds), fromConfig(ddos.PrefixThresholds)
		crit := "medium"
		if g.Parent != nil {
			pi := slices.Index(n.groups, g.Parent)
			if err := resolve(pi, depth+1); err != nil {
				return err
			}
			host, carpet, crit = g.Parent.Host, g.Parent.Carpet, g.Parent.Criticality
		}
		overlay(&host, c.Thresholds)
		overlay(&carpet, c.PrefixThresholds)
		if c.Criticality != "" {
			crit = c.Criticality
		}
		g.Host, g.Carpet, g.Criticality = host, carpet, crit
		done[i] = true
		return nil
	}
	for i := range nets {
		if err := resolve(i, 0); err != nil {
			return nil, err
		}
	}
	n.buildSegments()
	return n, nil
}

// DefaultThresholds are the detection defaults as Thresholds, for traffic outside any network.
func DefaultThresholds(ddos config.DDoS) (host, carpet Thresholds) {
	return fromConfig(ddos.Thresholds), fromConfig(ddos.PrefixThresholds)
}

func fromConfig(t config.Thresholds) Thresholds {
	var out Thresholds
	overlay(&out, t)
	return out
}

// overlay sets the thresholds t names over out.
func overlay(out *Thresholds, t config.Thresholds) {
	for key, v := range t {
		kind, metric, ok := config.SplitThresholdKey(key)
		if !ok {
			continue // config validation refuses these
		}
		k := KindTotal
		if kind != "" {
			k = Kind(slices.Index(config.ThresholdKinds(), kind) + 1)
		}
		out[k][slices.Index(config.ThresholdMetrics(), metric)] = float64(v)
	}
}

// buildSegments flattens the nested prefixes into disjoint runs, each with its most specific
// group: prefixes sorted by first address (less specific first) nest like parentheses.
func (n *Networks) buildSegments() {
	type span struct {
		first, last addr128
		g           *Hostgroup
	}
	spans := make([]span, 0, len(n.groups))
	for _, g := range n.groups {
		f, l := prefixRange(g.Prefix)
		spans = append(spans, span{f, l, g})
		if g.Prefix.Addr().Is4() {
			a := g.Prefix.Addr().As4()
			lo := uint32(a[0])<<8 | uint32(a[1])
			hi := lo
			if g.Prefix.Bits() < 16 {
				hi = lo | (1<<(16-g.Prefix.Bits()) - 1)
			}
			for x := lo; x <= hi; x++ {
				n.v4any[x/64] |= 1 << (x % 64)
			}
		} else {
			n.hasV6 = true
		}
	}
	slices.SortFunc(spans, func(a, b span) int {
		if c := a.first.cmp(b.first); c != 0 {
			return c
		}
		return cmp.Compare(a.g.Prefix.Bits(), b.g.Prefix.Bits())
	})
	var stack []span
	var cursor addr128
	emit := func(first, last addr128, g *Hostgroup) {
		if first.cmp(last) <= 0 {
			n.segments = append(n.segments, segment{first, last, g})
		}
	}
	closeTop := func() {
		top := stack[len(stack)-1]
		emit(cursor, top.last, top.g)
		cursor = top.last.next()
		stack = stack[:len(stack)-1]
	}
	for _, s := range spans {
		for len(stack) > 0 && stack[len(stack)-1].last.cmp(s.first) < 0 {
			closeTop()
		}
		if len(stack) > 0 {
			emit(cursor, s.first.prev(), stack[len(stack)-1].g)
		}
		cursor = s.first
		stack = append(stack, s)
	}
	for len(stack) > 0 {
		closeTop()
	}
}

// Lookup returns the most specific network holding a, or nil when a is not ours.
func (n *Networks) Lookup(a netip.Addr) *Hostgroup {
	if a.Is4In6() {
		a = a.Unmap()
	}
	if a.Is4() {
		b := a.As4()
		x := uint32(b[0])<<8 | uint32(b[1])
		if n.v4any[x/64]&(1<<(x%64)) == 0 {
			return nil
		}
	} else if !n.hasV6 {
		return nil
	}
	k := toAddr128(a)
	segs := n.segments
	lo, hi := 0, len(segs)
	for lo < hi { // first segment whose last >= k
		mid := int(uint(lo+hi) >> 1)
		if segs[mid].last.cmp(k) < 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(segs) && segs[lo].first.cmp(k) <= 0 {
		return segs[lo].group
	}
	return nil
}

// Groups lists every hostgroup, in the configuration's order.
func (n *Networks) Groups() []*Hostgroup { return n.groups }

// addr128 is an address as a 128-bit number; IPv4 addresses are IPv4-mapped.
type addr128 struct{ hi, lo uint64 }

func toAddr128(a netip.Addr) addr128 {
	b := a.As16()
	var x addr128
	for i := 0; i < 8; i++ {
		x.hi = x.hi<<8 | uint64(b[i])
		x.lo = x.lo<<8 | uint64(b[8+i])
	}
	return x
}

func (x addr128) cmp(y addr128) int {
	if c := cmp.Compare(x.hi, y.hi); c != 0 {
		return c
	}
	return cmp.Compare(x.lo, y.lo)
}

func (x addr128) next() addr128 {
	x.lo++
	if x.lo == 0 {
		x.hi++
	}
	return x
}

func (x addr128) prev() addr128 {
	if x.lo == 0 {
		x.hi--
	}
	x.lo--
	return x
}

// prefixRange is the first and last address of p, as 128-bit numbers.
func prefixRange(p netip.Prefix) (first, last addr128) {
	first = toAddr128(p.Masked().Addr())
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	host := 128 - bits
	last = first
	switch {
	case host >= 64:
		last.lo = ^uint64(0)
		if host > 64 {
			last.hi |= 1<<(host-64) - 1
		}
		if host == 128 {
			last.hi = ^uint64(0)
		}
	case host > 0:
		last.lo |= 1<<host - 1
	}
	return first, last
}
