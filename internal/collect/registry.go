package collect

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"yocho/internal/flow"
)

// protocol is the kind of an export datagram, read from its version field.
type protocol uint8

const (
	protoUnknown protocol = iota
	protoNetFlow5
	protoNetFlow9
	protoIPFIX
	protoSFlow5
	numProtocols
)

var protocolNames = [numProtocols]string{"unknown", "netflow-v5", "netflow-v9", "ipfix", "sflow-v5"}

func (p protocol) String() string { return protocolNames[p] }

// maxRatesKept bounds the distinct sampling rates remembered per exporter and reader.
const maxRatesKept = 32

// counters are one exporter's figures as seen by one reader. The reader that owns them is the
// only writer; snapshots read them concurrently: numbers through atomics, the rest under mu.
type counters struct {
	packets     [numProtocols]atomic.Uint64 // export datagrams
	flows       atomic.Uint64
	bytes       atomic.Uint64 // scaled by the sampling rate applied
	flowPackets atomic.Uint64 // scaled by the sampling rate applied
	unknownRate atomic.Uint64 // flows given the default rate
	lastSeenMs  atomic.Int64

	lastRate uint32 // owner only: the last rate noted, to skip the lock while it repeats

	mu     sync.Mutex
	errors map[string]uint64 // decode errors by reason
	rates  []uint32          // distinct sampling rates applied, at most maxRatesKept
}

func (c *counters) addError(reason string) {
	c.mu.Lock()
	if c.errors == nil {
		c.errors = make(map[string]uint64)
	}
	c.errors[reason]++
	c.mu.Unlock()
}

func (c *counters) noteRate(rate uint32) {
	if rate == c.lastRate {
		return
	}
	c.lastRate = rate
	c.mu.Lock()
	if !slices.Contains(c.rates, rate) && len(c.rates) < maxRatesKept {
		c.rates = append(c.rates, rate)
	}
	c.mu.Unlock()
}

// table is one reader's counters by exporter. Only the owning reader adds entries, under mu;
// it reads the map without the lock, snapshots read it under the read lock.
type table struct {
	mu       sync.RWMutex
	m        map[netip.Addr]*counters
	max      int
	overflow counters // exporters beyond max, together
}

// get returns the counters of exporter a, adding them if there is room. Owner only.
func (t *table) get(a netip.Addr) *counters {
	if c, ok := t.m[a]; ok {
		return c
	}
	if len(t.m) >= t.max {
		return &t.overflow
	}
	c := &counters{}
	t.mu.Lock()
	t.m[a] = c
	t.mu.Unlock()
	return c
}

// Exporter is what the collector knows of one exporter: its figures summed over every reader,
// and what the decoders know of it.
type Exporter struct {
	// Address is the exporter's address: the UDP source for NetFlow and IPFIX, the agent address
	// for sFlow. It is the zero Addr for Overflow.
	Address netip.Addr
	// Overflow marks the entry that sums the exporters seen after Config.MaxExporters was reached.
	Overflow bool

	Packets           uint64            // export datagrams received
	PacketsByProtocol map[string]uint64 // export datagrams by protocol ("netflow-v5", "netflow-v9", "ipfix", "sflow-v5", "unknown")
	Flows             uint64            // flow records handed to consumers
	Bytes             uint64            // bytes of those flows, scaled by their sampling rate
	FlowPackets       uint64            // packets of those flows, scaled by their sampling rate
	UnknownSampling   uint64            // flows that had no rate and got the default one
	Errors            map[string]uint64 // datagrams rejected in whole or in part, by reason

	SamplingRates          []uint32 // distinct rates applied to the flows, ascending
	AnnouncedSamplingRates []uint32 // distinct rates the exporter announced (decoder), ascending
	SequenceLost           uint64   // export loss estimated from sequence numbers (decoder)
	Templates              int      // templates known (decoder)
	Pending                int      // records waiting for their template (decoder)
	PendingLost            uint64   // records dropped because their template never came (decoder)

	Versions []string  // protocols seen: netflow-v5, netflow-v9, ipfix, sflow-v5, in this order
	LastSeen time.Time // last datagram, UTC
}

// registry sums the readers' tables on demand.
type registry struct {
	max      int
	decoders [numProtocols]flow.Decoder

	mu     sync.Mutex
	tables []*table
}

