package sflow

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"yocho/internal/flow"
)

const (
	maxSubAgents = 64 // sub-agents whose sequence numbers are followed, per agent
	maxRates     = 32 // distinct sampling rates remembered, per agent
	// A datagram whose sequence number goes back, sent less than this much agent uptime before
	// the latest one, arrived late; going back further is a restart.
	lateUptimeMs = 60_000
	pruneEveryMs = 60_000
)

// agentState is what the decoder keeps of one agent (one Record.Exporter value). Its fields are
// guarded by mu; the pointer itself lives in Decoder.agents until pruned.
type agentState struct {
	mu       sync.Mutex
	lastMs   int64
	subs     []sequenceState
	lost     uint64
	rates    []uint32 // ascending
	counters map[uint32]*InterfaceCounters
}

type sequenceState struct {
	subAgent uint32
	sequence uint32
	uptimeMs uint32
}

// InterfaceCounters are the latest generic interface counters (sFlow counter record 1) that an
// agent sent for one interface.
type InterfaceCounters struct {
	IfIndex     uint32
	IfType      uint32 // IANAifType
	Speed       uint64 // bits per second
	AdminUp     bool
	OperUp      bool
	InOctets    uint64
	InPackets   uint64 // unicast + multicast + broadcast
	InErrors    uint32
	InDiscards  uint32
	OutOctets   uint64
	OutPackets  uint64 // unicast + multicast + broadcast
	OutErrors   uint32
	OutDiscards uint32
	UpdatedMs   int64 // when the counter sample was received
}

