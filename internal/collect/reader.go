package collect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"yocho/internal/flow"
)

// Reasons a datagram is rejected by the collector itself, before any decoder (the decoders'
// own reasons are in their DecodeError).
const (
	ReasonTruncated  = "truncated"   // shorter than any version field
	ReasonBadVersion = "bad-version" // neither NetFlow v5/v9, IPFIX nor sFlow v5
	ReasonPanic      = "decoder-panic"
	ReasonTooLarge   = "too-large" // larger than the read buffer
	ReasonOther      = "other"     // a decoder error that is not a *flow.DecodeError
)

// maxDatagram is the largest UDP payload.
const maxDatagram = 65535

// reader owns one socket: it reads, decodes into its batch and hands the batch out.
type reader struct {
	c         *Collector
	conn      *net.UDPConn
	consumers []flow.Consumer
	table     *table
	in        *batchReader
	batch     *flow.Batch

	armed    bool      // a read deadline is set, for the batch's first record
	deadline time.Time // when the current batch must go

	lastKey netip.Addr // the exporter of the previous datagram, and its counters
	last    *counters
}

func (c *Collector) newReader(s *socket, consumers []flow.Consumer) (*reader, error) {
	in, err := newBatchReader(s.conn)
	if err != nil {
		return nil, err
	}
	return &reader{
		c:         c,
		conn:      s.conn,
		consumers: consumers,
		table:     c.reg.newTable(),
		in:        in,
		batch:     c.pool.Get(),
	}, nil
}

// run reads until the socket is closed, then hands out what is left.
func (r *reader) run() {
	defer r.flush()
	for {
		n, err := r.in.read()
		if err != nil {
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				r.flush()
			case errors.Is(err, net.ErrClosed):
				return
			default:
				r.c.readErrors.Add(1)
			}
			continue
		}
		now := time.Now()
		nowMs := now.UnixMilli()
		for i := range n {
			pkt, from, cut := r.in.datagram(i)
			if cut { // cannot happen with 64 KiB buffers; counted if it ever does
				r.counters(from.Addr().Unmap()).addError(ReasonTooLarge)
				continue
			}
			r.handle(pkt, from, nowMs)
			if r.batch.Len() >= r.c.cfg.BatchRecords {
				r.flush()
			}
		}
		switch {
		case r.armed && !now.Before(r.deadline):
			r.flush()
		case !r.armed && r.batch.Len() > 0:
			r.deadline = now.Add(r.c.cfg.FlushInterval)
			_ = r.conn.SetReadDeadline(r.deadline)
			r.armed = true
		}
	}
}

// flush hands the batch to every consumer, then takes a fresh one from the pool.
func (r *reader) flush() {
	if r.armed {
		_ = r.conn.SetReadDeadline(time.Time{})
		r.armed = false
	}
	if r.batch.Len() == 0 {
		return
	}
	for _, c := range r.consumers {
		c.Consume(r.batch)
	}
	r.c.batches.Add(1)
	r.c.pool.Put(r.batch)
	r.batch = r.c.pool.Get()
}

// counters returns the counters of exporter a, remembering the last one asked.
func (r *reader) counters(a netip.Addr) *counters {
	if r.last == nil || a != r.lastKey {
		r.lastKey, r.last = a, r.table.get(a)
	}
	return r.last
}

// handle decodes one datagram into the batch and counts it.
func (r *reader) handle(pkt []byte, from netip.AddrPort, nowMs int64) {
	src := from.Addr().Unmap()
	proto := protocolOf(pkt)
	key := src
	if proto == protoSFlow5 && !r.c.cfg.SFlowExporterFromSource {
		if agent, ok := sflowAgent(pkt); ok {
			key = agent
		}
	}
	ec := r.counters(key)
	ec.packets[proto].Add(1)
	ec.lastSeenMs.Store(nowMs)
	dec := r.c.decoders[proto]
	if dec == nil {
		if len(pkt) < 4 {
			ec.addError(ReasonTruncated)
		} else {
			ec.addError(ReasonBadVersion)
		}
		return
	}
	start := r.batch.Len()
	if reason := r.decode(dec, src, nowMs, pkt); reason != "" {
		ec.addError(reason)
	}
	r.applySampling(start, src)
}

