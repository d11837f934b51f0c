package store

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"yocho/internal/query"
)

// rollupColumns is the schema of roll-up files: the order rollupSelect and rawRollupSelect write.
var rollupColumns = []rawColumn{
	{"time_ms", "BIGINT"},
	{"exporter_hi", "UBIGINT"}, {"exporter_lo", "UBIGINT"},
	{"in_if", "UINTEGER"}, {"out_if", "UINTEGER"},
	{"src_port", "USMALLINT"}, {"dst_port", "USMALLINT"},
	{"proto", "UTINYINT"},
	{"src_as", "UINTEGER"}, {"dst_as", "UINTEGER"},
	{"direction", "UTINYINT"},
	// Enrichment: hostgroups and countries; roll-up files older than these columns read them as
	// NULL, shown as "" (rollupView, rollupSelect).
	{"src_hostgroup", "VARCHAR"}, {"dst_hostgroup", "VARCHAR"},
	{"src_cc", "USMALLINT"}, {"dst_cc", "USMALLINT"}, // countries as numbers (countryCode)
	{"bytes", "UBIGINT"}, {"packets", "UBIGINT"}, {"flows", "UBIGINT"},
}

// narrowColumns is the schema of Tier1mNarrow's files: rollupColumns restricted to
// query.NarrowFields, in the same order.
var narrowColumns = func() []rawColumn {
	keep := map[string]bool{"time_ms": true, "bytes": true, "packets": true, "flows": true}
	for _, n := range query.NarrowFields {
		f, _ := query.LookupField(n)
		for _, c := range fieldColumns(f) {
			keep[c] = true
		}
	}
	var out []rawColumn
	for _, c := range rollupColumns {
		if keep[c.name] {
			out = append(out, c)
		}
	}
	return out
}()

// tierColumns is the schema of the files of roll-up tier t: time_ms, the fields kept, then the
// sums bytes, packets and flows.
func tierColumns(t query.Tier) []rawColumn {
	if t == query.Tier1mNarrow {
		return narrowColumns
	}
	return rollupColumns
}

// rollupTiers are the roll-up tiers summed from the 1-minute tier's chunks (which are summed
// from raw chunks).
var rollupTiers = []query.Tier{query.Tier5m, query.Tier1h, query.Tier1mNarrow}

// storedTiers are the tiers of flows on disk, raw first: query.Tiers and Tier1mNarrow.
func storedTiers() []query.Tier {
	return append(append([]query.Tier{}, query.Tiers...), query.Tier1mNarrow)
}

// rollupView is a FROM item over source, a scan of roll-up tier t's files, that shows the
// hostgroups of files older than them as "" rather than NULL, and the countries as text (the
// tiers that keep neither, such as the narrow one, are shown as they are).
func rollupView(t query.Tier, source string) string {
	var repl, add []string
	for _, c := range tierColumns(t) {
		switch {
		case c.typ == "VARCHAR":
			repl = append(repl, fmt.Sprintf("coalesce(%s, '') AS %s", c.name, c.name))
		case c.name == "src_cc" || c.name == "dst_cc":
			add = append(add, countrySQL(c.name)+" AS "+c.name[:4]+"country")
		}
	}
	if len(repl) == 0 && len(add) == 0 {
		return source
	}
	sel := "*"
	if len(repl) > 0 {
		sel = "* REPLACE (" + strings.Join(repl, ", ") + ")"
	}
	return "(SELECT " + strings.Join(append([]string{sel}, add...), ", ") + " FROM " + source + ")"
}

// wellKnownSQL is an SQL condition true when column col holds a well-known port
// (query.WellKnownPort): the ports the roll-ups keep.
func wellKnownSQL(col string) string {
	var list []string
	for _, p := range query.WellKnownPortList() {
		list = append(list, fmt.Sprint(p))
	}
	return fmt.Sprintf("(%s BETWEEN 1 AND 1023 OR %s IN (%s))", col, col, strings.Join(list, ", "))
}

