// Package store is yocho's embedded flow store: it keeps every flow the collector decodes, as raw
// flows and as roll-ups at 1 minute, 5 minutes and 1 hour, drops them when their retention ends,
// and answers the requests of package query (top-N, time series, flow search).
//
// Data comes in as flow.Batch through Consume (the store is a flow.Consumer) and goes out as
// answers to the API (internal/api) and to `yocho query`.
//
// # Layout on disk
//
// Everything is Parquet: chunk files (Snappy) written by the store itself (pqwrite.go), merged
// files (ZSTD) by DuckDB (github.com/duckdb/duckdb-go/v2); one directory
// per tier and one directory per time partition:
//
//	DIR/raw/2026-11-25T13/   raw flows that started in that hour
//	DIR/1m/2026-11-25T13/    1-minute roll-ups of that hour
//	DIR/5m/2026-11-25/       5-minute roll-ups of that day
//	DIR/1h/2026-11-25/       1-hour roll-ups of that day
//
// A partition directory holds chunk files c-SEQ.parquet, one per flush, and at most one live
// merged file m-SEQ.parquet that holds every chunk of the partition numbered SEQ or less; SEQ
// grows across the whole store. Readers read the newest merged file plus the chunks numbered
// above it; older files are superseded and deleted by the next compaction pass. Files are written
// under a .tmp name, synced and renamed, so a reader never sees half a file. Retention renames a
// whole expired partition directory away and deletes it: never row by row.
//
// Raw files keep every field of flow.Record (start time, duration and receive delay in
// milliseconds; addresses as two UBIGINT halves, IPv4 mapped into IPv6, see query.EncodeAddr;
// bytes and packets already multiplied by the sampling rate, which is kept too). Merged raw files
// are sorted by destination address then time, which is what makes them small. Roll-ups keep the
// fields of query.RollupFields (ports only when well-known, other ports as 0) and the sums of
// bytes, packets and flows.
//
// # Ingest and crash safety
//
// Consume copies the batch into a pooled batch and queues it without blocking; when the queue is
// full the batch is dropped and counted in yocho_store_dropped_flows_total{reason="queue_full"}.
// One writer goroutine stages the queued batches as they are (columns in memory) and sums them
// into the 1-minute roll-up (one open-addressing table per minute, reused from flush to flush);
// every flush interval (or every FlushRows flows) it writes the staged columns as raw chunk
// files, sums the 1-minute groups into 5-minute and those into 1-hour groups, writes them as
// roll-up chunk files, and empties the stage.
//
// The bound: a kill -9 loses the flows appended since the last flush (at most FlushInterval of
// traffic, or FlushRows flows) and the flows still queued (at most QueueFlows). Nothing else:
// every file on disk is complete, stray .tmp files are deleted at start, and ingest resumes at
// the next sequence number. A crash between the renames of one flush can leave a roll-up without
// the last interval that raw has (or the reverse); merged files are never lost because the chunks
// they replace are deleted only after the merged file is in place.
//
// # Readers
//
// Queries run on a separate in-memory DuckDB that reads the Parquet files (OpenReader), so any
// number of processes may read while yocho serve writes: `yocho query --data DIR` works while
// serve runs, and sees everything up to the last flush.
package store
