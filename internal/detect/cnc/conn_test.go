package cnc

import (
	"net/netip"
	"testing"

	"yocho/internal/flow"
)

// TestLongFlowsAreNotBeacons feeds long connections (an hour to four, steady rate) of several
// clients to one server, cut by the exporter at its active timeout into records that each start
// where the previous one ended, as routers export them: they are a handful of contacts, not a
// beacon, nor hundreds of alike contacts (the packets, all full-sized, stay alike).
func TestLongFlowsAreNotBeacons(t *testing.T) {
	srv := ext(7)
	for _, tc := range []struct {
		name    string
		rate    uint32
		activeS int64
	}{
		{"unsampled, 60 s timeout", 1, 60},
		{"unsampled, 10 s timeout", 1, 10},
		{"sampled 1:1000, 60 s timeout", 1000, 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, nil, Deps{})
			const clients = 6
			b := flow.NewBatch(4096)
			step := tc.activeS * 1000
			for h := int64(0); h < 24; h += 4 {
				for c := range clients {
					start := t0 + h*3600000 + int64(c)*7919
					dur := int64(3600000 + c*2700000/clients)
					port := uint16(40000 + h*100 + int64(c))
					for ms := start; ms < start+dur; ms += step {
						end := min(ms+step, start+dur)
						pk := uint64(end-ms) * 100 / 1000 / uint64(tc.rate) // 100 pkt/s
						if pk == 0 {
							continue // nothing sampled in this window
						}
						flags := uint8(0x18)
						if ms == start {
							flags = 0x1a // the connection's first record has its SYN
						}
						r := flow.Record{StartMs: ms, EndMs: end, ReceivedMs: end, SrcAddr: sub(c), DstAddr: srv,
							SrcPort: port, DstPort: 443, Proto: 6, TCPFlags: flags, Packets: pk, Bytes: pk * 1400, SamplingRate: tc.rate}
						b.Append(&r)
						r.SrcAddr, r.DstAddr, r.SrcPort, r.DstPort = srv, sub(c), 443, port
						b.Append(&r)
						if b.Len() >= 4000 {
							e.Consume(b)
							b.Reset()
						}
					}
				}
			}
			e.Consume(b)
			e.Flush()
			c := find(t, e, srv, 443)
			conns := uint64(clients * 6)
			if c.Contacts > conns {
				t.Errorf("%d contacts counted for %d connections", c.Contacts, conns)
			}
			if c.Score >= e.cfg.AlertScore || c.Parts[PartBeacon] > 0 {
				t.Errorf("long flows score %.1f (beacon %.1f): %v", c.Score, c.Parts[PartBeacon], c.Evidence)
			}
		})
	}
}

// TestContinuationRule checks which records continue an earlier one of the same connection.
func TestContinuationRule(t *testing.T) {
	srv := ext(9)
	base := flow.Record{StartMs: t0, EndMs: t0 + 60000, ReceivedMs: t0 + 60000, SrcAddr: sub(1), DstAddr: srv,
		SrcPort: 41000, DstPort: 443, Proto: 6, TCPFlags: 0x1a, Packets: 100, Bytes: 140000, SamplingRate: 1}
	for _, tc := range []struct {
		name string
		mod  func(r *flow.Record)
		want uint64 // contacts after the base record and this one
	}{
		{"next cut", func(r *flow.Record) {}, 1},
		{"next cut, 2 s late", func(r *flow.Record) { r.StartMs += 2000 }, 1},
		{"same record from a second exporter", func(r *flow.Record) { r.StartMs, r.EndMs = t0, t0+60000 }, 1},
		{"UDP next cut", func(r *flow.Record) { r.Proto = 17 }, 1},
		{"a new connection: SYN", func(r *flow.Record) { r.TCPFlags = 0x1a }, 2},
		{"another client port", func(r *flow.Record) { r.SrcPort++ }, 2},
		{"another client", func(r *flow.Record) { r.SrcAddr = sub(2) }, 2},
		{"a minute later", func(r *flow.Record) { r.StartMs += 60000 }, 2},
		{"sampled, a window without packets", func(r *flow.Record) { r.StartMs += 50000; r.SamplingRate = 1000 }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, nil, Deps{})
			first := base
			if tc.name == "UDP next cut" {
				first.Proto, first.TCPFlags = 17, 0
			}
			next := first
			next.StartMs, next.EndMs, next.TCPFlags = first.EndMs, first.EndMs+60000, first.TCPFlags&^tcpSYN
			tc.mod(&next)
			next.EndMs = max(next.EndMs, next.StartMs)
			b := flow.NewBatch(2)
			b.Append(&first)
			b.Append(&next)
			e.Consume(b)
			a, _ := netip.AddrFromSlice(srv.AsSlice())
			if got := find(t, e, a, 443).Contacts; got != tc.want {
				t.Errorf("%d contacts, want %d", got, tc.want)
			}
		})
	}
}
