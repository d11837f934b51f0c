package simulate

import (
	"encoding/binary"
	"net/netip"

	"yocho/internal/flow"
)

// Datagram is one export datagram ready to send, with what it holds. Data is only valid during
// the call that receives it.
type Datagram struct {
	Data    []byte
	Records int    // flow records (sFlow: flow samples); templates and options not counted
	Packets uint64 // sampled packets in those records
	Bytes   uint64 // sampled bytes in those records (sFlow: frame lengths)
}

// encoder packs one exporter's records into datagrams of one protocol.
type encoder interface {
	// setTime sets the exporter's clock (Unix ms) for the datagrams that follow.
	setTime(nowMs int64)
	// add appends a record, sending the datagram when it is full.
	add(r *flow.Record)
	// flush sends what is pending.
	flush()
	// skipped is the records the protocol cannot carry (IPv6 in NetFlow v5).
	skipped() uint64
}

// encoderConfig is what an encoder needs of its exporter.
type encoderConfig struct {
	agent     netip.Addr // sFlow agent address
	rate      uint32
	domain    uint32 // v9 source id, IPFIX observation domain, sFlow sub-agent
	refreshMs int64  // templates and options are resent this often
	bootMs    int64  // when the exporter booted (for uptimes)
	mtu       int
}

func newEncoder(proto string, c encoderConfig, send func(*Datagram)) encoder {
	if c.mtu == 0 {
		c.mtu = 1400
	}
	switch proto {
	case "netflow5":
		return &v5Encoder{c: c, send: send, buf: make([]byte, v5Header, v5Header+30*v5Record)}
	case "sflow":
		return newSFlowEncoder(c, send)
	default:
		return newTemplateEncoder(proto == "ipfix", c, send)
	}
}

var be = binary.BigEndian

const (
	v5Header = 24
	v5Record = 48
)

// v5Encoder writes NetFlow v5: 30 IPv4 records at most per datagram, times relative to the
// exporter's uptime, the sampling rate in the header.
type v5Encoder struct {
	c        encoderConfig
	send     func(*Datagram)
	buf      []byte
	d        Datagram
	nowMs    int64
	seq      uint32 // records sent before
	nSkipped uint64
}

func (e *v5Encoder) setTime(nowMs int64) { e.nowMs = nowMs }
func (e *v5Encoder) skipped() uint64     { return e.nSkipped }

func (e *v5Encoder) add(r *flow.Record) {
	if !r.SrcAddr.Is4() || !r.DstAddr.Is4() {
		e.nSkipped++
		return
	}
	o := len(e.buf)
	e.buf = e.buf[:o+v5Record]
	b := e.buf[o:]
	s, d := r.SrcAddr.As4(), r.DstAddr.As4()
	copy(b[0:], s[:])
	copy(b[4:], d[:])
	be.PutUint32(b[8:], 0) // next hop
	be.PutUint16(b[12:], uint16(r.InIf))
	be.PutUint16(b[14:], uint16(r.OutIf))
	be.PutUint32(b[16:], uint32(r.Packets))
	be.PutUint32(b[20:], uint32(r.Bytes))
	be.PutUint32(b[24:], uint32(r.StartMs-e.c.bootMs))
	be.PutUint32(b[28:], uint32(r.EndMs-e.c.bootMs))
	sp, dp := r.SrcPort, r.DstPort
	if r.Proto == 1 {
		sp, dp = 0, uint16(r.ICMPType)<<8|uint16(r.ICMPCode)
	}
	be.PutUint16(b[32:], sp)
	be.PutUint16(b[34:], dp)
	b[36] = 0
	b[37] = r.TCPFlags
	b[38] = r.Proto
	b[39] = r.ToS
	be.PutUint16(b[40:], uint16(r.SrcAS))
	be.PutUint16(b[42:], uint16(r.DstAS))
	b[44] = r.SrcMask
	b[45] = r.DstMask
	be.PutUint16(b[46:], 0)
	e.d.Records++
	e.d.Packets += r.Packets
	e.d.Bytes += r.Bytes
	if e.d.Records == 30 {
		e.flush()
	}
}

func (e *v5Encoder) flush() {
	n := e.d.Records
	if n == 0 {
		return
	}
	h := e.buf[:v5Header]
	be.PutUint16(h[0:], 5)
	be.PutUint16(h[2:], uint16(n))
	be.PutUint32(h[4:], uint32(e.nowMs-e.c.bootMs))
	be.PutUint32(h[8:], uint32(e.nowMs/1000))
	be.PutUint32(h[12:], uint32(e.nowMs%1000)*1e6)
	be.PutUint32(h[16:], e.seq)
	h[20] = 0                    // engine type
	h[21] = byte(e.c.domain)     // engine id
	rate := min(e.c.rate, 16383) // 14 bits
	be.PutUint16(h[22:], 2<<14|uint16(rate))
	e.seq += uint32(n)
	e.d.Data = e.buf
	e.send(&e.d)
	e.d = Datagram{}
	e.buf = e.buf[:v5Header]
}

// field is an information element and its length in a template.
type field struct{ id, len uint16 }