// rawRollupSelect is the SELECT that sums raw flows of source (a scan of raw files) into groups of tier t: what
// builds the roll-ups from raw chunks (a vectorised hash aggregate; merges sort).
func rawRollupSelect(t query.Tier, source string) string {
	b := t.Bucket.Milliseconds()
	sel := []string{fmt.Sprintf("(time_ms - time_ms %% %d)::BIGINT AS time_ms", b)}
	for _, c := range rollupColumns[1 : len(rollupColumns)-3] {
		switch c.name {
		case "src_port", "dst_port":
			sel = append(sel, fmt.Sprintf("(CASE WHEN %s THEN %s ELSE 0 END)::USMALLINT AS %s", wellKnownSQL(c.name), c.name, c.name))
		default:
			sel = append(sel, c.name)
		}
	}
	sel = append(sel, "sum(bytes)::UBIGINT AS bytes", "sum(packets)::UBIGINT AS packets", "count(*)::UBIGINT AS flows")
	return "SELECT " + strings.Join(sel, ", ") + " FROM " + rawView(source) + " GROUP BY ALL"
}

// chunkFile is one chunk file on disk.
type chunkFile struct {
	path string
	seq  int64
}

// rollUp sums what the roll-up tiers do not hold yet: raw chunks into one 1-minute chunk per
// hour partition, and 1-minute chunks into one 5-minute and one 1-hour chunk per day partition
// and one narrow 1-minute chunk per hour partition (rollupTiers).
// Each roll-up chunk is named after the highest chunk it sums, and a roll-up partition holds
// every source chunk numbered at or below its highest file number, and none above: raw chunks
// are published in sequence order (writer.published says up to where), 1-minute chunks are
// complete when renamed into place, and each pass sums all the pending chunks of a partition
// into one file, renamed into place whole. So a crash between two files of a pass loses
// nothing: the next pass (at start, the first) sums what is missing. Raw and 1-minute chunks
// are merged away only once every tier holds them (see Compact). The caller holds s.cmu.
func (s *Store) rollUp() error {
	pub := s.w.published.Load()
	start := time.Now()
	did := false
	var errs []error
	// raw -> 1m, hour by hour
	rawParts, err := listPartitions(s.cfg.Dir, query.TierRaw)
	if err != nil {
		return err
	}
	for _, p := range rawParts {
		if s.expired(query.Tier1m, p.start) {
			continue
		}
		mark, err := maxSeq(filepath.Join(s.cfg.Dir, query.Tier1m.Name, p.name))
		if err != nil {
			return err
		}
		files, err := chunksAbove(p.dir, mark, pub)
		if err != nil {
			return err
		}
		if len(files) == 0 {
			continue
		}
		did = true
		if err := s.writeRollup(query.Tier1m, p.name, files, rawRollupSelect); err != nil {
			errs = append(errs, fmt.Errorf("roll-up 1m/%s: %w", p.name, err))
		}
	}
	// 1m -> 5m and 1h, day by day, and 1m-narrow, hour by hour
	minParts, err := listPartitions(s.cfg.Dir, query.Tier1m)
	if err != nil {
		return err
	}
	for _, t := range rollupTiers {
		days := map[string][]chunkFile{}
		marks := map[string]int64{}
		var names []string
		for _, p := range minParts {
			day := time.UnixMilli(partitionOf(t, p.start.UnixMilli())).UTC()
			if s.expired(t, day) {
				continue
			}
			name := partitionName(t, day)
			mark, ok := marks[name]
			if !ok {
				if mark, err = maxSeq(filepath.Join(s.cfg.Dir, t.Name, name)); err != nil {
					return err
				}
				marks[name] = mark
			}
			var files []chunkFile
			if mark < 0 {
				// nothing summed yet: every live file, merged ones too (a tier added by a
				// later version, Tier1mNarrow, is thus built for the hours already merged)
				files, err = liveFiles(p.dir)
			} else {
				files, err = chunksAbove(p.dir, mark, math.MaxInt64)
			}
			if err != nil {
				return err
			}
			if len(files) > 0 {
				if days[name] == nil {
					names = append(names, name)
				}
				days[name] = append(days[name], files...)
			}
		}
		for _, name := range names {
			did = true
			sel := func(t query.Tier, src string) string { return rollupSelect(t, src, "TRUE") }
			if err := s.writeRollup(t, name, days[name], sel); err != nil {
				errs = append(errs, fmt.Errorf("roll-up %s/%s: %w", t.Name, name, err))
			}
		}
	}
	if did {
		s.m.rollupSeconds.Observe(time.Since(start).Seconds())
	}
	if len(errs) > 0 {
		s.m.errors.WithLabelValues("rollup").Add(float64(len(errs)))
		return errors.Join(errs...)
	}
	s.rolled.Store(pub)
	return nil
}

