// Package sflowtest builds sFlow v5 datagrams and the packets they sample, for tests, fuzz seeds
// and benchmarks (ours and the peers' in the bench module). It encodes exactly what it is given,
// wrong counts and lengths included, so that hostile datagrams can be built too.
package sflowtest

import (
	"encoding/binary"
	"net/netip"
)

// Datagram is an sFlow v5 datagram.
type Datagram struct {
	Agent    netip.Addr // invalid: address type 0 (unknown)
	SubAgent uint32
	Sequence uint32
	UptimeMs uint32
	Samples  []Item
	// NumSamples, when not nil, is written instead of len(Samples).
	NumSamples *uint32
}

// Item is a sample or a record: something that encodes itself after its format and length.
type Item interface {
	// Format is the data format word: enterprise << 12 | format.
	Format() uint32
	// AppendBody appends the encoded body, without format and length.
	AppendBody(b []byte) []byte
}

// Bytes encodes the datagram.
func (d *Datagram) Bytes() []byte { return d.AppendTo(nil) }

// AppendTo appends the encoded datagram to b.
func (d *Datagram) AppendTo(b []byte) []byte {
	b = be32(b, 5)
	b = appendAddr(b, d.Agent)
	b = be32(b, d.SubAgent)
	b = be32(b, d.Sequence)
	b = be32(b, d.UptimeMs)
	b = be32(b, count(d.NumSamples, len(d.Samples)))
	for _, s := range d.Samples {
		b = AppendItem(b, s)
	}
	return b
}

// AppendItem appends format, length and body of it, the body padded to 4 bytes.
func AppendItem(b []byte, it Item) []byte {
	b = be32(b, it.Format())
	at := len(b)
	b = be32(b, 0)
	b = it.AppendBody(b)
	for (len(b)-at-4)%4 != 0 {
		b = append(b, 0)
	}
	if l, ok := it.(interface{ LengthOverride() (uint32, bool) }); ok {
		if v, set := l.LengthOverride(); set {
			binary.BigEndian.PutUint32(b[at:], v)
			return b
		}
	}
	binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-4))
	return b
}

func count(override *uint32, n int) uint32 {
	if override != nil {
		return *override
	}
	return uint32(n)
}

func be32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }

func appendAddr(b []byte, a netip.Addr) []byte {
	switch {
	case !a.IsValid():
		return be32(b, 0)
	case a.Is4():
		b = be32(b, 1)
		v := a.As4()
		return append(b, v[:]...)
	default:
		b = be32(b, 2)
		v := a.As16()
		return append(b, v[:]...)
	}
}

// Interface formats of flow samples.
const (
	IfSingle    = 0 // value is an ifIndex
	IfDiscarded = 1 // value is a discard reason
	IfMultiple  = 2 // value is a number of interfaces
	IfInternal  = 0x3FFFFFFF
)

// FlowSample is a flow sample (format 1) or an expanded flow sample (format 3).
type FlowSample struct {
	Expanded    bool
	Sequence    uint32
	SourceType  uint32
	SourceIndex uint32
	Rate        uint32
	Pool        uint32
	Drops       uint32
	InFormat    uint32
	In          uint32
	OutFormat   uint32
	Out         uint32
	Records     []Item
	NumRecords  *uint32 // written instead of len(Records) when not nil
}

// Format implements Item.
func (s *FlowSample) Format() uint32 {
	if s.Expanded {
		return 3
	}
	return 1
}

// AppendBody implements Item.
func (s *FlowSample) AppendBody(b []byte) []byte {
	b = be32(b, s.Sequence)
	if s.Expanded {
		b = be32(b, s.SourceType)
		b = be32(b, s.SourceIndex)
	} else {
		b = be32(b, s.SourceType<<24|s.SourceIndex&0xFFFFFF)
	}
	b = be32(b, s.Rate)
	b = be32(b, s.Pool)
	b = be32(b, s.Drops)
	if s.Expanded {
		b = be32(b, s.InFormat)
		b = be32(b, s.In)
		b = be32(b, s.OutFormat)
		b = be32(b, s.Out)
	} else {
		b = be32(b, s.InFormat<<30|s.In&0x3FFFFFFF)
		b = be32(b, s.OutFormat<<30|s.Out&0x3FFFFFFF)
	}
	b = be32(b, count(s.NumRecords, len(s.Records)))
	for _, r := range s.Records {
		b = AppendItem(b, r)
	}
	return b
}