// The templates: one for IPv4 and one for IPv6 flows, in the same order as writeRecord writes.
var (
	v9Fields4 = []field{{1, 8}, {2, 8}, {22, 4}, {21, 4}, {8, 4}, {12, 4}, {7, 2}, {11, 2}, {4, 1}, {6, 1}, {5, 1},
		{10, 4}, {14, 4}, {16, 4}, {17, 4}, {9, 1}, {13, 1}, {32, 2}, {61, 1}}
	v9Fields6 = []field{{1, 8}, {2, 8}, {22, 4}, {21, 4}, {27, 16}, {28, 16}, {7, 2}, {11, 2}, {4, 1}, {6, 1}, {5, 1},
		{10, 4}, {14, 4}, {16, 4}, {17, 4}, {29, 1}, {30, 1}, {32, 2}, {61, 1}}
	ipfixFields4 = []field{{1, 8}, {2, 8}, {152, 8}, {153, 8}, {8, 4}, {12, 4}, {7, 2}, {11, 2}, {4, 1}, {6, 1}, {5, 1},
		{10, 4}, {14, 4}, {16, 4}, {17, 4}, {9, 1}, {13, 1}, {32, 2}, {61, 1}}
	ipfixFields6 = []field{{1, 8}, {2, 8}, {152, 8}, {153, 8}, {27, 16}, {28, 16}, {7, 2}, {11, 2}, {4, 1}, {6, 1}, {5, 1},
		{10, 4}, {14, 4}, {16, 4}, {17, 4}, {29, 1}, {30, 1}, {139, 2}, {61, 1}}
)

const (
	tplID4    = 256
	tplID6    = 257
	tplIDOpts = 258
)

func recordLen(fs []field) int {
	n := 0
	for _, f := range fs {
		n += int(f.len)
	}
	return n
}

// templateEncoder writes NetFlow v9 or IPFIX: a data set for IPv4 records and one for IPv6, and,
// on the first datagram and then every refresh interval, the two templates, an options template
// (scope: the system or observation domain; fields: sampling interval and algorithm) and its
// options data announcing the rate.
type templateEncoder struct {
	ipfix   bool
	c       encoderConfig
	send    func(*Datagram)
	rec4    []byte
	rec6    []byte
	n4, n6  int
	len4    int
	len6    int
	tpl     []byte // template and options sets, ready to copy
	tplRecs int    // records in tpl (v9 counts them in its header)
	tplData int    // data records in tpl (IPFIX sequence numbers count them)
	out     []byte
	d       Datagram
	nowMs   int64
	lastTpl int64
	sentTpl bool
	seq     uint32
}

func newTemplateEncoder(ipfix bool, c encoderConfig, send func(*Datagram)) *templateEncoder {
	e := &templateEncoder{ipfix: ipfix, c: c, send: send}
	f4, f6 := v9Fields4, v9Fields6
	if ipfix {
		f4, f6 = ipfixFields4, ipfixFields6
	}
	e.len4, e.len6 = recordLen(f4), recordLen(f6)
	e.tpl = e.templates(f4, f6)
	e.rec4 = make([]byte, 0, c.mtu)
	e.rec6 = make([]byte, 0, c.mtu)
	e.out = make([]byte, 0, c.mtu+len(e.tpl)+64)
	return e
}

// templates builds the template set, the options template set and the options data set.
func (e *templateEncoder) templates(f4, f6 []field) []byte {
	var b []byte
	u16 := func(v uint16) { b = be.AppendUint16(b, v) }
	tplSet, optSet := uint16(0), uint16(1)
	if e.ipfix {
		tplSet, optSet = 2, 3
	}
	start := len(b)
	u16(tplSet)
	u16(0)
	for _, t := range []struct {
		id uint16
		fs []field
	}{{tplID4, f4}, {tplID6, f6}} {
		u16(t.id)
		u16(uint16(len(t.fs)))
		for _, f := range t.fs {
			u16(f.id)
			u16(f.len)
		}
	}
	be.PutUint16(b[start+2:], uint16(len(b)-start))
	// Options template: scope (v9: system, IPFIX: observation domain), sampling interval (34)
	// and sampling algorithm (35, 2 = random).
	start = len(b)
	u16(optSet)
	u16(0)
	u16(tplIDOpts)
	if e.ipfix {
		u16(3) // field count
		u16(1) // scope field count
		u16(149)
		u16(4)
	} else {
		u16(4) // scope length in bytes
		u16(8) // options length in bytes
		u16(1) // scope: system
		u16(4)
	}
	u16(34)
	u16(4)
	u16(35)
	u16(1)
	for (len(b)-start)%4 != 0 {
		b = append(b, 0)
	}
	be.PutUint16(b[start+2:], uint16(len(b)-start))
	start = len(b)
	u16(tplIDOpts)
	u16(0)
	b = be.AppendUint32(b, e.c.domain)
	b = be.AppendUint32(b, e.c.rate)
	b = append(b, 2)
	for (len(b)-start)%4 != 0 {
		b = append(b, 0)
	}
	be.PutUint16(b[start+2:], uint16(len(b)-start))
	e.tplRecs, e.tplData = 4, 1
	return b
}