func (r *registry) newTable() *table {
	t := &table{m: make(map[netip.Addr]*counters), max: r.max}
	r.mu.Lock()
	r.tables = append(r.tables, t)
	r.mu.Unlock()
	return t
}

// merged accumulates one exporter's counters over the tables.
type merged struct {
	packets     [numProtocols]uint64
	flows       uint64
	bytes       uint64
	flowPackets uint64
	unknownRate uint64
	lastSeenMs  int64
	errors      map[string]uint64
	rates       []uint32
}

func (m *merged) add(c *counters) {
	for p := range m.packets {
		m.packets[p] += c.packets[p].Load()
	}
	m.flows += c.flows.Load()
	m.bytes += c.bytes.Load()
	m.flowPackets += c.flowPackets.Load()
	m.unknownRate += c.unknownRate.Load()
	m.lastSeenMs = max(m.lastSeenMs, c.lastSeenMs.Load())
	c.mu.Lock()
	for k, v := range c.errors {
		if m.errors == nil {
			m.errors = make(map[string]uint64)
		}
		m.errors[k] += v
	}
	for _, r := range c.rates {
		if !slices.Contains(m.rates, r) {
			m.rates = append(m.rates, r)
		}
	}
	c.mu.Unlock()
}

// exporters returns every exporter seen, ordered by address, the overflow entry last.
func (r *registry) exporters() []Exporter {
	sums := make(map[netip.Addr]*merged)
	var overflow merged
	r.mu.Lock()
	tables := slices.Clone(r.tables)
	r.mu.Unlock()
	for _, t := range tables {
		t.mu.RLock()
		for a, c := range t.m {
			m := sums[a]
			if m == nil {
				m = &merged{}
				sums[a] = m
			}
			m.add(c)
		}
		t.mu.RUnlock()
		overflow.add(&t.overflow)
	}
	out := make([]Exporter, 0, len(sums)+1)
	for a, m := range sums {
		out = append(out, r.exporter(a, m))
	}
	slices.SortFunc(out, func(x, y Exporter) int { return x.Address.Compare(y.Address) })
	if overflow.lastSeenMs != 0 {
		e := r.exporter(netip.Addr{}, &overflow)
		e.Overflow = true
		out = append(out, e)
	}
	return out
}

func (r *registry) exporter(a netip.Addr, m *merged) Exporter {
	e := Exporter{
		Address:           a,
		PacketsByProtocol: make(map[string]uint64),
		Flows:             m.flows,
		Bytes:             m.bytes,
		FlowPackets:       m.flowPackets,
		UnknownSampling:   m.unknownRate,
		Errors:            m.errors,
		SamplingRates:     m.rates,
		LastSeen:          time.UnixMilli(m.lastSeenMs).UTC(),
	}
	if e.Errors == nil {
		e.Errors = map[string]uint64{}
	}
	slices.Sort(e.SamplingRates)
	var asked [numProtocols]bool // a decoder is asked once even if it serves several protocols
	for p, n := range m.packets {
		if n == 0 {
			continue
		}
		e.Packets += n
		e.PacketsByProtocol[protocol(p).String()] = n
		if protocol(p) != protoUnknown {
			e.Versions = append(e.Versions, protocol(p).String())
		}
		d := r.decoders[p]
		if d == nil || !a.IsValid() || askedBefore(r.decoders[:], asked[:], p) {
			continue
		}
		asked[p] = true
		st := d.ExporterState(a)
		e.SequenceLost += st.SequenceLost
		e.Templates += st.Templates
		e.Pending += st.Pending
		e.PendingLost += st.PendingLost
		for _, rate := range st.SamplingRates {
			if !slices.Contains(e.AnnouncedSamplingRates, rate) {
				e.AnnouncedSamplingRates = append(e.AnnouncedSamplingRates, rate)
			}
		}
	}
	slices.Sort(e.AnnouncedSamplingRates)
	return e
}

// askedBefore reports whether decoder p was already asked under another protocol.
func askedBefore(decs []flow.Decoder, asked []bool, p int) bool {
	for q := range p {
		if asked[q] && decs[q] == decs[p] {
			return true
		}
	}
	return false
}
