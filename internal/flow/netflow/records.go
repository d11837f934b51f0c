package netflow

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"

	"yocho/internal/flow"
)

// header is what a data set needs from its datagram's header.
type header struct {
	version  uint16
	domainID uint32
	exportMs int64  // export time, ms since the epoch
	uptimeMs uint32 // v9: the exporter's sysUptime at export
}

// decodeCtx is the state of one Decode call, on the caller's stack.
type decodeCtx struct {
	d          *Decoder
	ex         *exporter
	out        *flow.Batch
	receivedMs int64
	hdr        header
	err        error // first fault met
	records    int   // flow records appended
	dataRecs   int   // data records decoded, flows and options (IPFIX sequence numbers)
	held       int   // data sets held for lack of a template
	learned    bool  // a template was added or changed: held sets may be decodable
	// Cache of the last sampler looked up, valid within one data set.
	lastSampler     uint32
	lastSamplerRate uint32
	lastSamplerOK   bool
	lastRate        uint32 // last rate added to the exporter's rates
}

// fault records a dropped set or records and keeps the first error for Decode to return.
func (c *decodeCtx) fault(reason string, n int, format string, args ...any) {
	c.d.metrics.drop(reason, n)
	if c.err == nil {
		c.err = &flow.DecodeError{Reason: reason, Err: fmt.Errorf("exporter %s: "+format, append([]any{c.ex.addr}, args...)...)}
	}
}

// scratch holds what a record says that needs the whole record before it means something.
type scratch struct {
	startUp, endUp uint32
	have           uint8
	sysInit        int64
	rate           uint64
	pktInterval    uint64
	pktSpace       uint64
	sampleSize     uint64
	population     uint64
}

const (
	haveStartUp = 1 << iota
	haveEndUp
	haveSysInit
	haveSampler
)

// be reads a big-endian unsigned integer of any length (reduced-size encoding); the low 64 bits
// of longer fields.
func be(b []byte) uint64 {
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(b))
	case 4:
		return uint64(binary.BigEndian.Uint32(b))
	case 8:
		return binary.BigEndian.Uint64(b)
	}
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v
}

// setAddr stores an address field: a zero address does not replace one already set, so that a
// template with both IPv4 and IPv6 fields yields the family in use.
func setAddr(dst *netip.Addr, b []byte) {
	switch len(b) {
	case 4:
		if dst.IsValid() && b[0]|b[1]|b[2]|b[3] == 0 {
			return
		}
		*dst = netip.AddrFrom4([4]byte(b))
	case 16:
		if dst.IsValid() && binary.BigEndian.Uint64(b) == 0 && binary.BigEndian.Uint64(b[8:]) == 0 {
			return
		}
		*dst = netip.AddrFrom16([16]byte(b))
	}
}

// ntpToMs converts an NTP timestamp (seconds since 1900 and a 32-bit fraction) to Unix ms.
func ntpToMs(v uint64) int64 {
	const ntpToUnix = 2208988800
	return (int64(v>>32)-ntpToUnix)*1000 + int64((v&0xFFFFFFFF)*1000>>32)
}

// apply fills the record (or the scratch) from one field.
func (c *decodeCtx) apply(r *flow.Record, s *scratch, kind fieldKind, b []byte) {
	switch kind {
	case fieldBytes:
		r.Bytes = be(b)
	case fieldPackets:
		r.Packets = be(b)
	case fieldProto:
		r.Proto = uint8(be(b))
	case fieldToS:
		r.ToS = uint8(be(b))
	case fieldTCPFlags:
		r.TCPFlags = uint8(be(b))
	case fieldSrcPort:
		r.SrcPort = uint16(be(b))
	case fieldDstPort:
		r.DstPort = uint16(be(b))
	case fieldSrcAddr:
		setAddr(&r.SrcAddr, b)
	case fieldDstAddr:
		setAddr(&r.DstAddr, b)
	case fieldNextHop:
		setAddr(&r.NextHop, b)
	case fieldSrcMask:
		r.SrcMask = uint8(be(b))
	case fieldDstMask:
		r.DstMask = uint8(be(b))
	case fieldInIf:
		r.InIf = uint32(be(b))
	case fieldOutIf:
		r.OutIf = uint32(be(b))
	case fieldSrcAS:
		r.SrcAS = uint32(be(b))
	case fieldDstAS:
		r.DstAS = uint32(be(b))
	case fieldVLAN:
		r.VLAN = uint16(be(b))
	case fieldDirection:
		if v := be(b); v <= 1 {
			r.Direction = uint8(v) + 1
		}
	case fieldFwdStatus:
		r.ForwardingStatus = uint8(be(b))
	case fieldMPLSLabel:
		if len(b) >= 3 && len(b) <= 8 {
			r.MPLSLabel = uint32(be(b)>>(len(b)*8-20)) & 0xFFFFF
		}
	case fieldSamplerID:
		r.SamplerID = uint32(be(b))
		s.have |= haveSampler
	case fieldICMPTypeCode:
		v := be(b)
		r.ICMPType, r.ICMPCode = uint8(v>>8), uint8(v)
	case fieldICMPType:
		r.ICMPType = uint8(be(b))
	case fieldICMPCode:
		r.ICMPCode = uint8(be(b))
	case fieldRate:
		s.rate = be(b)
	case fieldPktInterval:
		s.pktInterval = be(b)
	case fieldPktSpace:
		s.pktSpace = be(b)
	case fieldSampleSize:
		s.sampleSize = be(b)
	case fieldPopulation:
		s.population = be(b)
	case fieldSysInit:
		s.sysInit = int64(be(b))
		s.have |= haveSysInit
	case fieldStartUptime:
		s.startUp = uint32(be(b))
		s.have |= haveStartUp
	case fieldEndUptime:
		s.endUp = uint32(be(b))
		s.have |= haveEndUp
	case fieldStartSec:
		r.StartMs = int64(be(b)) * 1000
	case fieldEndSec:
		r.EndMs = int64(be(b)) * 1000
	case fieldStartMs:
		r.StartMs = int64(be(b))
	case fieldEndMs:
		r.EndMs = int64(be(b))
	case fieldStartNTP:
		if len(b) == 8 {
			r.StartMs = ntpToMs(be(b))
		}
	case fieldEndNTP:
		if len(b) == 8 {
			r.EndMs = ntpToMs(be(b))
		}
	case fieldStartDelta:
		r.StartMs = c.hdr.exportMs - int64(be(b)/1000)
	case fieldEndDelta:
		r.EndMs = c.hdr.exportMs - int64(be(b)/1000)
	}
}

