package cnc

// Exporters cut a long connection into a record per active timeout (60–1800 s on real
// routers), each starting where the previous one ended, with no SYN and, for a steady stream,
// of the same size: counted as contacts they would look like a perfect beacon and make a busy
// server's contacts look alike. The connection table remembers, for recent long records, their
// connection (client, server endpoint, client port) and end, so that a record continuing one is
// not counted as a new contact, for pairs as for endpoints, sampled or not.

const (
	// connGapS is the most seconds between a connection's record's end and the start of the
	// next one that continues it.
	connGapS = 2
	// connSampledGapS is the same for sampled records: a sampled connection's records have gaps
	// where no packet was sampled, so any record from the same client port within a minute,
	// without SYN, continues it (a new connection would take a new port).
	connSampledGapS = 60
	// connMinMs is the shortest record remembered: an active timeout's cut lasts about the
	// timeout; most short flows' single record is done within it and needs no entry.
	connMinMs = 4000
	// connMinEntries and connMaxEntries bound the table (8 bytes an entry).
	connMinEntries = 1 << 12
	connMaxEntries = 1 << 20
)

// connEntries is the number of entries of the connection table for c: a power of two about
// MaxPairs, within bounds.
func connEntries(c Config) int {
	n := connMinEntries
	for n < c.MaxPairs && n < connMaxEntries {
		n *= 2
	}
	return n
}

// connHash spreads a client → server record's connection (client, endpoint, client port).
func connHash(x *work) uint64 {
	return mix64(x.ch ^ x.h*0x9e3779b97f4a7c15 ^ uint64(x.cport)*0xc2b2ae3d27d4eb4f)
}

// continues tells whether the client → server record x continues a connection whose earlier
// record the table holds: a TCP or UDP record from the same client port to the same endpoint
// starting at most connGapS (connSampledGapS when x is sampled) after that record's end (or overlapping it: the same record from a
// second exporter), with no SYN. It remembers x's end when x continues one or lasts connMinMs.
// The table is direct-mapped: a connection pushed out by another only costs a contact counted.
func (e *Engine) continues(x *work, sampled bool) bool {
	if x.k.proto != 6 && x.k.proto != 17 {
		return false
	}
	h := connHash(x)
	c := &e.conns[h&e.connMask]
	tag := h >> 32
	endS := uint32((x.end + 999) / 1000)
	if *c>>32 == tag && !x.syn {
		prev := uint32(*c)
		gap := int32(uint32(x.ms/1000) - prev) // wrap-safe: times are 32-bit seconds
		maxGap := int32(connGapS)
		if sampled {
			maxGap = connSampledGapS
		}
		if gap <= maxGap && int32(prev-endS) <= connGapS {
			if int32(endS-prev) > 0 {
				*c = tag<<32 | uint64(endS)
			}
			return true
		}
	}
	if x.end-x.ms >= connMinMs {
		*c = tag<<32 | uint64(endS)
	}
	return false
}