// decode runs the decoder and returns the reason of its error, if any. A panicking decoder
// loses the datagram, not the collector.
func (r *reader) decode(dec flow.Decoder, src netip.Addr, nowMs int64, pkt []byte) (reason string) {
	start := r.batch.Len()
	defer func() {
		if p := recover(); p != nil {
			r.c.log.Error("decoder panic", "exporter", src.String(), "panic", fmt.Sprint(p))
			r.batch.Truncate(start)
			reason = ReasonPanic
		}
	}()
	err := dec.Decode(src, nowMs, pkt, r.batch)
	if err == nil {
		return ""
	}
	if de, ok := err.(*flow.DecodeError); ok {
		return de.Reason
	}
	var de *flow.DecodeError
	if errors.As(err, &de) {
		return de.Reason
	}
	return ReasonOther
}

// applySampling sets the sampling rate of records start.. of the batch by the policy (an
// override wins, else the rate the decoder found, else the default) and counts them by exporter.
func (r *reader) applySampling(start int, src netip.Addr) {
	b := r.batch
	n := b.Len()
	if start >= n {
		return
	}
	var (
		cur                           *counters
		curAddr                       netip.Addr
		override                      uint32
		flows, bytes, pkts, unknownSR uint64
	)
	for i := start; i < n; i++ {
		a := b.Exporter[i]
		if !a.IsValid() {
			a = src
			b.Exporter[i] = src
		}
		if cur == nil || a != curAddr {
			if cur != nil {
				cur.add(flows, bytes, pkts, unknownSR)
				flows, bytes, pkts, unknownSR = 0, 0, 0, 0
			}
			curAddr, cur = a, r.counters(a)
			override = r.c.cfg.Overrides[a]
		}
		rate := override
		if rate == 0 {
			rate = b.SamplingRate[i]
			if rate == 0 {
				rate = r.c.cfg.DefaultSamplingRate
				unknownSR++
			}
		}
		b.SamplingRate[i] = rate
		cur.noteRate(rate)
		flows++
		bytes += b.Bytes[i] * uint64(rate)
		pkts += b.Packets[i] * uint64(rate)
	}
	cur.add(flows, bytes, pkts, unknownSR)
}

func (c *counters) add(flows, bytes, pkts, unknownSR uint64) {
	c.flows.Add(flows)
	c.bytes.Add(bytes)
	c.flowPackets.Add(pkts)
	if unknownSR != 0 {
		c.unknownRate.Add(unknownSR)
	}
}

// protocolOf reads the version field: 16 bits for NetFlow and IPFIX, 32 bits for sFlow.
func protocolOf(p []byte) protocol {
	if len(p) < 4 {
		return protoUnknown
	}
	switch binary.BigEndian.Uint16(p) {
	case 5:
		return protoNetFlow5
	case 9:
		return protoNetFlow9
	case 10:
		return protoIPFIX
	}
	if binary.BigEndian.Uint32(p) == 5 {
		return protoSFlow5
	}
	return protoUnknown
}

// sflowAgent reads the agent address of an sFlow v5 datagram; false when it has none.
func sflowAgent(p []byte) (netip.Addr, bool) {
	if len(p) < 12 {
		return netip.Addr{}, false
	}
	var a netip.Addr
	switch binary.BigEndian.Uint32(p[4:]) {
	case 1:
		a = netip.AddrFrom4([4]byte(p[8:12]))
	case 2:
		if len(p) < 24 {
			return netip.Addr{}, false
		}
		a = netip.AddrFrom16([16]byte(p[8:24])).Unmap()
	default:
		return netip.Addr{}, false
	}
	if a.IsUnspecified() {
		return netip.Addr{}, false
	}
	return a, true
}
