// Package flow is the flow record that every part of yocho shares, and the columnar Batch in which
// records travel from the decoders to the store and the detectors.
//
// A decoder fills a Record on its stack and appends it to a Batch; consumers read the Batch's
// columns directly. Batches come from a Pool and go back to it once every consumer has returned:
// a consumer must not keep a Batch, or a slice of one, after its Consume call returns.
package flow

import (
	"net/netip"
	"sync"
)

// Direction of a flow as the exporter saw it (IPFIX IE 61).
const (
	DirectionUnknown uint8 = 0
	DirectionIngress uint8 = 1
	DirectionEgress  uint8 = 2
)

// Record is one flow as exported, whatever the protocol. Times are UTC milliseconds since the Unix
// epoch. Bytes and Packets are as exported; multiply by SamplingRate for the true volume (see
// ScaledBytes and ScaledPackets). A zero SamplingRate means the rate is not known yet: the collector
// sets it from the exporter's announced rate, an override, or the default before anyone sees it.
type Record struct {
	ReceivedMs   int64 // when the collector received the export
	StartMs      int64 // first packet of the flow
	EndMs        int64 // last packet of the flow
	Exporter     netip.Addr
	ObsDomain    uint32 // NetFlow v9 source id, IPFIX observation domain, sFlow source id
	SamplerID    uint32 // sampler id (IE 48/302) when the exporter names one
	SamplingRate uint32 // 1 in N packets; 0 = unknown

	InIf  uint32
	OutIf uint32

	SrcAddr  netip.Addr
	DstAddr  netip.Addr
	NextHop  netip.Addr
	SrcPort  uint16
	DstPort  uint16
	Proto    uint8
	TCPFlags uint8
	ToS      uint8
	ICMPType uint8
	ICMPCode uint8

	Bytes   uint64 // as exported (sampled)
	Packets uint64 // as exported (sampled)

	SrcAS   uint32
	DstAS   uint32
	SrcMask uint8
	DstMask uint8

	VLAN             uint16
	Direction        uint8  // DirectionUnknown, DirectionIngress or DirectionEgress
	ForwardingStatus uint8  // IPFIX IE 89
	MPLSLabel        uint32 // top label, 20 bits

	// Set by enrichment (internal/enrich), empty when unknown: the name of the most specific
	// configured network (hostgroup) holding each address, and the ISO 3166 alpha-2 code of the
	// country a geolocation database places it in.
	SrcHostgroup string
	DstHostgroup string
	SrcCountry   string
	DstCountry   string
}

// ScaledBytes is the flow's byte count multiplied by its sampling rate (a rate of 0 counts as 1).
func (r *Record) ScaledBytes() uint64 { return r.Bytes * rate(r.SamplingRate) }

// ScaledPackets is the flow's packet count multiplied by its sampling rate (0 counts as 1).
func (r *Record) ScaledPackets() uint64 { return r.Packets * rate(r.SamplingRate) }

func rate(r uint32) uint64 {
	if r == 0 {
		return 1
	}
	return uint64(r)
}

// Batch holds records column by column: field f of record i is Batch.F[i], for i < Len().
// Every column has the same length. Once handed to consumers a Batch is read-only.
type Batch struct {
	ReceivedMs       []int64
	StartMs          []int64
	EndMs            []int64
	Exporter         []netip.Addr
	ObsDomain        []uint32
	SamplerID        []uint32
	SamplingRate     []uint32
	InIf             []uint32
	OutIf            []uint32
	SrcAddr          []netip.Addr
	DstAddr          []netip.Addr
	NextHop          []netip.Addr
	SrcPort          []uint16
	DstPort          []uint16
	Proto            []uint8
	TCPFlags         []uint8
	ToS              []uint8
	ICMPType         []uint8
	ICMPCode         []uint8
	Bytes            []uint64
	Packets          []uint64
	SrcAS            []uint32
	DstAS            []uint32
	SrcMask          []uint8
	DstMask          []uint8
	VLAN             []uint16
	Direction        []uint8
	ForwardingStatus []uint8
	MPLSLabel        []uint32
	SrcHostgroup     []string // set by enrichment; the strings are shared, never copied per flow
	DstHostgroup     []string
	SrcCountry       []string
	DstCountry       []string
	// SrcGroup and DstGroup are set by enrichment, for the whole batch at once: the index+1 of
	// the address's hostgroup among those of Groups, the networks enrichment was given (0: none
	// of them). They are not records' fields: Append and AppendBatch leave them, Truncate drops
	// them, and a reader uses them only when they are as long as the batch and of its own networks.
	SrcGroup, DstGroup []int32
	Groups             any
}

