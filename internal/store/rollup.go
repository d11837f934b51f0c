package store

import (
	"net/netip"
	"slices"

	"yocho/internal/flow"
	"yocho/internal/query"
)

// rollupColumns is the schema of roll-up files: the order rollupSelect writes too.
var rollupColumns = []rawColumn{
	{"time_ms", "BIGINT"},
	{"exporter_hi", "UBIGINT"}, {"exporter_lo", "UBIGINT"},
	{"in_if", "UINTEGER"}, {"out_if", "UINTEGER"},
	{"src_port", "USMALLINT"}, {"dst_port", "USMALLINT"},
	{"proto", "UTINYINT"},
	{"src_as", "UINTEGER"}, {"dst_as", "UINTEGER"},
	{"direction", "UTINYINT"},
	{"bytes", "UBIGINT"}, {"packets", "UBIGINT"}, {"flows", "UBIGINT"},
}

// wellKnown is query.WellKnownPort as a table.
var wellKnown = func() (t [65536]bool) {
	for p := range t {
		t[p] = query.WellKnownPort(uint64(p))
	}
	return t
}()

// rollupKey is one group of a roll-up: a bucket and the values of query.RollupFields, packed
// into words (the exporter as an index into rollup.exporters).
type rollupKey struct {
	timeMs   int64
	exporter uint64 // index into rollup.exporters
	ifs      uint64 // in_if<<32 | out_if
	as       uint64 // src_as<<32 | dst_as
	misc     uint64 // src_port<<48 | dst_port<<32 | proto<<8 | direction
}

// rollupEntry is one slot of a table: a group and its sums. flows == 0 marks a free slot.
type rollupEntry struct {
	k                     rollupKey
	bytes, packets, flows uint64
}

// rollupTable sums the groups of one bucket: an open-addressing hash table (linear probing).
// One table per bucket keeps the memory a run of flows touches small: flows arrive roughly in
// time order, so the tables of the current buckets stay in cache.
type rollupTable struct {
	slots []rollupEntry // len is a power of two
	shift uint          // 64 - log2(len(slots)): a slot is the top bits of the hash
	n     int           // used slots
}

const minTableBits = 6

func newRollupTable() *rollupTable {
	return &rollupTable{slots: make([]rollupEntry, 1<<minTableBits), shift: 64 - minTableBits}
}

// rollup sums flows into groups, one table per bucket. Tables are reused from flush to flush, so
// that summing a flow allocates nothing once they have grown to the traffic.
type rollup struct {
	seed    uint64 // differs between roll-ups: see coarsenInto
	buckets map[int64]*rollupTable
	free    []*rollupTable
	// exporters interned: groups name them by index; the last few are scanned before the map.
	exporters []netip.Addr
	expIndex  map[netip.Addr]uint64
	// the table of the bucket last summed into
	lastTime  int64
	lastTable *rollupTable
}

func newRollup(seed uint64) *rollup {
	return &rollup{seed: seed, buckets: map[int64]*rollupTable{}, expIndex: map[netip.Addr]uint64{}}
}

// reset empties r, keeping its tables for reuse and its exporters.
func (r *rollup) reset() {
	for tm, t := range r.buckets {
		clear(t.slots)
		t.n = 0
		r.free = append(r.free, t)
		delete(r.buckets, tm)
	}
	r.lastTable = nil
}

// groups is the number of groups summed.
func (r *rollup) groups() int {
	n := 0
	for _, t := range r.buckets {
		n += t.n
	}
	return n
}

// table is the table of bucket tm.
func (r *rollup) table(tm int64) *rollupTable {
	if r.lastTable != nil && r.lastTime == tm {
		return r.lastTable
	}
	t := r.buckets[tm]
	if t == nil {
		if n := len(r.free); n > 0 {
			t = r.free[n-1]
			r.free = r.free[:n-1]
		} else {
			t = newRollupTable()
		}
		r.buckets[tm] = t
	}
	r.lastTime, r.lastTable = tm, t
	return t
}

