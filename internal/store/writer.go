package store

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/duckdb/duckdb-go/v2/mapping"

	"yocho/internal/flow"
	"yocho/internal/query"
)

// writer stages flows between flushes and writes them out. append and flush run on the writer
// goroutine only; merge runs on the compactor's, on its own DuckDB connection.
type writer struct {
	cfg  Config
	pool *flow.Pool
	pq   pqScratch // buffers of the chunk writer

	// staged holds the batches of each raw partition (hour start, Unix ms) since the last flush.
	// The writer owns them; they go back to the pool after the flush.
	staged map[int64][]*flow.Batch
	nrows  int
	r1m    *rollup // 1-minute groups of the staged flows
	r5m    *rollup // 5-minute groups, summed from r1m at flush
	r1h    *rollup // 1-hour groups, summed from r5m at flush
	rows   []rollupEntry

	seq atomic.Int64 // the next file sequence number

	db    mapping.Database
	mconn mapping.Connection // merges
	// scratch columns for conversions
	i64 []int64
	u64 []uint64
}

func openWriter(cfg Config, pool *flow.Pool, nextSeq int64) (*writer, error) {
	w := &writer{cfg: cfg, pool: pool, staged: map[int64][]*flow.Batch{}, r1m: newRollup(1), r5m: newRollup(0x5bd1e9955bd1e995), r1h: newRollup(0x27d4eb2f165667c5)}
	w.seq.Store(nextSeq)
	if mapping.Open("", &w.db) == mapping.StateError {
		return nil, errors.New("opening the merge database")
	}
	if mapping.Connect(w.db, &w.mconn) == mapping.StateError {
		w.close()
		return nil, errors.New("connecting to the merge database")
	}
	for _, q := range []string{
		fmt.Sprintf("SET threads = %d", cfg.Threads),
		"SET memory_limit = " + sqlString(cfg.MemoryLimit),
		"SET preserve_insertion_order = false",
		"SET temp_directory = " + sqlString(filepath.Join(cfg.Dir, ".tmp")),
	} {
		if err := execSQL(w.mconn, q); err != nil {
			w.close()
			return nil, err
		}
	}
	return w, nil
}

func (w *writer) close() {
	for _, bs := range w.staged {
		for _, b := range bs {
			w.pool.Put(b)
		}
	}
	clear(w.staged)
	mapping.Disconnect(&w.mconn)
	mapping.Close(&w.db)
}

// execSQL runs one statement.
func execSQL(conn mapping.Connection, q string) error {
	var res mapping.Result
	defer mapping.DestroyResult(&res)
	if mapping.Query(conn, q, &res) == mapping.StateError {
		msg := mapping.ResultError(&res)
		if len(q) > 300 {
			q = q[:300] + "..."
		}
		return fmt.Errorf("%s (in %s)", msg, q)
	}
	return nil
}

// append stages b, which the writer now owns, and sums it into the 1-minute roll-up.
func (w *writer) append(b *flow.Batch) {
	n := b.Len()
	w.r1m.addBatch(b)
	w.nrows += n
	first := partitionOf(query.TierRaw, b.StartMs[0])
	uniform := true
	for _, t := range b.StartMs {
		if t < first || t >= first+3600_000 {
			uniform = false
			break
		}
	}
	if uniform {
		w.staged[first] = append(w.staged[first], b)
		return
	}
	// a batch across partitions (rare: flows late or early by an hour boundary): split it
	parts := map[int64]*flow.Batch{}
	for i := range n {
		p := partitionOf(query.TierRaw, b.StartMs[i])
		pb := parts[p]
		if pb == nil {
			pb = w.pool.Get()
			parts[p] = pb
			w.staged[p] = append(w.staged[p], pb)
		}
		rec := b.Record(i)
		pb.Append(&rec)
	}
	w.pool.Put(b)
}

// flush writes the staged flows as one chunk file per tier and partition, and releases them.
// On error the staged flows are lost (the caller counts them).
func (w *writer) flush() error {
	defer func() {
		for p, bs := range w.staged {
			for _, b := range bs {
				w.pool.Put(b)
			}
			delete(w.staged, p)
		}
		w.nrows = 0
		w.r1m.reset() // the slots are kept: no growth on the hot path
		if len(w.r1m.exporters) > 4096 {
			w.r1m.exporters, w.r1m.expIndex = nil, map[netip.Addr]uint64{}
		}
	}()
	var tmps []string
	err := w.writeChunks(&tmps)
	if err == nil {
		for _, t := range tmps { // in sequence order: see Compact
			if err = publish(t); err != nil {
				break
			}
		}
	}
	if err != nil {
		for _, t := range tmps {
			_ = os.Remove(t)
		}
	}
	return err
}