// NewBatch returns an empty batch with room for capacity records.
func NewBatch(capacity int) *Batch {
	b := &Batch{}
	b.grow(capacity)
	return b
}

func (b *Batch) grow(n int) {
	b.ReceivedMs = make([]int64, 0, n)
	b.StartMs = make([]int64, 0, n)
	b.EndMs = make([]int64, 0, n)
	b.Exporter = make([]netip.Addr, 0, n)
	b.ObsDomain = make([]uint32, 0, n)
	b.SamplerID = make([]uint32, 0, n)
	b.SamplingRate = make([]uint32, 0, n)
	b.InIf = make([]uint32, 0, n)
	b.OutIf = make([]uint32, 0, n)
	b.SrcAddr = make([]netip.Addr, 0, n)
	b.DstAddr = make([]netip.Addr, 0, n)
	b.NextHop = make([]netip.Addr, 0, n)
	b.SrcPort = make([]uint16, 0, n)
	b.DstPort = make([]uint16, 0, n)
	b.Proto = make([]uint8, 0, n)
	b.TCPFlags = make([]uint8, 0, n)
	b.ToS = make([]uint8, 0, n)
	b.ICMPType = make([]uint8, 0, n)
	b.ICMPCode = make([]uint8, 0, n)
	b.Bytes = make([]uint64, 0, n)
	b.Packets = make([]uint64, 0, n)
	b.SrcAS = make([]uint32, 0, n)
	b.DstAS = make([]uint32, 0, n)
	b.SrcMask = make([]uint8, 0, n)
	b.DstMask = make([]uint8, 0, n)
	b.VLAN = make([]uint16, 0, n)
	b.Direction = make([]uint8, 0, n)
	b.ForwardingStatus = make([]uint8, 0, n)
	b.MPLSLabel = make([]uint32, 0, n)
	b.SrcHostgroup = make([]string, 0, n)
	b.DstHostgroup = make([]string, 0, n)
	b.SrcCountry = make([]string, 0, n)
	b.DstCountry = make([]string, 0, n)
}

// Len is the number of records in the batch.
func (b *Batch) Len() int { return len(b.ReceivedMs) }

// Cap is the number of records the batch holds before its columns grow.
func (b *Batch) Cap() int { return cap(b.ReceivedMs) }

// Reset empties the batch, keeping its memory.
func (b *Batch) Reset() { b.Truncate(0) }

// Truncate keeps the first n records.
func (b *Batch) Truncate(n int) {
	b.ReceivedMs = b.ReceivedMs[:n]
	b.StartMs = b.StartMs[:n]
	b.EndMs = b.EndMs[:n]
	b.Exporter = b.Exporter[:n]
	b.ObsDomain = b.ObsDomain[:n]
	b.SamplerID = b.SamplerID[:n]
	b.SamplingRate = b.SamplingRate[:n]
	b.InIf = b.InIf[:n]
	b.OutIf = b.OutIf[:n]
	b.SrcAddr = b.SrcAddr[:n]
	b.DstAddr = b.DstAddr[:n]
	b.NextHop = b.NextHop[:n]
	b.SrcPort = b.SrcPort[:n]
	b.DstPort = b.DstPort[:n]
	b.Proto = b.Proto[:n]
	b.TCPFlags = b.TCPFlags[:n]
	b.ToS = b.ToS[:n]
	b.ICMPType = b.ICMPType[:n]
	b.ICMPCode = b.ICMPCode[:n]
	b.Bytes = b.Bytes[:n]
	b.Packets = b.Packets[:n]
	b.SrcAS = b.SrcAS[:n]
	b.DstAS = b.DstAS[:n]
	b.SrcMask = b.SrcMask[:n]
	b.DstMask = b.DstMask[:n]
	b.VLAN = b.VLAN[:n]
	b.Direction = b.Direction[:n]
	b.ForwardingStatus = b.ForwardingStatus[:n]
	b.MPLSLabel = b.MPLSLabel[:n]
	b.SrcHostgroup = b.SrcHostgroup[:n]
	b.DstHostgroup = b.DstHostgroup[:n]
	b.SrcCountry = b.SrcCountry[:n]
	b.DstCountry = b.DstCountry[:n]
	b.SrcGroup, b.DstGroup, b.Groups = b.SrcGroup[:0], b.DstGroup[:0], nil
}