func (r *rollup) exporterIndex(a netip.Addr) uint64 {
	if len(r.exporters) <= 16 {
		for i, e := range r.exporters {
			if e == a {
				return uint64(i)
			}
		}
	} else if i, ok := r.expIndex[a]; ok {
		return i
	}
	i := uint64(len(r.exporters))
	r.exporters = append(r.exporters, a)
	r.expIndex[a] = i
	return i
}

// hash mixes every word of k; its top bits are well spread (multiplicative hashing).
func (k *rollupKey) hash(seed uint64) uint64 {
	const m = 0x9E3779B97F4A7C15
	h := (uint64(k.timeMs) ^ k.exporter<<40 ^ seed) * m
	h = (h ^ h>>31 ^ k.ifs) * m
	h = (h ^ h>>31 ^ k.as) * m
	h = (h ^ h>>31 ^ k.misc) * m
	return h ^ h>>29
}

// sum adds the sums to the group k.
func (t *rollupTable) sum(k *rollupKey, seed, bytes, packets, flows uint64) {
	if 4*(t.n+1) > 3*len(t.slots) {
		t.grow(seed)
	}
	mask := uint64(len(t.slots) - 1)
	for i := k.hash(seed) >> t.shift; ; i = (i + 1) & mask {
		e := &t.slots[i]
		if e.flows == 0 {
			e.k = *k
			e.bytes, e.packets, e.flows = bytes, packets, flows
			t.n++
			return
		}
		if e.k == *k {
			e.bytes += bytes
			e.packets += packets
			e.flows += flows
			return
		}
	}
}

// reserve makes room for n groups in an empty table without growing.
func (t *rollupTable) reserve(n int) {
	size, shift := len(t.slots), t.shift
	for 4*n > 3*size {
		size, shift = 2*size, shift-1
	}
	if size != len(t.slots) {
		t.slots, t.shift = make([]rollupEntry, size), shift
	}
}

func (t *rollupTable) grow(seed uint64) {
	old := t.slots
	t.slots = make([]rollupEntry, 2*len(old))
	t.shift--
	t.n = 0
	for i := range old {
		if e := &old[i]; e.flows != 0 {
			t.sum(&e.k, seed, e.bytes, e.packets, e.flows)
		}
	}
}

