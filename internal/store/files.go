package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"yocho/internal/query"
)

// partitionName is the directory name of the partition of tier t that holds instant ms.
func partitionName(t query.Tier, start time.Time) string {
	if t.Partition == time.Hour {
		return start.UTC().Format("2006-01-02T15")
	}
	return start.UTC().Format("2006-01-02")
}

// partitionStart is the instant partition directory name starts at.
func partitionStart(t query.Tier, name string) (time.Time, bool) {
	layout := "2006-01-02"
	if t.Partition == time.Hour {
		layout = "2006-01-02T15"
	}
	ts, err := time.Parse(layout, name)
	return ts, err == nil
}

// partitionOf is the start (Unix ms) of the partition of tier t that holds instant ms.
func partitionOf(t query.Tier, ms int64) int64 {
	p := t.Partition.Milliseconds()
	return floorDiv(ms, p) * p
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// partFiles is what a reader reads in one partition, and what is superseded.
type partFiles struct {
	live   []string // the newest merged file, then the chunks numbered above it
	merged int64    // SEQ of the live merged file, or -1
	// mergedKind is the kind of the live merged file: 'm' (sorted, compressed hard: the final
	// merge of a raw partition, any roll-up merge) or 'o' (a raw partition merged while open:
	// sorted by exporter and destination, compressed fast; merged again, wholly sorted and
	// compressed hard, once the partition closes).
	mergedKind byte
	chunks     int // live chunk files
	superseded []string
	maxSeq     int64
}

// parseSeq reads "c-000123.parquet" as ('c', 123). Kinds: 'c' a chunk, 'm' a merged file, 'o'
// a raw partition merged while open (see partFiles.mergedKind).
func parseSeq(name string) (kind byte, seq int64, ok bool) {
	if !strings.HasSuffix(name, ".parquet") || len(name) < 11 || name[1] != '-' || (name[0] != 'c' && name[0] != 'm' && name[0] != 'o') {
		return 0, 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(name[2:], ".parquet"), 10, 64)
	if err != nil || n < 0 {
		return 0, 0, false
	}
	return name[0], n, true
}

func fileName(kind byte, seq int64) string { return fmt.Sprintf("%c-%016d.parquet", kind, seq) }

// listPartition reads a partition directory.
func listPartition(dir string) (partFiles, error) {
	pf := partFiles{merged: -1, maxSeq: -1}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return pf, err
	}
	type f struct {
		kind byte
		seq  int64
		name string
	}
	var all []f
	for _, e := range ents {
		k, s, ok := parseSeq(e.Name())
		if !ok {
			continue
		}
		all = append(all, f{k, s, e.Name()})
		// the newest merged file; at one SEQ, the final merge of an open one
		if (k == 'm' || k == 'o') && (s > pf.merged || s == pf.merged && k == 'm') {
			pf.merged, pf.mergedKind = s, k
		}
		if s > pf.maxSeq {
			pf.maxSeq = s
		}
	}
	sort.Slice(all, func(i, j int) bool {
		return all[i].seq < all[j].seq || all[i].seq == all[j].seq && all[i].kind > all[j].kind
	})
	for _, x := range all {
		p := filepath.Join(dir, x.name)
		switch {
		case x.kind == pf.mergedKind && x.seq == pf.merged:
			pf.live = append([]string{p}, pf.live...)
		case x.kind == 'c' && x.seq > pf.merged:
			pf.live = append(pf.live, p)
			pf.chunks++
		default:
			pf.superseded = append(pf.superseded, p)
		}
	}
	return pf, nil
}

// partition is one partition directory of a tier.
type partition struct {
	tier  query.Tier
	name  string
	dir   string
	start time.Time
}

func (p partition) end() time.Time { return p.start.Add(p.tier.Partition) }

// listPartitions lists the partitions of tier t under root, oldest first.
func listPartitions(root string, t query.Tier) ([]partition, error) {
	dir := filepath.Join(root, t.Name)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []partition
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		st, ok := partitionStart(t, e.Name())
		if !ok {
			continue
		}
		out = append(out, partition{tier: t, name: e.Name(), dir: filepath.Join(dir, e.Name()), start: st})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start.Before(out[j].start) })
	return out, nil
}

// filesFor lists the live files of tier t whose partitions overlap [from, to).
func filesFor(root string, t query.Tier, from, to time.Time) ([]string, error) {
	parts, err := listPartitions(root, t)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range parts {
		if !p.end().After(from) || !p.start.Before(to) {
			continue
		}
		pf, err := listPartition(p.dir)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) { // dropped by retention meanwhile
				continue
			}
			return nil, err
		}
		out = append(out, pf.live...)
	}
	return out, nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// publish syncs a finished .tmp file and renames it to its final name.
func publish(tmp string) error {
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	final := strings.TrimSuffix(tmp, ".tmp")
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	return syncDir(filepath.Dir(final))
}

// sqlString quotes s as an SQL string literal. Only paths the store builds go through it.
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// scanFiles is a scan of Parquet files of one tier (raw or roll-up) matching columns by name: a
// file written before the enrichment columns existed reads them as NULL, which rawView and
// rollupView show as "". The empty SELECT gives the columns even when no file has them.
func scanFiles(files []string) string {
	return "(SELECT * FROM read_parquet(" + sqlFileList(files) + ", union_by_name = true) UNION ALL BY NAME " + enrichmentColumns + ")"
}

// enrichmentColumns is an empty relation of the columns added with enrichment, the same in raw
// and roll-up files.
const enrichmentColumns = "SELECT NULL::VARCHAR AS src_hostgroup, NULL::VARCHAR AS dst_hostgroup, " +
	"NULL::USMALLINT AS src_cc, NULL::USMALLINT AS dst_cc WHERE false"

// sqlFileList is a DuckDB list literal of paths.
func sqlFileList(files []string) string {
	q := make([]string, len(files))
	for i, f := range files {
		q[i] = sqlString(f)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