// rateOf is the sampling rate a record or an options record announces; 0 if none.
func rateOf(s *scratch) uint32 {
	var r uint64
	switch {
	case s.rate > 0:
		r = s.rate
	case s.sampleSize > 0 && s.population > 0:
		// n-out-of-N (Cisco IOS XR sends samplingPacketInterval 1 alongside: not the rate).
		r = s.population / s.sampleSize
	case s.pktInterval > 0:
		r = (s.pktInterval + s.pktSpace) / s.pktInterval
	}
	if r > 0xFFFFFFFF {
		return 0
	}
	// Some exporters (MikroTik) write the rate little-endian: 1:1000 arrives as 3892510720.
	if r > 0xFFFFFF {
		if sw := bits.ReverseBytes32(uint32(r)); sw <= 0xFFFF {
			r = uint64(sw)
		}
	}
	return uint32(r)
}

// uptimeToMs converts a time relative to the exporter's boot to Unix ms. The difference to the
// export's uptime is taken modulo 2^32, so flows survive the wrap of a 32-bit uptime.
func uptimeToMs(exportMs int64, uptimeAtExport, t uint32) int64 {
	return exportMs - int64(int32(uptimeAtExport-t))
}

// finish completes a record once all its fields are read.
func (c *decodeCtx) finish(t *template, dom *domain, r *flow.Record, s *scratch, fallback uint32) {
	if t.hasUptime {
		var uptime uint32
		ok := true
		switch {
		case c.hdr.version == 9:
			uptime = c.hdr.uptimeMs
		case s.have&haveSysInit != 0 && s.sysInit > 0:
			uptime = uint32(c.hdr.exportMs - s.sysInit)
		case dom.sysInitMs > 0:
			uptime = uint32(c.hdr.exportMs - dom.sysInitMs)
		default:
			ok = false // IPFIX uptime without a boot time: the export time is the best guess
		}
		if ok && s.have&haveStartUp != 0 {
			r.StartMs = uptimeToMs(c.hdr.exportMs, uptime, s.startUp)
		}
		if ok && s.have&haveEndUp != 0 {
			r.EndMs = uptimeToMs(c.hdr.exportMs, uptime, s.endUp)
		}
	}
	if r.EndMs == 0 {
		r.EndMs = c.hdr.exportMs
	}
	if r.StartMs == 0 {
		r.StartMs = r.EndMs
	}
	if r.ICMPType == 0 && r.ICMPCode == 0 && (r.Proto == 1 || r.Proto == 58) {
		// NetFlow v5/v9 and many IPFIX exporters carry ICMP type and code in the destination port.
		r.ICMPType, r.ICMPCode = uint8(r.DstPort>>8), uint8(r.DstPort)
	}
	r.SamplingRate = fallback
	if t.hasRate {
		if rate := rateOf(s); rate > 0 {
			r.SamplingRate = rate
			if rate != c.lastRate {
				c.lastRate = rate
				c.ex.addRate(rate)
			}
			return
		}
	}
	if t.hasSampler && s.have&haveSampler != 0 {
		if !c.lastSamplerOK || c.lastSampler != r.SamplerID {
			rate, ok := dom.samplers[uint64(r.SamplerID)]
			if !ok {
				rate = fallback
			}
			c.lastSampler, c.lastSamplerRate, c.lastSamplerOK = r.SamplerID, rate, true
		}
		r.SamplingRate = c.lastSamplerRate
	}
}