// CounterSample is a counter sample (format 2) or an expanded counter sample (format 4).
type CounterSample struct {
	Expanded    bool
	Sequence    uint32
	SourceType  uint32
	SourceIndex uint32
	Records     []Item
}

// Format implements Item.
func (s *CounterSample) Format() uint32 {
	if s.Expanded {
		return 4
	}
	return 2
}

// AppendBody implements Item.
func (s *CounterSample) AppendBody(b []byte) []byte {
	b = be32(b, s.Sequence)
	if s.Expanded {
		b = be32(b, s.SourceType)
		b = be32(b, s.SourceIndex)
	} else {
		b = be32(b, s.SourceType<<24|s.SourceIndex&0xFFFFFF)
	}
	b = be32(b, uint32(len(s.Records)))
	for _, r := range s.Records {
		b = AppendItem(b, r)
	}
	return b
}

// Header protocols of RawHeader.
const (
	HeaderEthernet = 1
	HeaderIPv4     = 11
	HeaderIPv6     = 12
	HeaderMPLS     = 13
)

// RawHeader is a raw packet header flow record (format 1).
type RawHeader struct {
	Protocol    uint32
	FrameLength uint32
	Stripped    uint32
	Header      []byte
	// HeaderLength, when not nil, is written instead of len(Header).
	HeaderLength *uint32
}

// Format implements Item.
func (*RawHeader) Format() uint32 { return 1 }

// AppendBody implements Item.
func (r *RawHeader) AppendBody(b []byte) []byte {
	b = be32(b, r.Protocol)
	b = be32(b, r.FrameLength)
	b = be32(b, r.Stripped)
	b = be32(b, count(r.HeaderLength, len(r.Header)))
	return append(b, r.Header...)
}

// SampledEthernet is a sampled Ethernet frame record (format 2).
type SampledEthernet struct {
	Length    uint32
	Src, Dst  [6]byte
	EtherType uint32
}

// Format implements Item.
func (*SampledEthernet) Format() uint32 { return 2 }

// AppendBody implements Item.
func (r *SampledEthernet) AppendBody(b []byte) []byte {
	b = be32(b, r.Length)
	b = append(b, r.Src[:]...)
	b = append(b, 0, 0)
	b = append(b, r.Dst[:]...)
	b = append(b, 0, 0)
	return be32(b, r.EtherType)
}

// SampledIP is a sampled IPv4 (format 3) or IPv6 (format 4) record, after the addresses' family.
type SampledIP struct {
	Length           uint32
	Proto            uint32
	Src, Dst         netip.Addr
	SrcPort, DstPort uint32
	TCPFlags         uint32
	ToS              uint32 // priority for IPv6
}

// Format implements Item.
func (r *SampledIP) Format() uint32 {
	if r.Src.Is4() {
		return 3
	}
	return 4
}

// AppendBody implements Item.
func (r *SampledIP) AppendBody(b []byte) []byte {
	b = be32(b, r.Length)
	b = be32(b, r.Proto)
	if r.Src.Is4() {
		s, d := r.Src.As4(), r.Dst.As4()
		b = append(append(b, s[:]...), d[:]...)
	} else {
		s, d := r.Src.As16(), r.Dst.As16()
		b = append(append(b, s[:]...), d[:]...)
	}
	b = be32(b, r.SrcPort)
	b = be32(b, r.DstPort)
	b = be32(b, r.TCPFlags)
	return be32(b, r.ToS)
}

// ExtSwitch is the extended switch record (format 1001).
type ExtSwitch struct{ InVLAN, InPriority, OutVLAN, OutPriority uint32 }

// Format implements Item.
func (*ExtSwitch) Format() uint32 { return 1001 }