// Append adds one record at the end of the batch. It allocates only when the batch is full.
func (b *Batch) Append(r *Record) {
	b.ReceivedMs = append(b.ReceivedMs, r.ReceivedMs)
	b.StartMs = append(b.StartMs, r.StartMs)
	b.EndMs = append(b.EndMs, r.EndMs)
	b.Exporter = append(b.Exporter, r.Exporter)
	b.ObsDomain = append(b.ObsDomain, r.ObsDomain)
	b.SamplerID = append(b.SamplerID, r.SamplerID)
	b.SamplingRate = append(b.SamplingRate, r.SamplingRate)
	b.InIf = append(b.InIf, r.InIf)
	b.OutIf = append(b.OutIf, r.OutIf)
	b.SrcAddr = append(b.SrcAddr, r.SrcAddr)
	b.DstAddr = append(b.DstAddr, r.DstAddr)
	b.NextHop = append(b.NextHop, r.NextHop)
	b.SrcPort = append(b.SrcPort, r.SrcPort)
	b.DstPort = append(b.DstPort, r.DstPort)
	b.Proto = append(b.Proto, r.Proto)
	b.TCPFlags = append(b.TCPFlags, r.TCPFlags)
	b.ToS = append(b.ToS, r.ToS)
	b.ICMPType = append(b.ICMPType, r.ICMPType)
	b.ICMPCode = append(b.ICMPCode, r.ICMPCode)
	b.Bytes = append(b.Bytes, r.Bytes)
	b.Packets = append(b.Packets, r.Packets)
	b.SrcAS = append(b.SrcAS, r.SrcAS)
	b.DstAS = append(b.DstAS, r.DstAS)
	b.SrcMask = append(b.SrcMask, r.SrcMask)
	b.DstMask = append(b.DstMask, r.DstMask)
	b.VLAN = append(b.VLAN, r.VLAN)
	b.Direction = append(b.Direction, r.Direction)
	b.ForwardingStatus = append(b.ForwardingStatus, r.ForwardingStatus)
	b.MPLSLabel = append(b.MPLSLabel, r.MPLSLabel)
	b.SrcHostgroup = append(b.SrcHostgroup, r.SrcHostgroup)
	b.DstHostgroup = append(b.DstHostgroup, r.DstHostgroup)
	b.SrcCountry = append(b.SrcCountry, r.SrcCountry)
	b.DstCountry = append(b.DstCountry, r.DstCountry)
}

// Record copies record i out of the batch.
func (b *Batch) Record(i int) Record {
	return Record{
		ReceivedMs:       b.ReceivedMs[i],
		StartMs:          b.StartMs[i],
		EndMs:            b.EndMs[i],
		Exporter:         b.Exporter[i],
		ObsDomain:        b.ObsDomain[i],
		SamplerID:        b.SamplerID[i],
		SamplingRate:     b.SamplingRate[i],
		InIf:             b.InIf[i],
		OutIf:            b.OutIf[i],
		SrcAddr:          b.SrcAddr[i],
		DstAddr:          b.DstAddr[i],
		NextHop:          b.NextHop[i],
		SrcPort:          b.SrcPort[i],
		DstPort:          b.DstPort[i],
		Proto:            b.Proto[i],
		TCPFlags:         b.TCPFlags[i],
		ToS:              b.ToS[i],
		ICMPType:         b.ICMPType[i],
		ICMPCode:         b.ICMPCode[i],
		Bytes:            b.Bytes[i],
		Packets:          b.Packets[i],
		SrcAS:            b.SrcAS[i],
		DstAS:            b.DstAS[i],
		SrcMask:          b.SrcMask[i],
		DstMask:          b.DstMask[i],
		VLAN:             b.VLAN[i],
		Direction:        b.Direction[i],
		ForwardingStatus: b.ForwardingStatus[i],
		MPLSLabel:        b.MPLSLabel[i],
		SrcHostgroup:     b.SrcHostgroup[i],
		DstHostgroup:     b.DstHostgroup[i],
		SrcCountry:       b.SrcCountry[i],
		DstCountry:       b.DstCountry[i],
	}
}

