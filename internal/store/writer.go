package store

import (
	"errors"
	"fmt"
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
	pool *stagePool
	pq   pqScratch // buffers of the chunk writer

	// staged holds the flows of each raw partition (hour start, Unix ms) since the last flush.
	// The writer owns them; they go back to the pool after the flush.
	staged map[int64][]*stage
	nrows  int

	seq atomic.Int64 // the next file sequence number
	// published is the highest sequence number such that every raw chunk numbered at or below
	// it is in place: the roll-up pass reads chunks up to it (see rollUp).
	published atomic.Int64

	db    mapping.Database
	mconn mapping.Connection // roll-ups and merges
}

func openWriter(cfg Config, pool *stagePool, nextSeq int64) (*writer, error) {
	w := &writer{cfg: cfg, pool: pool, staged: map[int64][]*stage{}}
	w.seq.Store(nextSeq)
	w.published.Store(nextSeq - 1)
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
	for _, ss := range w.staged {
		for _, st := range ss {
			w.pool.put(st)
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

// append stages st, which the writer now owns.
func (w *writer) append(st *stage) {
	n := st.len()
	w.nrows += n
	secs := st.i64[0] // start times in whole seconds
	first := partitionOf(query.TierRaw, secs[0]*1000)
	uniform := true
	for _, t := range secs {
		if t*1000 < first || t*1000 >= first+3600_000 {
			uniform = false
			break
		}
	}
	if uniform {
		w.staged[first] = append(w.staged[first], st)
		return
	}
	// flows across partitions (rare: flows late or early by an hour boundary): split them
	parts := map[int64]*stage{}
	for i := range n {
		p := partitionOf(query.TierRaw, secs[i]*1000)
		ps := parts[p]
		if ps == nil {
			ps = w.pool.get()
			parts[p] = ps
			w.staged[p] = append(w.staged[p], ps)
		}
		ps.appendRow(st, i)
	}
	w.pool.put(st)
}

// appendBatch stages a copy of b: what Consume does, on the writer's goroutine.
func (w *writer) appendBatch(b *flow.Batch) {
	st := w.pool.get()
	st.add(b)
	w.append(st)
}

// flush writes the staged flows as one chunk file per tier and partition, and releases them.
// On error the staged flows are lost (the caller counts them).
func (w *writer) flush() error {
	defer func() {
		for p, ss := range w.staged {
			for _, st := range ss {
				w.pool.put(st)
			}
			delete(w.staged, p)
		}
		w.nrows = 0
	}()
	var tmps []string
	err := w.writeChunks(&tmps)
	if err == nil {
		for _, t := range tmps { // in sequence order: see rollUp
			if err = publish(t); err != nil {
				break
			}
		}
	}
	if err == nil {
		w.published.Store(w.seq.Load() - 1)
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

// writeChunks writes one raw chunk per staged partition, in sequence order. Roll-ups are not
// built here: the compactor sums them from the chunks with DuckDB (rollUp), off the collector's
// path.
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
	return nil
}

// writeRaw writes stages as one raw chunk file, in rawColumns order.
func (w *writer) writeRaw(path string, ss []*stage) error {
	return writeParquet(path, rawColumns, &w.pq, func(col int, pw *pqWriter) {
		for _, st := range ss {
			st.write(col, pw)
		}
	})
}

// copyOpts are the Parquet options of merged roll-up files.
const copyOpts = "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)"

// rawCopyOpts are the Parquet options of merged raw files: ZSTD level 11 (level 9 took 0.5 B/flow
// less than the default level 3 for about 1.3x the merge time; 11 takes 0.03 B less than 9, with no
// merge time difference seen beyond the noise; level 12 gains 0.06 B more than 9 at 1.7x).
const rawCopyOpts = "(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 11, ROW_GROUP_SIZE 122880)"

// rawSortSQL is the order of merged raw files: by exporter, destination, source country, source,
// then time.
// The columns an exporter decides (sampling rate, observation domain, interfaces, next hops)
// form long runs, flows to one host sit together, and within them the flows of one client
// (whose source AS and input interface repeat): that is what makes them small. Sorting by
// source before time costs the time column 0.3 B/flow and saves the source columns 0.6; the
// source's country before the source makes the country runs (0.33 -> 0.20 B/flow, the source
// 0.02 B more).
// Row-group statistics still skip groups when a filter names destinations, less well.
const rawSortSQL = "exporter_hi, exporter_lo, dst_addr_hi, dst_addr_lo, src_cc, src_addr_hi, src_addr_lo, time_s, time_frac"

// rawOpenSortSQL is the order of a raw partition merged while open (kind 'o'): by exporter and
// destination only, so that row-group statistics let a query on destinations skip most of the
// hour being written (a filtered top-10 on an open hour at 100 M flows a day: 144 ms unsorted,
// 72 ms so), at a merge cost BenchmarkMerge could not tell from unsorted merges'.
const rawOpenSortSQL = "exporter_hi, exporter_lo, dst_addr_hi, dst_addr_lo"

// rawOpenCopyOpts are the Parquet options of a raw partition merged while open (kind 'o'):
// compressed fast, since each such merge rewrites the hour so far.
const rawOpenCopyOpts = "(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE 122880)"

// merge writes the live files of one partition as one merged file m-SEQ, SEQ being the highest
// sequence number among them; a raw partition that is not final (still open) as o-SEQ,
// sorted by exporter and destination only and compressed fast. The merged file replaces them for readers as soon as it is renamed into place; the
// caller deletes them later.
func (w *writer) merge(t query.Tier, dir string, pf partFiles, final bool) error {
	seq := int64(-1)
	for _, f := range pf.live {
		if _, s, ok := parseSeq(filepath.Base(f)); ok && s > seq {
			seq = s
		}
	}
	kind := byte('m')
	src := scanFiles(pf.live)
	sel, opts := "SELECT * FROM "+src+" ORDER BY "+rawSortSQL, rawCopyOpts
	switch {
	case t.Bucket > 0:
		sel, opts = rollupSelect(t, src, "TRUE")+" ORDER BY time_ms", copyOpts
	case !final:
		kind, sel, opts = 'o', "SELECT * FROM "+src+" ORDER BY "+rawOpenSortSQL, rawOpenCopyOpts
	}
	return copyPublish(w.mconn, sel, filepath.Join(dir, fileName(kind, seq))+".tmp", opts)
}

// copyPublish writes a query's rows to the Parquet file tmp with the given options and publishes
// it under its final name; a failed write leaves no file behind.
func copyPublish(conn mapping.Connection, query, tmp, opts string) error {
	err := execSQL(conn, "COPY ("+query+") TO "+sqlString(tmp)+" "+opts)
	if err == nil {
		err = publish(tmp)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}
