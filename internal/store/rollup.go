package store

import (
	"sort"

	"yocho/internal/flow"
	"yocho/internal/query"
)

// rollupKey is one group of a roll-up: a bucket and the values of query.RollupFields.
type rollupKey struct {
	timeMs                 int64
	exporterHi, exporterLo uint64
	inIf, outIf            uint32
	srcPort, dstPort       uint16
	proto                  uint8
	direction              uint8
	srcAS, dstAS           uint32
}

type rollupSums struct{ bytes, packets, flows uint64 }

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

// rollup sums flows into 1-minute groups; coarser tiers are summed from it at flush.
type rollup map[rollupKey]rollupSums

// add sums record i of b, whose volumes scaled by its sampling rate are given.
func (r rollup) add(b *flow.Batch, i int, scaledBytes, scaledPackets uint64) {
	k := rollupKey{
		timeMs:    b.StartMs[i] - mod(b.StartMs[i], 60000),
		inIf:      b.InIf[i],
		outIf:     b.OutIf[i],
		proto:     b.Proto[i],
		direction: b.Direction[i],
		srcAS:     b.SrcAS[i],
		dstAS:     b.DstAS[i],
	}
	k.exporterHi, k.exporterLo = query.EncodeAddr(b.Exporter[i])
	if p := b.SrcPort[i]; wellKnown[p] {
		k.srcPort = p
	}
	if p := b.DstPort[i]; wellKnown[p] {
		k.dstPort = p
	}
	s := r[k]
	s.bytes += scaledBytes
	s.packets += scaledPackets
	s.flows++
	r[k] = s
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// coarsen sums r into buckets of ms milliseconds.
func (r rollup) coarsen(ms int64) rollup {
	out := make(rollup, len(r)/2+1)
	for k, v := range r {
		k.timeMs -= mod(k.timeMs, ms)
		s := out[k]
		s.bytes += v.bytes
		s.packets += v.packets
		s.flows += v.flows
		out[k] = s
	}
	return out
}

type rollupRow struct {
	k rollupKey
	s rollupSums
}

// byPartition splits the groups by the partition of tier t their bucket falls in, each sorted by
// time.
func (r rollup) byPartition(t query.Tier) map[int64][]rollupRow {
	counts := map[int64]int{}
	for k := range r {
		counts[partitionOf(t, k.timeMs)]++
	}
	out := make(map[int64][]rollupRow, len(counts))
	for p, n := range counts {
		out[p] = make([]rollupRow, 0, n)
	}
	for k, v := range r {
		p := partitionOf(t, k.timeMs)
		out[p] = append(out[p], rollupRow{k, v})
	}
	for _, rows := range out {
		sort.Slice(rows, func(i, j int) bool { return rows[i].k.timeMs < rows[j].k.timeMs })
	}
	return out
}

// writeRollup writes rows as a roll-up chunk file.
func writeRollup(path string, rows []rollupRow) error {
	sc, err := pqSchema(rollupColumns)
	if err != nil {
		return err
	}
	n := len(rows)
	i64 := make([]int64, n)
	u64 := make([]uint64, n)
	u32 := make([]uint32, n)
	i32 := make([]int32, n)
	return writeParquet(path, sc, func(col int, s *colSink) {
		for i, r := range rows {
			k := r.k
			switch col {
			case 0:
				i64[i] = k.timeMs
			case 1:
				u64[i] = k.exporterHi
			case 2:
				u64[i] = k.exporterLo
			case 3:
				u32[i] = k.inIf
			case 4:
				u32[i] = k.outIf
			case 5:
				i32[i] = int32(k.srcPort)
			case 6:
				i32[i] = int32(k.dstPort)
			case 7:
				i32[i] = int32(k.proto)
			case 8:
				u32[i] = k.srcAS
			case 9:
				u32[i] = k.dstAS
			case 10:
				i32[i] = int32(k.direction)
			case 11:
				u64[i] = r.s.bytes
			case 12:
				u64[i] = r.s.packets
			case 13:
				u64[i] = r.s.flows
			}
		}
		switch rollupColumns[col].typ {
		case "BIGINT":
			s.int64s(i64)
		case "UBIGINT":
			s.uint64s(u64)
		case "UINTEGER":
			s.uint32s(u32)
		default:
			s.int32s(i32)
		}
	})
}
