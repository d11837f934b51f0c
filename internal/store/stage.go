package store

import (
	"net/netip"
	"sync"

	"yocho/internal/flow"
	"yocho/internal/query"
)

// stage holds flows the writer has not flushed yet, column by column, already in the raw tier's
// representation (rawColumns): times as start (seconds and milliseconds), duration and receive
// delay (in seconds);
// addresses as their two halves; volumes scaled by the sampling rate, bytes as bytes per packet
// and remainder; ports as the lower and the higher of the pair and which one the source has. Consume converts a flow.Batch into a stage in
// one pass per column; writing a chunk is then a copy of each column into pages. Only the four
// enrichment columns hold pointers (strings shared with the enricher, a handful of distinct
// ones): the garbage collector scans little of a stage.
type stage struct {
	i64 [3][]int64
	u64 [11][]uint64
	u32 [8][]uint32
	u16 [5][]uint16
	u8  [12][]uint8
	// str are the hostgroups: shared strings, never copied per flow.
	str [2][]string
}

// stageCol maps a column of rawColumns to its slice in a stage.
type stageCol struct {
	width int // 0: i64, 8: u64, 4: u32, 2: u16, 1: u8, -1: str
	idx   int
}

// stageCols is rawColumns' place in a stage, in rawColumns order.
var stageCols = [...]stageCol{
	{0, 0}, {2, 1}, {0, 1}, {0, 2}, // time_s, time_frac, duration_ms, received_delay_s
	{8, 0}, {8, 1}, // exporter
	{4, 0}, {4, 1}, {4, 2}, // obs_domain, sampler_id, sampling_rate
	{4, 3}, {4, 4}, // in_if, out_if
	{8, 2}, {8, 3}, {8, 4}, {8, 5}, {8, 6}, {8, 7}, // src, dst, next hop
	{2, 0}, {1, 10}, {1, 11}, // port_lo, port_hi_msb, port_hi_lsb
	{1, 0}, {1, 1}, {1, 2}, {1, 3}, {1, 4}, // proto, tcp_flags, tos, icmp_type, icmp_code
	{8, 8}, {8, 9}, {8, 10}, // bytes_per_packet, packets, bytes_rem
	{4, 5}, {4, 6}, // src_as, dst_as
	{1, 5}, {1, 6}, // src_mask, dst_mask
	{2, 2},         // vlan
	{1, 7}, {1, 8}, // direction, forwarding_status
	{4, 7},           // mpls_label
	{1, 9},           // port_swap
	{-1, 0}, {-1, 1}, // src_hostgroup, dst_hostgroup
	{2, 3}, {2, 4}, // src_cc, dst_cc
}

func (s *stage) len() int { return len(s.i64[0]) }

func (s *stage) reset() {
	for i := range s.i64 {
		s.i64[i] = s.i64[i][:0]
	}
	for i := range s.u64 {
		s.u64[i] = s.u64[i][:0]
	}
	for i := range s.u32 {
		s.u32[i] = s.u32[i][:0]
	}
	for i := range s.u16 {
		s.u16[i] = s.u16[i][:0]
	}
	for i := range s.u8 {
		s.u8[i] = s.u8[i][:0]
	}
	for i := range s.str {
		clear(s.str[i]) // let the strings go
		s.str[i] = s.str[i][:0]
	}
}

// grow makes room for n more flows.
func (s *stage) grow(n int) {
	need := s.len() + n
	if need <= cap(s.i64[0]) {
		return
	}
	c := max(need, 2*cap(s.i64[0]), flow.DefaultBatchSize)
	for i := range s.i64 {
		s.i64[i] = append(make([]int64, 0, c), s.i64[i]...)
	}
	for i := range s.u64 {
		s.u64[i] = append(make([]uint64, 0, c), s.u64[i]...)
	}
	for i := range s.u32 {
		s.u32[i] = append(make([]uint32, 0, c), s.u32[i]...)
	}
	for i := range s.u16 {
		s.u16[i] = append(make([]uint16, 0, c), s.u16[i]...)
	}
	for i := range s.u8 {
		s.u8[i] = append(make([]uint8, 0, c), s.u8[i]...)
	}
	for i := range s.str {
		s.str[i] = append(make([]string, 0, c), s.str[i]...)
	}
}