// expired tells whether the partition of tier t starting at start is past its retention: it is
// not brought back.
func (s *Store) expired(t query.Tier, start time.Time) bool {
	keep := s.cfg.Retention[t.RetentionName()]
	return keep > 0 && start.Add(t.Partition).Before(s.now().Add(-keep))
}

// maxSeq is the highest file number in a partition directory, -1 when there is none.
func maxSeq(dir string) (int64, error) {
	pf, err := listPartition(dir)
	if err != nil && !os.IsNotExist(err) {
		return 0, err
	}
	return pf.maxSeq, nil
}

// chunksAbove lists the chunk files of the partition in dir numbered above from and at most to.
func chunksAbove(dir string, from, to int64) ([]chunkFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []chunkFile
	for _, e := range ents {
		if k, seq, ok := parseSeq(e.Name()); ok && k == 'c' && seq > from && seq <= to {
			out = append(out, chunkFile{filepath.Join(dir, e.Name()), seq})
		}
	}
	return out, nil
}

// liveFiles lists the live files of the partition in dir (its merged file and newer chunks).
func liveFiles(dir string) ([]chunkFile, error) {
	pf, err := listPartition(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []chunkFile
	for _, f := range pf.live {
		if _, seq, ok := parseSeq(filepath.Base(f)); ok {
			out = append(out, chunkFile{f, seq})
		}
	}
	return out, nil
}

// writeRollup sums chunk files with the SELECT sel builds into one roll-up chunk of tier t in
// partition name, named after the highest of them.
func (s *Store) writeRollup(t query.Tier, name string, files []chunkFile, sel func(query.Tier, string) string) error {
	dir := filepath.Join(s.cfg.Dir, t.Name, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	seq := int64(-1)
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.path
		seq = max(seq, f.seq)
	}
	tmp := filepath.Join(dir, fileName('c', seq)) + ".tmp"
	q := sel(t, scanFiles(paths))
	return copyPublish(s.w.mconn, q, tmp, chunkCopyOpts)
}

// chunkCopyOpts are the Parquet options of roll-up chunks: they are merged later, so fast.
const chunkCopyOpts = "(FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 122880)"

// rollupSelect is the SELECT that sums the roll-up rows of source into buckets of tier t,
// restricted by where: what merges roll-up chunks.
func rollupSelect(t query.Tier, source, where string) string {
	b := t.Bucket.Milliseconds()
	sel := []string{fmt.Sprintf("(time_ms - time_ms %% %d) AS time_ms", b)}
	grp := []string{"1"}
	cols := tierColumns(t)
	for _, c := range cols[1 : len(cols)-3] {
		switch {
		case c.typ == "VARCHAR":
			sel = append(sel, fmt.Sprintf("coalesce(%s, '') AS %s", c.name, c.name))
		case c.name == "src_cc" || c.name == "dst_cc":
			sel = append(sel, fmt.Sprintf("coalesce(%s, 0)::USMALLINT AS %s", c.name, c.name))
		default:
			sel = append(sel, c.name)
		}
		grp = append(grp, fmt.Sprint(len(sel)))
	}
	sel = append(sel, "sum(bytes)::UBIGINT AS bytes", "sum(packets)::UBIGINT AS packets", "sum(flows)::UBIGINT AS flows")
	return "SELECT " + strings.Join(sel, ", ") + " FROM " + source + " WHERE " + where +
		" GROUP BY " + strings.Join(grp, ", ")
}