// decodeDataSet decodes the records of one data set with its template.
func (c *decodeCtx) decodeDataSet(t *template, dom *domain, setID uint16, data []byte) {
	if t.options {
		c.decodeOptions(t, dom, setID, data)
		return
	}
	base := flow.Record{ReceivedMs: c.receivedMs, Exporter: c.ex.addr, ObsDomain: c.hdr.domainID}
	fallback := dom.fallbackRate()
	c.lastSamplerOK = false
	out := c.out
	n := len(data)
	var r flow.Record
	var s scratch
	if t.fixed {
		recLen := t.recLen
		count := 0
		for off := 0; off+recLen <= n; off += recLen {
			rec := data[off : off+recLen]
			r, s = base, scratch{}
			for i := range t.ops {
				o := &t.ops[i]
				b := rec[o.off : int(o.off)+int(o.size)]
				// The commonest fields inline; the rest through apply.
				switch o.kind {
				case fieldSrcAddr:
					if len(b) == 4 && !r.SrcAddr.IsValid() {
						r.SrcAddr = netip.AddrFrom4([4]byte(b))
					} else {
						setAddr(&r.SrcAddr, b)
					}
				case fieldDstAddr:
					if len(b) == 4 && !r.DstAddr.IsValid() {
						r.DstAddr = netip.AddrFrom4([4]byte(b))
					} else {
						setAddr(&r.DstAddr, b)
					}
				case fieldBytes:
					r.Bytes = be(b)
				case fieldPackets:
					r.Packets = be(b)
				case fieldSrcPort:
					r.SrcPort = uint16(be(b))
				case fieldDstPort:
					r.DstPort = uint16(be(b))
				case fieldProto:
					r.Proto = uint8(be(b))
				case fieldInIf:
					r.InIf = uint32(be(b))
				case fieldOutIf:
					r.OutIf = uint32(be(b))
				default:
					c.apply(&r, &s, o.kind, b)
				}
			}
			c.finish(t, dom, &r, &s, fallback)
			out.Append(&r)
			count++
		}
		c.records += count
		c.dataRecs += count
		return
	}
	c.walkVariable(t, setID, data, func(r *flow.Record, s *scratch) {
		c.finish(t, dom, r, s, fallback)
		out.Append(r)
		c.records++
	}, base)
}

// walkVariable decodes records of a template with variable-length fields, calling done after
// each. Padding (a zero tail too short for a record) ends the set silently.
func (c *decodeCtx) walkVariable(t *template, setID uint16, data []byte, done func(*flow.Record, *scratch), base flow.Record) {
	n := len(data)
	off := 0
	var r flow.Record
	var s scratch
	for n-off >= t.recLen {
		start := off
		r, s = base, scratch{}
		ok := true
		for i := range t.ops {
			o := &t.ops[i]
			size := int(o.size)
			if o.size == varLen {
				if off >= n {
					ok = false
					break
				}
				size = int(data[off])
				off++
				if size == 255 {
					if off+2 > n {
						ok = false
						break
					}
					size = int(binary.BigEndian.Uint16(data[off:]))
					off += 2
				}
			}
			if size > n-off {
				ok = false
				break
			}
			if o.kind != fieldSkip {
				c.apply(&r, &s, o.kind, data[off:off+size])
			}
			off += size
		}
		if !ok {
			if !allZero(data[start:]) {
				c.fault(ReasonTruncatedRecord, 1, "set %d: record at offset %d runs past the set", setID, start)
			}
			return
		}
		c.dataRecs++
		done(&r, &s)
	}
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// decodeOptions reads options records: sampling rates per sampler, the exporter's boot time.
func (c *decodeCtx) decodeOptions(t *template, dom *domain, setID uint16, data []byte) {
	apply := func(r *flow.Record, s *scratch) {
		if s.have&haveSysInit != 0 && s.sysInit > 0 {
			dom.sysInitMs = s.sysInit
		}
		rate := rateOf(s)
		if rate == 0 {
			return
		}
		key := anySampler
		if s.have&haveSampler != 0 {
			key = uint64(r.SamplerID)
		}
		dom.setRate(key, rate)
		c.ex.addRate(rate)
	}
	if !t.fixed {
		c.walkVariable(t, setID, data, apply, flow.Record{})
		return
	}
	var r flow.Record
	var s scratch
	for off := 0; off+t.recLen <= len(data); off += t.recLen {
		rec := data[off : off+t.recLen]
		r, s = flow.Record{}, scratch{}
		for i := range t.ops {
			o := &t.ops[i]
			c.apply(&r, &s, o.kind, rec[o.off:int(o.off)+int(o.size)])
		}
		c.dataRecs++
		apply(&r, &s)
	}
}