// addBatch sums the flows of b into 1-minute groups.
func (r *rollup) addBatch(b *flow.Batch) {
	var lastExp netip.Addr
	var lastIdx uint64
	haveLast := false
	for i := range b.Len() {
		rate := uint64(b.SamplingRate[i])
		if rate == 0 {
			rate = 1
		}
		var k rollupKey
		k.timeMs = b.StartMs[i] - mod(b.StartMs[i], 60000)
		if e := b.Exporter[i]; haveLast && e == lastExp {
			k.exporter = lastIdx
		} else {
			lastExp, lastIdx, haveLast = e, r.exporterIndex(e), true
			k.exporter = lastIdx
		}
		k.ifs = uint64(b.InIf[i])<<32 | uint64(b.OutIf[i])
		k.as = uint64(b.SrcAS[i])<<32 | uint64(b.DstAS[i])
		var sp, dp uint64
		if p := b.SrcPort[i]; wellKnown[p] {
			sp = uint64(p)
		}
		if p := b.DstPort[i]; wellKnown[p] {
			dp = uint64(p)
		}
		k.misc = sp<<48 | dp<<32 | uint64(b.Proto[i])<<8 | uint64(b.Direction[i])
		r.table(k.timeMs).sum(&k, r.seed, b.Bytes[i]*rate, b.Packets[i]*rate, 1)
	}
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// sortedBuckets is the bucket times of r in ascending order.
func (r *rollup) sortedBuckets() []int64 {
	times := make([]int64, 0, len(r.buckets))
	for tm := range r.buckets {
		times = append(times, tm)
	}
	slices.Sort(times)
	return times
}

// coarsenInto empties dst and sums r into it in buckets of ms milliseconds. The roll-ups must
// hash with different seeds: inserting in the slot order of a table hashed alike would build long
// runs.
func (r *rollup) coarsenInto(dst *rollup, ms int64) {
	dst.reset()
	dst.exporters, dst.expIndex = r.exporters, r.expIndex
	// size each table for its largest source, a lower bound of its groups: less growth while
	// summing, and never more memory than it ends up needing (the sum of the sources could be
	// many times that when groups repeat from bucket to bucket)
	need := map[int64]int{}
	for tm, t := range r.buckets {
		to := tm - mod(tm, ms)
		need[to] = max(need[to], t.n)
	}
	for tm, n := range need {
		dst.table(tm).reserve(n)
	}
	for _, tm := range r.sortedBuckets() {
		src := r.buckets[tm]
		to := tm - mod(tm, ms)
		d := dst.table(to)
		for i := range src.slots {
			if e := &src.slots[i]; e.flows != 0 {
				k := e.k
				k.timeMs = to
				d.sum(&k, dst.seed, e.bytes, e.packets, e.flows)
			}
		}
	}
}

// rollupPart is the groups of one partition, sorted by time.
type rollupPart struct {
	start int64 // partition start, Unix ms
	rows  []rollupEntry
}

// byPartition lists the groups of r by the partition of tier t their bucket falls in, each
// sorted by time, in partition order. The rows live in *buf, reused between calls.
func (r *rollup) byPartition(t query.Tier, buf *[]rollupEntry) []rollupPart {
	if g := r.groups(); cap(*buf) < g {
		*buf = make([]rollupEntry, 0, g+g/4)
	}
	rows := (*buf)[:0]
	var out []rollupPart
	first := 0
	times := r.sortedBuckets()
	for i, tm := range times {
		for _, e := range r.buckets[tm].slots {
			if e.flows != 0 {
				rows = append(rows, e)
			}
		}
		p := partitionOf(t, tm)
		if i+1 == len(times) || partitionOf(t, times[i+1]) != p {
			out = append(out, rollupPart{start: p, rows: rows[first:len(rows):len(rows)]})
			first = len(rows)
		}
	}
	*buf = rows
	return out
}

// writeRollup writes rows as a roll-up chunk file; exporters resolves the exporter indexes.
// u64 is scratch.
func writeRollup(path string, rows []rollupEntry, exporters []netip.Addr, sc *pqScratch, u64 []uint64) error {
	if cap(u64) < len(rows) {
		u64 = make([]uint64, len(rows))
	}
	v := u64[:len(rows)]
	expHi := make([]uint64, len(exporters))
	expLo := make([]uint64, len(exporters))
	for i, e := range exporters {
		expHi[i], expLo[i] = query.EncodeAddr(e)
	}
	return writeParquet(path, rollupColumns, sc, func(col int, w *pqWriter) {
		switch col {
		case 0:
			for i := range rows {
				v[i] = uint64(rows[i].k.timeMs)
			}
		case 1:
			for i := range rows {
				v[i] = expHi[rows[i].k.exporter]
			}
		case 2:
			for i := range rows {
				v[i] = expLo[rows[i].k.exporter]
			}
		case 3:
			for i := range rows {
				v[i] = rows[i].k.ifs >> 32
			}
		case 4:
			for i := range rows {
				v[i] = rows[i].k.ifs & 0xffffffff
			}
		case 5:
			for i := range rows {
				v[i] = rows[i].k.misc >> 48
			}
		case 6:
			for i := range rows {
				v[i] = rows[i].k.misc >> 32 & 0xffff
			}
		case 7:
			for i := range rows {
				v[i] = rows[i].k.misc >> 8 & 0xff
			}
		case 8:
			for i := range rows {
				v[i] = rows[i].k.as >> 32
			}
		case 9:
			for i := range rows {
				v[i] = rows[i].k.as & 0xffffffff
			}
		case 10:
			for i := range rows {
				v[i] = rows[i].k.misc & 0xff
			}
		case 11:
			for i := range rows {
				v[i] = rows[i].bytes
			}
		case 12:
			for i := range rows {
				v[i] = rows[i].packets
			}
		case 13:
			for i := range rows {
				v[i] = rows[i].flows
			}
		}
		w.values(v)
	})
}