// AppendBody implements Item.
func (r *ExtSwitch) AppendBody(b []byte) []byte {
	return be32(be32(be32(be32(b, r.InVLAN), r.InPriority), r.OutVLAN), r.OutPriority)
}

// ExtRouter is the extended router record (format 1002).
type ExtRouter struct {
	NextHop          netip.Addr
	SrcMask, DstMask uint32
}

// Format implements Item.
func (*ExtRouter) Format() uint32 { return 1002 }

// AppendBody implements Item.
func (r *ExtRouter) AppendBody(b []byte) []byte {
	return be32(be32(appendAddr(b, r.NextHop), r.SrcMask), r.DstMask)
}

// ExtGateway is the extended gateway record (format 1003). Each path segment is written as an
// AS_SEQUENCE.
type ExtGateway struct {
	NextHop     netip.Addr
	AS          uint32
	SrcAS       uint32
	SrcPeerAS   uint32
	Path        [][]uint32
	Communities []uint32
	LocalPref   uint32
	// NumSegments, when not nil, is written instead of len(Path).
	NumSegments *uint32
}

// Format implements Item.
func (*ExtGateway) Format() uint32 { return 1003 }

// AppendBody implements Item.
func (r *ExtGateway) AppendBody(b []byte) []byte {
	b = appendAddr(b, r.NextHop)
	b = be32(b, r.AS)
	b = be32(b, r.SrcAS)
	b = be32(b, r.SrcPeerAS)
	b = be32(b, count(r.NumSegments, len(r.Path)))
	for _, seg := range r.Path {
		b = be32(b, 2) // AS_SEQUENCE
		b = be32(b, uint32(len(seg)))
		for _, as := range seg {
			b = be32(b, as)
		}
	}
	b = be32(b, uint32(len(r.Communities)))
	for _, c := range r.Communities {
		b = be32(b, c)
	}
	return be32(b, r.LocalPref)
}

// IfCounters is the generic interface counters record (counter format 1).
type IfCounters struct {
	IfIndex, IfType                                      uint32
	Speed                                                uint64
	Direction, Status                                    uint32
	InOctets                                             uint64
	InUcast, InMcast, InBcast, InDiscards, InErrors      uint32
	InUnknownProtos                                      uint32
	OutOctets                                            uint64
	OutUcast, OutMcast, OutBcast, OutDiscards, OutErrors uint32
	Promiscuous                                          uint32
}

// Format implements Item.
func (*IfCounters) Format() uint32 { return 1 }

// AppendBody implements Item.
func (c *IfCounters) AppendBody(b []byte) []byte {
	b = be32(be32(b, c.IfIndex), c.IfType)
	b = binary.BigEndian.AppendUint64(b, c.Speed)
	b = be32(be32(b, c.Direction), c.Status)
	b = binary.BigEndian.AppendUint64(b, c.InOctets)
	for _, v := range []uint32{c.InUcast, c.InMcast, c.InBcast, c.InDiscards, c.InErrors, c.InUnknownProtos} {
		b = be32(b, v)
	}
	b = binary.BigEndian.AppendUint64(b, c.OutOctets)
	for _, v := range []uint32{c.OutUcast, c.OutMcast, c.OutBcast, c.OutDiscards, c.OutErrors, c.Promiscuous} {
		b = be32(b, v)
	}
	return b
}

// Opaque is any sample or record, given as its format and raw body. Length, when not nil, is
// written instead of the body's length (to point outside the datagram, for instance).
type Opaque struct {
	Enterprise, Fmt uint32
	Body            []byte
	Length          *uint32
}

// Format implements Item.
func (o *Opaque) Format() uint32 { return o.Enterprise<<12 | o.Fmt&0xFFF }

// AppendBody implements Item.
func (o *Opaque) AppendBody(b []byte) []byte { return append(b, o.Body...) }

// LengthOverride reports the length to write instead of the body's, if any.
func (o *Opaque) LengthOverride() (uint32, bool) {
	if o.Length == nil {
		return 0, false
	}
	return *o.Length, true
}

// U32 returns a pointer to v, for the count and length overrides.
func U32(v uint32) *uint32 { return &v }
