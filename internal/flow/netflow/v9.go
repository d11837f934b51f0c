package netflow

import "encoding/binary"

const v9HeaderLen = 20

// decodeV9 decodes a NetFlow v9 datagram. Its times are relative to the exporter's sysUptime;
// its sequence number counts datagrams per source id.
func (c *decodeCtx) decodeV9(p []byte) error {
	if len(p) < v9HeaderLen {
		return c.d.fail(ReasonTruncated, errorf("exporter %s: v9 header needs %d bytes, got %d", c.ex.addr, v9HeaderLen, len(p)))
	}
	uptime := binary.BigEndian.Uint32(p[4:])
	secs := binary.BigEndian.Uint32(p[8:])
	seq := binary.BigEndian.Uint32(p[12:])
	sourceID := binary.BigEndian.Uint32(p[16:])
	c.hdr = header{version: 9, domainID: sourceID, exportMs: int64(secs) * 1000, uptimeMs: uptime}
	dom := c.ex.domain(9, sourceID)
	if dom == nil {
		return c.d.fail(ReasonTooManyDomains, errorf("exporter %s: too many source ids", c.ex.addr))
	}
	c.d.metrics.datagramsV9.Inc()
	end := c.frame(p, v9HeaderLen)
	c.decodeSets(dom, p, v9HeaderLen, end)
	dom.seq.observe(seq, 1, windowDatagrams)
	c.d.metrics.recordsV9.Add(float64(c.records))
	return c.err
}
