package store

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"yocho/internal/query"
)

// Roll-up tiers trail raw flows: the compactor sums new raw chunks into the 1-minute tier, and
// new 1-minute chunks into the coarser tiers, every flush interval, and after a backlog (a
// restart, a replayed day, a loaded machine) they can lag by minutes or hours. A reader does not
// trust a roll-up tier for the part of a range it does not hold yet: it finds where the tier is
// complete (complete) and reads the rest from the finer tiers (source), in one query.

// sourceTier is the tier roll-up tier t is summed from: raw for the 1-minute tier, the 1-minute
// tier for the others.
func sourceTier(t query.Tier) query.Tier {
	if t == query.Tier1m {
		return query.TierRaw
	}
	return query.Tier1m
}

// complete is the instant up to which roll-up tier t holds every flow the store has in [from,
// to): to when it holds them all, else the start of the first partition of its source tier in
// the range with files t does not sum yet (it then holds none of that partition's newer chunks,
// and maybe none of the later partitions'). A source partition is summed into t when no live
// file of it is numbered above the highest file number of t's partition that takes it (see
// rollUp), and t has that partition. Raw is always complete.
func complete(root string, t query.Tier, from, to time.Time) (time.Time, error) {
	if t.Bucket == 0 {
		return to, nil
	}
	src := sourceTier(t)
	until, err := complete(root, src, from, to)
	if err != nil {
		return from, err
	}
	parts, err := listPartitions(root, src)
	if err != nil {
		return from, err
	}
	marks := map[string]int64{}
	for _, p := range parts {
		if !p.end().After(from) {
			continue
		}
		if !p.start.Before(until) {
			break
		}
		pf, err := listPartition(p.dir)
		if errors.Is(err, fs.ErrNotExist) { // dropped by retention meanwhile
			continue
		}
		if err != nil {
			return from, err
		}
		if len(pf.live) == 0 {
			continue
		}
		name := partitionName(t, time.UnixMilli(partitionOf(t, p.start.UnixMilli())))
		mark, ok := marks[name]
		if !ok {
			if mark, err = maxSeq(filepath.Join(root, t.Name, name)); err != nil {
				return from, err
			}
			marks[name] = mark
		}
		if pf.maxLive() > mark {
			return maxTime(p.start, from), nil
		}
	}
	return until, nil
}

// maxLive is the highest file number among the partition's live files.
func (pf partFiles) maxLive() int64 {
	m := int64(-1)
	for _, f := range pf.live {
		if _, s, ok := parseSeq(filepath.Base(f)); ok && s > m {
			m = s
		}
	}
	return m
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// segment is a part of a query's range read from one tier.
type segment struct {
	tier     query.Tier
	from, to time.Time
	files    []string
}

// segments splits [from, to) between roll-up tier t, for the part it holds, and finer tiers for
// the rest: the 1-minute tier as far as it is complete (when t is coarser), raw flows beyond.
// Watermarks are partition starts, so each boundary is aligned to every roll-up bucket and no
// bucket is counted twice. Segments without files are left out. For raw, one segment.
func segments(root string, t query.Tier, from, to time.Time) ([]segment, error) {
	chain := []query.Tier{t}
	if t.Bucket > 0 && t != query.Tier1m {
		chain = append(chain, query.Tier1m)
	}
	if t.Bucket > 0 {
		chain = append(chain, query.TierRaw)
	}
	var out []segment
	at := from
	for _, c := range chain {
		if !at.Before(to) {
			break
		}
		until, err := complete(root, c, at, to)
		if err != nil {
			return nil, err
		}
		if !until.After(at) {
			continue
		}
		files, err := filesFor(root, c, at, until)
		if err != nil {
			return nil, fmt.Errorf("listing %s files: %w", c.Name, err)
		}
		if len(files) > 0 {
			out = append(out, segment{tier: c, from: at, to: until, files: files})
		}
		at = until
	}
	return out, nil
}

// segmentsSource is the FROM item of a query of tier t over segs: the files of one segment as
// they are (raw through rawView), or, when finer tiers make up for what t does not hold yet,
// the union of every segment's rows restricted to its span and shown with t's columns (raw
// flows as one-flow rows, ports that are not well-known as 0, as the roll-ups keep them).
func segmentsSource(t query.Tier, segs []segment) string {
	if len(segs) == 1 && segs[0].tier == t {
		return tierView(t, scanFiles(segs[0].files))
	}
	cols := tierColumns(t)
	parts := make([]string, len(segs))
	for i, sg := range segs {
		sel := make([]string, len(cols))
		src := scanFiles(sg.files)
		for j, c := range cols {
			sel[j] = c.name
			if sg.tier.Bucket == 0 {
				switch c.name {
				case "src_port", "dst_port":
					sel[j] = fmt.Sprintf("(CASE WHEN %s THEN %s ELSE 0 END)::USMALLINT AS %s", wellKnownSQL(c.name), c.name, c.name)
				case "flows":
					sel[j] = "1::UBIGINT AS flows"
				}
			}
		}
		if sg.tier.Bucket == 0 {
			src = rawView(src)
		}
		parts[i] = fmt.Sprintf("SELECT %s FROM %s WHERE time_ms >= %d AND time_ms < %d",
			strings.Join(sel, ", "), src, sg.from.UnixMilli(), sg.to.UnixMilli())
	}
	return tierView(t, "("+strings.Join(parts, " UNION ALL ")+")")
}

// tierView is a FROM item showing tier t's fields over source, a scan of its stored columns.
func tierView(t query.Tier, source string) string {
	if t.Bucket == 0 {
		return rawView(source)
	}
	return rollupView(t, source)
}