func (e *templateEncoder) setTime(nowMs int64) { e.nowMs = nowMs }
func (e *templateEncoder) skipped() uint64     { return 0 }

func (e *templateEncoder) headerLen() int {
	if e.ipfix {
		return 16
	}
	return 20
}

func (e *templateEncoder) add(r *flow.Record) {
	v6 := r.SrcAddr.Is6()
	n := e.len4
	if v6 {
		n = e.len6
	}
	// header, templates, two set headers with padding
	if e.headerLen()+len(e.tpl)+8+3+8+3+len(e.rec4)+len(e.rec6)+n > e.c.mtu {
		e.flush()
	}
	if v6 {
		o := len(e.rec6)
		e.rec6 = e.rec6[:o+n]
		e.writeRecord(e.rec6[o:], r, true)
		e.n6++
	} else {
		o := len(e.rec4)
		e.rec4 = e.rec4[:o+n]
		e.writeRecord(e.rec4[o:], r, false)
		e.n4++
	}
	e.d.Records++
	e.d.Packets += r.Packets
	e.d.Bytes += r.Bytes
}

func (e *templateEncoder) writeRecord(b []byte, r *flow.Record, v6 bool) {
	be.PutUint64(b[0:], r.Bytes)
	be.PutUint64(b[8:], r.Packets)
	o := 16
	if e.ipfix {
		be.PutUint64(b[16:], uint64(r.StartMs))
		be.PutUint64(b[24:], uint64(r.EndMs))
		o = 32
	} else {
		be.PutUint32(b[16:], uint32(r.StartMs-e.c.bootMs))
		be.PutUint32(b[20:], uint32(r.EndMs-e.c.bootMs))
		o = 24
	}
	if v6 {
		s, d := r.SrcAddr.As16(), r.DstAddr.As16()
		copy(b[o:], s[:])
		copy(b[o+16:], d[:])
		o += 32
	} else {
		s, d := r.SrcAddr.As4(), r.DstAddr.As4()
		copy(b[o:], s[:])
		copy(b[o+4:], d[:])
		o += 8
	}
	be.PutUint16(b[o:], r.SrcPort)
	be.PutUint16(b[o+2:], r.DstPort)
	b[o+4] = r.Proto
	b[o+5] = r.TCPFlags
	b[o+6] = r.ToS
	be.PutUint32(b[o+7:], r.InIf)
	be.PutUint32(b[o+11:], r.OutIf)
	be.PutUint32(b[o+15:], r.SrcAS)
	be.PutUint32(b[o+19:], r.DstAS)
	b[o+23] = r.SrcMask
	b[o+24] = r.DstMask
	var icmp uint16
	if r.Proto == 1 || r.Proto == 58 {
		icmp = uint16(r.ICMPType)<<8 | uint16(r.ICMPCode)
	}
	be.PutUint16(b[o+25:], icmp)
	b[o+27] = r.Direction - 1 // IE 61: 0 ingress, 1 egress
	if r.Direction == flow.DirectionUnknown {
		b[o+27] = 0
	}
}

func (e *templateEncoder) flush() {
	withTpl := !e.sentTpl || e.nowMs-e.lastTpl >= e.c.refreshMs
	if e.d.Records == 0 && !withTpl {
		return
	}
	b := e.out[:e.headerLen()]
	count := e.n4 + e.n6
	dataRecs := count
	if withTpl {
		b = append(b, e.tpl...)
		count += e.tplRecs
		dataRecs += e.tplData
		e.sentTpl, e.lastTpl = true, e.nowMs
	}
	for _, s := range []struct {
		id   uint16
		recs []byte
	}{{tplID4, e.rec4}, {tplID6, e.rec6}} {
		if len(s.recs) == 0 {
			continue
		}
		start := len(b)
		b = be.AppendUint16(b, s.id)
		b = be.AppendUint16(b, 0)
		b = append(b, s.recs...)
		for (len(b)-start)%4 != 0 {
			b = append(b, 0)
		}
		be.PutUint16(b[start+2:], uint16(len(b)-start))
	}
	if e.ipfix {
		be.PutUint16(b[0:], 10)
		be.PutUint16(b[2:], uint16(len(b)))
		be.PutUint32(b[4:], uint32(e.nowMs/1000))
		be.PutUint32(b[8:], e.seq)
		be.PutUint32(b[12:], e.c.domain)
		e.seq += uint32(dataRecs)
	} else {
		be.PutUint16(b[0:], 9)
		be.PutUint16(b[2:], uint16(count))
		be.PutUint32(b[4:], uint32(e.nowMs-e.c.bootMs))
		be.PutUint32(b[8:], uint32(e.nowMs/1000))
		be.PutUint32(b[12:], e.seq)
		be.PutUint32(b[16:], e.c.domain)
		e.seq++
	}
	e.out = b
	e.d.Data = b
	e.send(&e.d)
	e.d = Datagram{}
	e.rec4, e.rec6, e.n4, e.n6 = e.rec4[:0], e.rec6[:0], 0, 0
}