// AppendBatch appends every record of src to b.
func (b *Batch) AppendBatch(src *Batch) {
	b.ReceivedMs = append(b.ReceivedMs, src.ReceivedMs...)
	b.StartMs = append(b.StartMs, src.StartMs...)
	b.EndMs = append(b.EndMs, src.EndMs...)
	b.Exporter = append(b.Exporter, src.Exporter...)
	b.ObsDomain = append(b.ObsDomain, src.ObsDomain...)
	b.SamplerID = append(b.SamplerID, src.SamplerID...)
	b.SamplingRate = append(b.SamplingRate, src.SamplingRate...)
	b.InIf = append(b.InIf, src.InIf...)
	b.OutIf = append(b.OutIf, src.OutIf...)
	b.SrcAddr = append(b.SrcAddr, src.SrcAddr...)
	b.DstAddr = append(b.DstAddr, src.DstAddr...)
	b.NextHop = append(b.NextHop, src.NextHop...)
	b.SrcPort = append(b.SrcPort, src.SrcPort...)
	b.DstPort = append(b.DstPort, src.DstPort...)
	b.Proto = append(b.Proto, src.Proto...)
	b.TCPFlags = append(b.TCPFlags, src.TCPFlags...)
	b.ToS = append(b.ToS, src.ToS...)
	b.ICMPType = append(b.ICMPType, src.ICMPType...)
	b.ICMPCode = append(b.ICMPCode, src.ICMPCode...)
	b.Bytes = append(b.Bytes, src.Bytes...)
	b.Packets = append(b.Packets, src.Packets...)
	b.SrcAS = append(b.SrcAS, src.SrcAS...)
	b.DstAS = append(b.DstAS, src.DstAS...)
	b.SrcMask = append(b.SrcMask, src.SrcMask...)
	b.DstMask = append(b.DstMask, src.DstMask...)
	b.VLAN = append(b.VLAN, src.VLAN...)
	b.Direction = append(b.Direction, src.Direction...)
	b.ForwardingStatus = append(b.ForwardingStatus, src.ForwardingStatus...)
	b.MPLSLabel = append(b.MPLSLabel, src.MPLSLabel...)
	b.SrcHostgroup = append(b.SrcHostgroup, src.SrcHostgroup...)
	b.DstHostgroup = append(b.DstHostgroup, src.DstHostgroup...)
	b.SrcCountry = append(b.SrcCountry, src.SrcCountry...)
	b.DstCountry = append(b.DstCountry, src.DstCountry...)
}

// ScaledBytes is record i's byte count multiplied by its sampling rate (0 counts as 1).
func (b *Batch) ScaledBytes(i int) uint64 { return b.Bytes[i] * rate(b.SamplingRate[i]) }

// ScaledPackets is record i's packet count multiplied by its sampling rate (0 counts as 1).
func (b *Batch) ScaledPackets(i int) uint64 { return b.Packets[i] * rate(b.SamplingRate[i]) }

// DefaultBatchSize is the number of records a pooled batch is made for.
const DefaultBatchSize = 4096

// Pool recycles batches so that the steady state allocates nothing.
type Pool struct{ p sync.Pool }

// Get returns an empty batch.
func (p *Pool) Get() *Batch {
	if b, ok := p.p.Get().(*Batch); ok {
		return b
	}
	return NewBatch(DefaultBatchSize)
}

// Put returns a batch to the pool. The caller must not use it afterwards.
func (p *Pool) Put(b *Batch) {
	b.Reset()
	p.p.Put(b)
}

// Consumer receives decoded batches. Consume must not keep b, or any slice of it, after it
// returns, and must not block for long: a slow consumer copies what it needs and queues it.
type Consumer interface {
	Consume(b *Batch)
}
