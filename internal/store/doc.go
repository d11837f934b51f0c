// Package store is yocho's embedded flow store: it keeps every flow the collector decodes, as raw
// flows and as roll-ups at 1 minute, 5 minutes and 1 hour, drops them when their retention ends,
// and answers the requests of package query (top-N, time series, flow search).
//
// Data comes in as flow.Batch through Consume (the store is a flow.Consumer) and goes out as
// answers to the API (internal/api) and to `yocho query`.
//
// # Layout on disk
//
// Everything is Parquet: chunk files written by the store itself (raw: pqwrite.go, Snappy) or
// by DuckDB (roll-ups), merged files (ZSTD) by DuckDB (github.com/duckdb/duckdb-go/v2); one
// directory per tier and one directory per time partition:
//
//	DIR/raw/2026-11-25T13/          raw flows that started in that hour
//	DIR/1m/2026-11-25T13/           1-minute roll-ups of that hour
//	DIR/5m/2026-11-25/              5-minute roll-ups of that day
//	DIR/1h/2026-11-25/              1-hour roll-ups of that day
//	DIR/hh-dst_addr/2026-11-25T13/  that hour's heavy hitters by destination (heavy.go)
//	DIR/hh-src_addr/2026-11-25T13/  and by source
//
// A partition directory holds chunk files c-SEQ.parquet and at most one live merged file
// m-SEQ.parquet that holds every chunk of the partition numbered SEQ or less; SEQ grows across
// the whole store. Readers read the newest merged file plus the chunks numbered above it; older
// files are superseded and deleted by the next compaction pass. Files are written under a .tmp
// name, synced and renamed, so a reader never sees half a file. Retention renames a whole
// expired partition directory away and deletes it: never row by row.
//
// Raw files keep every field of flow.Record (start time, duration and receive delay in
// milliseconds; addresses as two UBIGINT halves, IPv4 mapped into IPv6, see query.EncodeAddr;
// bytes and packets already multiplied by the sampling rate, which is kept too). Merged raw files
// are sorted by exporter, destination address and time, which is what makes them small. Roll-ups
// keep the fields of query.RollupFields (ports only when well-known, other ports as 0) and the
// sums of bytes, packets and flows.
//
// # Ingest and crash safety
//
// Consume converts the batch into a pooled stage (stage.go: the raw tier's columns, no pointers)
// and queues it without blocking; when the queue is full the flows are dropped and counted in
// yocho_store_dropped_flows_total{reason="queue_full"}. One writer goroutine gathers the queued
// stages by hour and, every flush interval (or every FlushRows flows), writes them as one raw
// chunk per hour: a copy of each column into pages and a compression, nothing per flow.
//
// Roll-ups are not built on that path. The compactor goroutine, every flush interval, sums the
// raw chunks the 1-minute tier does not hold yet into one 1-minute chunk per hour (a DuckDB
// GROUP BY), and the 1-minute chunks into 5-minute and 1-hour chunks per day (rollup.go). So the
// roll-ups trail raw flows by up to one flush interval; Sync waits for them. Every compaction
// interval it merges partitions (sorting, ZSTD) and builds the heavy hitters of merged raw hours.
//
// The bound: a kill -9 loses the flows staged since the last flush (at most FlushInterval of
// traffic, or FlushRows flows) and the flows still queued (at most QueueFlows). Nothing else:
// every file on disk is complete, stray .tmp files are deleted at start, ingest resumes at the
// next sequence number, and roll-ups missing what raw chunks hold are summed again by the first
// pass (a roll-up partition names the highest chunk it holds; raw and 1-minute chunks are merged
// away only once every roll-up holds them). Merged files are never lost because the chunks they
// replace are deleted only after the merged file is in place.
//
// # Readers
//
// Queries run on a separate in-memory DuckDB that reads the Parquet files (OpenReader), so any
// number of processes may read while yocho serve writes: `yocho query --data DIR` works while
// serve runs, and sees everything up to the last flush. A top-N by destination or source address
// without a filter reads the heavy hitters of the whole merged hours of its range and raw flows
// for the rest, and answers from them only when their bounds prove the answer exact (heavy.go);
// otherwise it reads raw flows.
package store