// state returns the state of agent, creating it if the table has room; nil otherwise.
func (d *Decoder) state(agent netip.Addr, nowMs int64) *agentState {
	d.mu.RLock()
	st := d.agents[agent]
	d.mu.RUnlock()
	if st != nil {
		return st
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if st = d.agents[agent]; st != nil {
		return st
	}
	if len(d.agents) >= d.cfg.MaxAgents {
		d.pruneLocked(nowMs)
		if len(d.agents) >= d.cfg.MaxAgents {
			d.m.agentsFull.Inc()
			return nil
		}
	}
	st = &agentState{lastMs: nowMs}
	d.agents[agent] = st
	return st
}

// pruneLocked forgets agents idle for longer than AgentIdle, at most once a minute.
func (d *Decoder) pruneLocked(nowMs int64) {
	if nowMs-d.lastPrune < pruneEveryMs && d.lastPrune != 0 {
		return
	}
	d.lastPrune = nowMs
	idle := d.cfg.AgentIdle.Milliseconds()
	for a, st := range d.agents {
		st.mu.Lock()
		old := nowMs-st.lastMs > idle
		st.mu.Unlock()
		if old {
			delete(d.agents, a)
		}
	}
}

// updateStateOf records what a datagram's header and samples said: its sequence number and the
// sampling rates seen. st may be nil (table full).
func (d *Decoder) updateStateOf(st *agentState, di *datagramInfo, nowMs int64) {
	if st == nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if nowMs > st.lastMs {
		st.lastMs = nowMs
	}
	st.lost += d.observeSequence(st, di.subAgent, di.sequence, di.uptimeMs)
	for _, r := range di.rates[:di.nRates] {
		if i, found := slices.BinarySearch(st.rates, r); !found && len(st.rates) < maxRates {
			st.rates = slices.Insert(st.rates, i, r)
		}
	}
}

// observeSequence returns how many datagrams of sub-agent sub went missing before seq. A
// sequence number that goes back with the uptime (or jumps too far ahead) is a restart, not loss;
// one that goes back a little while the uptime does not is a late datagram.
func (d *Decoder) observeSequence(st *agentState, sub, seq, uptime uint32) uint64 {
	var s *sequenceState
	for i := range st.subs {
		if st.subs[i].subAgent == sub {
			s = &st.subs[i]
			break
		}
	}
	if s == nil {
		if len(st.subs) < maxSubAgents {
			st.subs = append(st.subs, sequenceState{subAgent: sub, sequence: seq, uptimeMs: uptime})
		}
		return 0
	}
	gap := seq - s.sequence // modulo 2^32
	uptimeBack := s.uptimeMs - uptime
	restarted := uptime < s.uptimeMs && uptimeBack > lateUptimeMs && s.uptimeMs-uptime < 1<<31
	switch {
	case restarted, gap > d.cfg.MaxSequenceGap && gap < 1<<31:
		s.sequence, s.uptimeMs = seq, uptime
		return 0
	case gap == 0 || gap >= 1<<31:
		return 0 // duplicate or late
	default:
		s.sequence, s.uptimeMs = seq, uptime
		return uint64(gap - 1)
	}
}

// ExporterState reports the datagrams lost by sequence numbers and the sampling rates seen for
// the exporter (an agent address, or a source address; see the package comment).
func (d *Decoder) ExporterState(exporter netip.Addr) flow.ExporterState {
	d.mu.RLock()
	st := d.agents[exporter]
	d.mu.RUnlock()
	if st == nil {
		return flow.ExporterState{}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return flow.ExporterState{SequenceLost: st.lost, SamplingRates: slices.Clone(st.rates)}
}

// Counters returns the latest interface counters of agent (a Record.Exporter value), by
// ascending ifIndex.
func (d *Decoder) Counters(agent netip.Addr) []InterfaceCounters {
	d.mu.RLock()
	st := d.agents[agent]
	d.mu.RUnlock()
	if st == nil {
		return nil
	}
	st.mu.Lock()
	out := make([]InterfaceCounters, 0, len(st.counters))
	for _, c := range st.counters {
		out = append(out, *c)
	}
	st.mu.Unlock()
	slices.SortFunc(out, func(a, b InterfaceCounters) int { return cmp.Compare(a.IfIndex, b.IfIndex) })
	return out
}

// counterSample reads a counter sample (compact or expanded) and keeps its generic interface
// counters. Other counter records are skipped.
func (d *Decoder) counterSample(st *agentState, nowMs int64, expanded bool, b []byte) (string, error) {
	off := 12
	if !expanded {
		off = 8
	}
	if len(b) < off+4 {
		return ReasonBadLength, fmt.Errorf("counter sample of %d bytes", len(b))
	}
	n := be32(b, off)
	b = b[off+4:]
	if uint64(n)*8 > uint64(len(b)) {
		return ReasonBadCount, fmt.Errorf("%d counter records in %d bytes", n, len(b))
	}
	for i := uint32(0); i < n; i++ {
		if len(b) < 8 {
			return ReasonTruncated, fmt.Errorf("counter record %d of %d: %w", i+1, n, errShort)
		}
		format, length := be32(b, 0), be32(b, 4)
		if uint64(length) > uint64(len(b)-8) {
			return ReasonTruncated, fmt.Errorf("counter record %d of %d: length %d, %d bytes left", i+1, n, length, len(b)-8)
		}
		body := b[8 : 8+length]
		b = b[8+length:]
		if format != counterGenericIf {
			d.m.otherRecords.Inc()
			continue
		}
		if len(body) < 88 {
			return ReasonBadLength, fmt.Errorf("generic interface counters of %d bytes", len(body))
		}
		c := InterfaceCounters{
			IfIndex:     be32(body, 0),
			IfType:      be32(body, 4),
			Speed:       be64(body, 8),
			AdminUp:     be32(body, 20)&1 != 0,
			OperUp:      be32(body, 20)&2 != 0,
			InOctets:    be64(body, 24),
			InPackets:   uint64(be32(body, 32)) + uint64(be32(body, 36)) + uint64(be32(body, 40)),
			InDiscards:  be32(body, 44),
			InErrors:    be32(body, 48),
			OutOctets:   be64(body, 56),
			OutPackets:  uint64(be32(body, 64)) + uint64(be32(body, 68)) + uint64(be32(body, 72)),
			OutDiscards: be32(body, 76),
			OutErrors:   be32(body, 80),
			UpdatedMs:   nowMs,
		}
		d.keepCounters(st, &c)
	}
	return "", nil
}

func be64(b []byte, off int) uint64 { return uint64(be32(b, off))<<32 | uint64(be32(b, off+4)) }

func (d *Decoder) keepCounters(st *agentState, c *InterfaceCounters) {
	if st == nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if old := st.counters[c.IfIndex]; old != nil {
		if c.UpdatedMs >= old.UpdatedMs {
			*old = *c
		}
		return
	}
	if st.counters == nil {
		st.counters = make(map[uint32]*InterfaceCounters)
	}
	if len(st.counters) >= d.cfg.MaxInterfacesPerAgent {
		d.m.ifacesFull.Inc()
		return
	}
	cc := *c
	st.counters[c.IfIndex] = &cc
}

// agentCount is the number of agents whose state is kept.
func (d *Decoder) agentCount() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.agents)
}
