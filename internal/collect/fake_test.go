package collect

import (
	"encoding/binary"
	"net/netip"
	"sync"

	"yocho/internal/flow"
)

// fakeDecoder decodes a made-up export format, so that the collector is tested without the real
// decoders (test/e2e runs those):
//
//	NetFlow-like: version u16 (5, 9 or 10), count u16, then count records
//	sFlow-like:   version u32 (5), agent type u32 (1), agent IPv4, count u32, then count records
//	record:       bytes u32, packets u32, sampling rate u32 (0 = none), src port u16, dst port u16
//
// A record cut short is a "truncated" DecodeError; a count of 0xdead makes it panic.
type fakeDecoder struct {
	sflow bool

	mu    sync.Mutex
	state map[netip.Addr]flow.ExporterState
}

const fakeRecordLen = 16

func (d *fakeDecoder) Decode(exporter netip.Addr, receivedMs int64, p []byte, out *flow.Batch) error {
	var count, off int
	if d.sflow {
		if len(p) < 16 {
			return &flow.DecodeError{Reason: "truncated"}
		}
		exporter = netip.AddrFrom4([4]byte(p[8:12]))
		count, off = int(binary.BigEndian.Uint32(p[12:])), 16
	} else {
		if len(p) < 4 {
			return &flow.DecodeError{Reason: "truncated"}
		}
		count, off = int(binary.BigEndian.Uint16(p[2:])), 4
	}
	if count == 0xdead {
		panic("fake decoder told to panic")
	}
	for range count {
		if len(p)-off < fakeRecordLen {
			return &flow.DecodeError{Reason: "truncated"}
		}
		r := flow.Record{
			ReceivedMs:   receivedMs,
			Exporter:     exporter,
			Bytes:        uint64(binary.BigEndian.Uint32(p[off:])),
			Packets:      uint64(binary.BigEndian.Uint32(p[off+4:])),
			SamplingRate: binary.BigEndian.Uint32(p[off+8:]),
			SrcPort:      binary.BigEndian.Uint16(p[off+12:]),
			DstPort:      binary.BigEndian.Uint16(p[off+14:]),
		}
		out.Append(&r)
		off += fakeRecordLen
	}
	return nil
}

func (d *fakeDecoder) ExporterState(a netip.Addr) flow.ExporterState {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state[a]
}

func (d *fakeDecoder) setState(a netip.Addr, s flow.ExporterState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state == nil {
		d.state = make(map[netip.Addr]flow.ExporterState)
	}
	d.state[a] = s
}

// fakeRec is one record of the fake format.
type fakeRec struct {
	bytes, packets, rate uint32
	srcPort, dstPort     uint16
}

// fakeNetFlow encodes records with the given NetFlow-like version.
func fakeNetFlow(version uint16, recs ...fakeRec) []byte {
	p := binary.BigEndian.AppendUint16(nil, version)
	p = binary.BigEndian.AppendUint16(p, uint16(len(recs)))
	return appendFakeRecs(p, recs)
}

// fakeSFlow encodes records from an sFlow-like agent.
func fakeSFlow(agent netip.Addr, recs ...fakeRec) []byte {
	p := binary.BigEndian.AppendUint32(nil, 5)
	p = binary.BigEndian.AppendUint32(p, 1)
	p = append(p, agent.AsSlice()...)
	p = binary.BigEndian.AppendUint32(p, uint32(len(recs)))
	return appendFakeRecs(p, recs)
}

func appendFakeRecs(p []byte, recs []fakeRec) []byte {
	for _, r := range recs {
		p = binary.BigEndian.AppendUint32(p, r.bytes)
		p = binary.BigEndian.AppendUint32(p, r.packets)
		p = binary.BigEndian.AppendUint32(p, r.rate)
		p = binary.BigEndian.AppendUint16(p, r.srcPort)
		p = binary.BigEndian.AppendUint16(p, r.dstPort)
	}
	return p
}

// recorder is a consumer that copies every record it is handed.
type recorder struct {
	mu      sync.Mutex
	records []flow.Record
	batches int
	block   chan struct{} // when set, Consume waits for it to close
}

func (c *recorder) Consume(b *flow.Batch) {
	if c.block != nil {
		<-c.block
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches++
	for i := range b.Len() {
		c.records = append(c.records, b.Record(i))
	}
}

func (c *recorder) snapshot() []flow.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]flow.Record(nil), c.records...)
}