// add converts the flows of b and appends them.
func (s *stage) add(b *flow.Batch) {
	n := b.Len()
	s.grow(n)
	at := s.len()
	ext := func(v []int64) []int64 { return v[:at+n] }
	tm, dur, delay := ext(s.i64[0])[at:], ext(s.i64[1])[at:], ext(s.i64[2])[at:]
	frac := s.u16[1][at : at+n]
	for i := range n {
		sec := floorDiv(b.StartMs[i], 1000)
		tm[i], frac[i] = sec, uint16(b.StartMs[i]-sec*1000)
		dur[i] = b.EndMs[i] - b.StartMs[i]
		delay[i] = receiveDelaySeconds(b.ReceivedMs[i] - b.EndMs[i])
	}
	s.i64[0], s.i64[1], s.i64[2] = s.i64[0][:at+n], s.i64[1][:at+n], s.i64[2][:at+n]
	s.addrs(0, b.Exporter)
	s.addrs(2, b.SrcAddr)
	s.addrs(4, b.DstAddr)
	s.addrs(6, b.NextHop)
	bpp, pkts, rem := s.u64[8][at:at+n], s.u64[9][at:at+n], s.u64[10][at:at+n]
	for i := range n {
		r := uint64(b.SamplingRate[i])
		if r == 0 {
			r = 1
		}
		by, p := b.Bytes[i]*r, b.Packets[i]*r
		pkts[i] = p
		switch p {
		case 0: // no packets (a broken exporter): bytes are all remainder
			bpp[i], rem[i] = 0, by
			continue
		case 1: // no division for the most common flows
			bpp[i], rem[i] = by, 0
			continue
		}
		bpp[i] = by / p
		rem[i] = by - bpp[i]*p
	}
	s.u64[8], s.u64[9], s.u64[10] = s.u64[8][:at+n], s.u64[9][:at+n], s.u64[10][:at+n]
	for i, v := range [...][]uint32{b.ObsDomain, b.SamplerID, b.SamplingRate, b.InIf, b.OutIf, b.SrcAS, b.DstAS, b.MPLSLabel} {
		s.u32[i] = append(s.u32[i], v...)
	}
	s.u16[1] = s.u16[1][:at+n]
	plo, swap, msb, lsb := s.u16[0][at:at+n], s.u8[9][at:at+n], s.u8[10][at:at+n], s.u8[11][at:at+n]
	for i := range n {
		sp, dp := b.SrcPort[i], b.DstPort[i]
		hi := max(sp, dp)
		plo[i], msb[i], lsb[i], swap[i] = min(sp, dp), uint8(hi>>8), uint8(hi), 0
		if sp > dp {
			swap[i] = 1
		}
	}
	s.u16[0], s.u8[9], s.u8[10], s.u8[11] = s.u16[0][:at+n], s.u8[9][:at+n], s.u8[10][:at+n], s.u8[11][:at+n]
	s.u16[2] = append(s.u16[2], b.VLAN...)
	for i, v := range [...][]uint8{b.Proto, b.TCPFlags, b.ToS, b.ICMPType, b.ICMPCode, b.SrcMask, b.DstMask, b.Direction, b.ForwardingStatus} {
		s.u8[i] = append(s.u8[i], v...)
	}
	for i, v := range [...][]string{b.SrcHostgroup, b.DstHostgroup} {
		if len(v) != n { // a batch nobody enriched: empty
			s.str[i] = append(s.str[i], make([]string, n)...)
			continue
		}
		s.str[i] = append(s.str[i], v...)
	}
	for i, v := range [...][]string{b.SrcCountry, b.DstCountry} {
		cc := s.u16[3+i][at : at+n]
		if len(v) != n {
			clear(cc)
		} else {
			for j, c := range v {
				cc[j] = countryCode(c)
			}
		}
		s.u16[3+i] = s.u16[3+i][:at+n]
	}
}

// countryCode is a country's two letters as a number (first letter in the high byte), 0 for
// none: a small integer groups and sorts far faster than a string in the roll-ups and merges.
func countryCode(c string) uint16 {
	if len(c) != 2 {
		return 0
	}
	return uint16(c[0])<<8 | uint16(c[1])
}

// addrs appends the halves of addresses a to u64[at] and u64[at+1]. Runs of one address (an
// exporter, a next hop) are encoded once.
func (s *stage) addrs(at int, a []netip.Addr) {
	hi, lo := s.u64[at], s.u64[at+1]
	n := len(hi)
	hi, lo = hi[:n+len(a)], lo[:n+len(a)]
	var last netip.Addr
	var h, l uint64
	for i, x := range a {
		if i == 0 || x != last {
			h, l = query.EncodeAddr(x)
			last = x
		}
		hi[n+i], lo[n+i] = h, l
	}
	s.u64[at], s.u64[at+1] = hi, lo
}

// appendRow appends flow i of src.
func (s *stage) appendRow(src *stage, i int) {
	s.grow(1)
	for c := range s.i64 {
		s.i64[c] = append(s.i64[c], src.i64[c][i])
	}
	for c := range s.u64 {
		s.u64[c] = append(s.u64[c], src.u64[c][i])
	}
	for c := range s.u32 {
		s.u32[c] = append(s.u32[c], src.u32[c][i])
	}
	for c := range s.u16 {
		s.u16[c] = append(s.u16[c], src.u16[c][i])
	}
	for c := range s.u8 {
		s.u8[c] = append(s.u8[c], src.u8[c][i])
	}
	for c := range s.str {
		s.str[c] = append(s.str[c], src.str[c][i])
	}
}

// write sends column col (of rawColumns) to pw.
func (s *stage) write(col int, pw *pqWriter) {
	switch sc := stageCols[col]; sc.width {
	case 0:
		pw.int64s(s.i64[sc.idx])
	case 8:
		pw.uint64s(s.u64[sc.idx])
	case 4:
		pw.uint32s(s.u32[sc.idx])
	case 2:
		pw.uint16s(s.u16[sc.idx])
	case -1:
		pw.strings(s.str[sc.idx])
	default:
		pw.uint8s(s.u8[sc.idx])
	}
}

// stagePool recycles stages.
type stagePool struct {
	mu   sync.Mutex
	free []*stage
}

func (p *stagePool) get() *stage {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		s := p.free[n-1]
		p.free = p.free[:n-1]
		return s
	}
	return &stage{}
}

func (p *stagePool) put(s *stage) {
	s.reset()
	p.mu.Lock()
	p.free = append(p.free, s)
	p.mu.Unlock()
}
