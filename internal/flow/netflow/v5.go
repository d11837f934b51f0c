package netflow

import (
	"encoding/binary"
	"net/netip"

	"yocho/internal/flow"
)

const (
	v5HeaderLen = 24
	v5RecordLen = 48
)

// decodeV5 decodes a NetFlow v5 datagram: a fixed header and fixed 48-byte records. The engine
// type and id (which name a line card or a flow cache) take the place of the observation domain.
func (c *decodeCtx) decodeV5(p []byte) error {
	if len(p) < v5HeaderLen {
		return c.d.fail(ReasonTruncated, errorf("exporter %s: v5 header needs %d bytes, got %d", c.ex.addr, v5HeaderLen, len(p)))
	}
	count := int(binary.BigEndian.Uint16(p[2:]))
	uptime := binary.BigEndian.Uint32(p[4:])
	secs := binary.BigEndian.Uint32(p[8:])
	nsecs := binary.BigEndian.Uint32(p[12:])
	seq := binary.BigEndian.Uint32(p[16:])
	domainID := uint32(p[20])<<8 | uint32(p[21])
	// Sampling interval: the low 14 bits are the rate, the top 2 the mode; 0 = not sampled/unknown.
	rate := uint32(binary.BigEndian.Uint16(p[22:]) & 0x3FFF)
	dom := c.ex.domain(5, domainID)
	if dom == nil {
		return c.d.fail(ReasonTooManyDomains, errorf("exporter %s: too many engines", c.ex.addr))
	}
	c.d.metrics.datagramsV5.Inc()
	if rate > 0 {
		c.ex.addRate(rate)
	}
	exportMs := int64(secs)*1000 + int64(nsecs/1e6)
	avail := (len(p) - v5HeaderLen) / v5RecordLen
	n := min(count, avail)
	base := flow.Record{ReceivedMs: c.receivedMs, Exporter: c.ex.addr, ObsDomain: domainID, SamplingRate: rate}
	out := c.out
	var r flow.Record
	for i := range n {
		b := p[v5HeaderLen+i*v5RecordLen : v5HeaderLen+(i+1)*v5RecordLen]
		r = base
		r.SrcAddr = netip.AddrFrom4([4]byte(b[0:4]))
		r.DstAddr = netip.AddrFrom4([4]byte(b[4:8]))
		r.NextHop = netip.AddrFrom4([4]byte(b[8:12]))
		r.InIf = uint32(binary.BigEndian.Uint16(b[12:]))
		r.OutIf = uint32(binary.BigEndian.Uint16(b[14:]))
		r.Packets = uint64(binary.BigEndian.Uint32(b[16:]))
		r.Bytes = uint64(binary.BigEndian.Uint32(b[20:]))
		r.StartMs = uptimeToMs(exportMs, uptime, binary.BigEndian.Uint32(b[24:]))
		r.EndMs = uptimeToMs(exportMs, uptime, binary.BigEndian.Uint32(b[28:]))
		r.SrcPort = binary.BigEndian.Uint16(b[32:])
		r.DstPort = binary.BigEndian.Uint16(b[34:])
		r.TCPFlags = b[37]
		r.Proto = b[38]
		r.ToS = b[39]
		r.SrcAS = uint32(binary.BigEndian.Uint16(b[40:]))
		r.DstAS = uint32(binary.BigEndian.Uint16(b[42:]))
		r.SrcMask = b[44]
		r.DstMask = b[45]
		if r.Proto == 1 {
			r.ICMPType, r.ICMPCode = uint8(r.DstPort>>8), uint8(r.DstPort)
		}
		out.Append(&r)
	}
	c.d.metrics.recordsV5.Add(float64(n))
	if n < count {
		dom.seq.known = false
		return c.d.fail(ReasonTruncated, errorf("exporter %s: v5 header announces %d records, datagram holds %d", c.ex.addr, count, avail))
	}
	dom.seq.observe(seq, uint32(count), windowRecords)
	return nil
}