// chunkPath creates the partition directory of tier t holding instant ms and names a new chunk.
func (w *writer) chunkPath(t query.Tier, p int64) (string, error) {
	dir := filepath.Join(w.cfg.Dir, t.Name, partitionName(t, time.UnixMilli(p).UTC()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return filepath.Join(dir, fileName('c', w.seq.Add(1)-1)) + ".tmp", nil
}

func (w *writer) writeChunks(tmps *[]string) error {
	hours := make(map[int64]struct{}, len(w.staged))
	for h := range w.staged {
		hours[h] = struct{}{}
	}
	for _, h := range sortedKeys(hours) {
		path, err := w.chunkPath(query.TierRaw, h)
		if err != nil {
			return err
		}
		*tmps = append(*tmps, path)
		if err := w.writeRaw(path, w.staged[h]); err != nil {
			return err
		}
	}
	for _, t := range query.Tiers[1:] {
		var r *rollup
		switch t.Bucket {
		case time.Minute:
			r = w.r1m
		case 5 * time.Minute:
			w.r1m.coarsenInto(w.r5m, t.Bucket.Milliseconds())
			r = w.r5m
		case time.Hour:
			w.r5m.coarsenInto(w.r1h, t.Bucket.Milliseconds())
			r = w.r1h
		default:
			return fmt.Errorf("tier %s: no roll-up of %s", t.Name, t.Bucket)
		}
		for _, part := range r.byPartition(t, &w.rows) {
			path, err := w.chunkPath(t, part.start)
			if err != nil {
				return err
			}
			*tmps = append(*tmps, path)
			if err := writeRollup(path, part.rows, w.r1m.exporters, &w.pq, w.u64); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeRaw writes batches as one raw chunk file, in rawColumns order.
func (w *writer) writeRaw(path string, bs []*flow.Batch) error {
	return writeParquet(path, rawColumns, &w.pq, func(col int, pw *pqWriter) {
		for _, b := range bs {
			w.rawColumn(col, b, pw)
		}
	})
}

func (w *writer) scratch(n int) {
	if cap(w.i64) < n {
		w.i64, w.u64 = make([]int64, n), make([]uint64, n)
	}
	w.i64, w.u64 = w.i64[:n], w.u64[:n]
}

// rawColumn sends column col of b to pw.
func (w *writer) rawColumn(col int, b *flow.Batch, pw *pqWriter) {
	n := b.Len()
	w.scratch(n)
	switch col {
	case 0:
		pw.int64s(b.StartMs)
	case 1:
		for i := range n {
			w.i64[i] = b.EndMs[i] - b.StartMs[i]
		}
		pw.int64s(w.i64)
	case 2:
		for i := range n {
			w.i64[i] = b.ReceivedMs[i] - b.EndMs[i]
		}
		pw.int64s(w.i64)
	case 3, 4:
		w.addrHalf(b.Exporter, col == 3, pw)
	case 5:
		pw.uint32s(b.ObsDomain)
	case 6:
		pw.uint32s(b.SamplerID)
	case 7:
		pw.uint32s(b.SamplingRate)
	case 8:
		pw.uint32s(b.InIf)
	case 9:
		pw.uint32s(b.OutIf)
	case 10, 11:
		w.addrHalf(b.SrcAddr, col == 10, pw)
	case 12, 13:
		w.addrHalf(b.DstAddr, col == 12, pw)
	case 14, 15:
		w.addrHalf(b.NextHop, col == 14, pw)
	case 16:
		pw.uint16s(b.SrcPort)
	case 17:
		pw.uint16s(b.DstPort)
	case 18:
		pw.uint8s(b.Proto)
	case 19:
		pw.uint8s(b.TCPFlags)
	case 20:
		pw.uint8s(b.ToS)
	case 21:
		pw.uint8s(b.ICMPType)
	case 22:
		pw.uint8s(b.ICMPCode)
	case 23, 24:
		v := b.Bytes
		if col == 24 {
			v = b.Packets
		}
		for i := range n {
			r := uint64(b.SamplingRate[i])
			if r == 0 {
				r = 1
			}
			w.u64[i] = v[i] * r
		}
		pw.uint64s(w.u64)
	case 25:
		pw.uint32s(b.SrcAS)
	case 26:
		pw.uint32s(b.DstAS)
	case 27:
		pw.uint8s(b.SrcMask)
	case 28:
		pw.uint8s(b.DstMask)
	case 29:
		pw.uint16s(b.VLAN)
	case 30:
		pw.uint8s(b.Direction)
	case 31:
		pw.uint8s(b.ForwardingStatus)
	case 32:
		pw.uint32s(b.MPLSLabel)
	}
}

func (w *writer) addrHalf(a []netip.Addr, hi bool, pw *pqWriter) {
	for i := range a {
		h, l := query.EncodeAddr(a[i])
		if hi {
			w.u64[i] = h
		} else {
			w.u64[i] = l
		}
	}
	pw.uint64s(w.u64[:len(a)])
}

// copyOpts are the Parquet options of merged files.
const copyOpts = "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)"

// rawSortSQL is the order of merged raw files: by destination, then time. Flows to one host sit
// together, which compresses well and lets row-group statistics skip whole groups when a filter
// names destinations.
const rawSortSQL = "dst_addr_hi, dst_addr_lo, time_ms"

// merge writes the live files of one partition as one merged file m-SEQ, SEQ being the highest
// sequence number among them. The merged file replaces them for readers as soon as it is renamed
// into place; the caller deletes them later.
func (w *writer) merge(t query.Tier, dir string, pf partFiles) error {
	seq := int64(-1)
	for _, f := range pf.live {
		if _, s, ok := parseSeq(filepath.Base(f)); ok && s > seq {
			seq = s
		}
	}
	tmp := filepath.Join(dir, fileName('m', seq)) + ".tmp"
	src := "read_parquet(" + sqlFileList(pf.live) + ")"
	sel := "SELECT * FROM " + src + " ORDER BY " + rawSortSQL
	if t.Bucket > 0 {
		sel = rollupSelect(t, src, "TRUE")
	}
	if err := execSQL(w.mconn, "COPY ("+sel+") TO "+sqlString(tmp)+" "+copyOpts); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := publish(tmp); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}
