package netflow

import "encoding/binary"

const ipfixHeaderLen = 16

// decodeIPFIX decodes an IPFIX message. Its sequence number counts the data records sent before
// it in its observation domain.
func (c *decodeCtx) decodeIPFIX(p []byte) error {
	if len(p) < ipfixHeaderLen {
		return c.d.fail(ReasonTruncated, errorf("exporter %s: IPFIX header needs %d bytes, got %d", c.ex.addr, ipfixHeaderLen, len(p)))
	}
	length := int(binary.BigEndian.Uint16(p[2:]))
	switch {
	case length < ipfixHeaderLen:
		return c.d.fail(ReasonBadLength, errorf("exporter %s: IPFIX message length %d is shorter than its header", c.ex.addr, length))
	case length > len(p):
		return c.d.fail(ReasonTruncated, errorf("exporter %s: IPFIX message length %d, datagram has %d bytes", c.ex.addr, length, len(p)))
	}
	p = p[:length]
	secs := binary.BigEndian.Uint32(p[4:])
	seq := binary.BigEndian.Uint32(p[8:])
	domainID := binary.BigEndian.Uint32(p[12:])
	c.hdr = header{version: 10, domainID: domainID, exportMs: int64(secs) * 1000}
	dom := c.ex.domain(10, domainID)
	if dom == nil {
		return c.d.fail(ReasonTooManyDomains, errorf("exporter %s: too many observation domains", c.ex.addr))
	}
	c.d.metrics.datagramsIPFIX.Inc()
	end := c.frame(p, ipfixHeaderLen)
	c.decodeSets(dom, p, ipfixHeaderLen, end)
	if c.held == 0 && end == len(p) {
		dom.seq.observe(seq, uint32(c.dataRecs), windowRecords)
	} else {
		// The records of held or unframed sets are not known: count the gap before this
		// message, then resynchronise on the next.
		dom.seq.observe(seq, 0, windowRecords)
		dom.seq.known = false
	}
	c.d.metrics.recordsIPFIX.Add(float64(c.records))
	return c.err
}
