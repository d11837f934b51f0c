package simulate

import (
	"yocho/internal/flow"
)

const (
	sflowHeader     = 28
	sflowMaxSamples = 10
	ethOverhead     = 18 // Ethernet header and FCS around an IP packet
)

// sflowEncoder writes sFlow v5: one flow sample per sampled packet, each with a raw packet
// header record holding a synthesized Ethernet, IP and transport header. A record of k packets
// becomes k samples sharing its bytes.
type sflowEncoder struct {
	c       encoderConfig
	send    func(*Datagram)
	buf     []byte
	d       Datagram
	nowMs   int64
	n       int
	seq     uint32     // datagrams
	pool    [64]uint32 // packets seen per source id (ifIndex), as sample_pool
	sampleN [64]uint32 // samples per source id
}

func newSFlowEncoder(c encoderConfig, send func(*Datagram)) *sflowEncoder {
	return &sflowEncoder{c: c, send: send, buf: make([]byte, sflowHeader, c.mtu+256)}
}

func (e *sflowEncoder) setTime(nowMs int64) { e.nowMs = nowMs }
func (e *sflowEncoder) skipped() uint64     { return 0 }

func (e *sflowEncoder) add(r *flow.Record) {
	k := r.Packets
	if k == 0 {
		return
	}
	size := r.Bytes / k
	extra := r.Bytes % k
	for i := uint64(0); i < k; i++ {
		s := size
		if i < extra {
			s++
		}
		e.sample(r, int(s))
	}
}

// sample writes one flow sample of a packet of ipLen IP bytes.
func (e *sflowEncoder) sample(r *flow.Record, ipLen int) {
	v6 := r.SrcAddr.Is6()
	l4 := 8
	if r.Proto == 6 {
		l4 = 20
	}
	ipHdr := 20
	if v6 {
		ipHdr = 40
	}
	ipLen = max(ipLen, ipHdr+l4)
	hdrLen := 14 + ipHdr + l4
	padded := (hdrLen + 3) &^ 3
	o := len(e.buf)
	total := 8 + 32 + 24 + padded
	e.buf = e.buf[:o+total]
	b := e.buf[o:]
	src := r.InIf & 63
	e.pool[src] += e.c.rate
	e.sampleN[src]++
	be.PutUint32(b[0:], 1) // enterprise 0, flow sample
	be.PutUint32(b[4:], uint32(total-8))
	be.PutUint32(b[8:], e.sampleN[src])
	be.PutUint32(b[12:], r.InIf) // source id: class 0, the input ifIndex
	be.PutUint32(b[16:], e.c.rate)
	be.PutUint32(b[20:], e.pool[src])
	be.PutUint32(b[24:], 0) // drops
	be.PutUint32(b[28:], r.InIf)
	be.PutUint32(b[32:], r.OutIf)
	be.PutUint32(b[36:], 1) // one record
	be.PutUint32(b[40:], 1) // raw packet header
	be.PutUint32(b[44:], uint32(16+padded))
	be.PutUint32(b[48:], 1) // Ethernet
	frame := ipLen + ethOverhead
	be.PutUint32(b[52:], uint32(frame))
	be.PutUint32(b[56:], 4) // FCS stripped
	be.PutUint32(b[60:], uint32(hdrLen))
	h := b[64 : 64+padded]
	clear(h)
	// Ethernet
	copy(h[0:6], []byte{0x02, 0, 0, 0, 0, 0x02})
	copy(h[6:12], []byte{0x02, 0, 0, 0, 0, 0x01})
	if v6 {
		be.PutUint16(h[12:], 0x86dd)
		ip := h[14:]
		ip[0] = 0x60 | r.ToS>>4
		ip[1] = r.ToS << 4
		be.PutUint16(ip[4:], uint16(ipLen-40))
		ip[6] = r.Proto
		if r.Proto == 1 {
			ip[6] = 58
		}
		ip[7] = 64
		s, d := r.SrcAddr.As16(), r.DstAddr.As16()
		copy(ip[8:], s[:])
		copy(ip[24:], d[:])
		e.transport(ip[40:], r, ipLen-40, ip[6])
	} else {
		be.PutUint16(h[12:], 0x0800)
		ip := h[14:]
		ip[0] = 0x45
		ip[1] = r.ToS
		be.PutUint16(ip[2:], uint16(ipLen))
		be.PutUint16(ip[4:], uint16(e.sampleN[src]))
		ip[8] = 64
		ip[9] = r.Proto
		s, d := r.SrcAddr.As4(), r.DstAddr.As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
		be.PutUint16(ip[10:], ipChecksum(ip[:20]))
		e.transport(ip[20:], r, ipLen-20, r.Proto)
	}
	e.n++
	e.d.Records++
	e.d.Packets++
	e.d.Bytes += uint64(frame)
	if e.n == sflowMaxSamples || len(e.buf)+total > e.c.mtu {
		e.flush()
	}
}

func (e *sflowEncoder) transport(t []byte, r *flow.Record, l4Len int, proto uint8) {
	switch proto {
	case 6:
		be.PutUint16(t[0:], r.SrcPort)
		be.PutUint16(t[2:], r.DstPort)
		be.PutUint32(t[4:], 0x10000000)
		t[12] = 5 << 4
		t[13] = r.TCPFlags
		be.PutUint16(t[14:], 65535)
	case 17:
		be.PutUint16(t[0:], r.SrcPort)
		be.PutUint16(t[2:], r.DstPort)
		be.PutUint16(t[4:], uint16(l4Len))
	case 1, 58:
		t[0] = r.ICMPType
		if proto == 58 && r.ICMPType == 8 {
			t[0] = 128 // echo request
		}
		t[1] = r.ICMPCode
	}
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func (e *sflowEncoder) flush() {
	if e.n == 0 {
		return
	}
	h := e.buf[:sflowHeader]
	be.PutUint32(h[0:], 5)
	be.PutUint32(h[4:], 1) // IPv4 agent
	a := e.c.agent.As4()
	copy(h[8:], a[:])
	be.PutUint32(h[12:], e.c.domain)
	e.seq++
	be.PutUint32(h[16:], e.seq)
	be.PutUint32(h[20:], uint32(e.nowMs-e.c.bootMs))
	be.PutUint32(h[24:], uint32(e.n))
	e.d.Data = e.buf
	e.send(&e.d)
	e.d = Datagram{}
	e.n = 0
	e.buf = e.buf[:sflowHeader]
}
