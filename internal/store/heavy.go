package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"yocho/internal/query"
)

// Heavy hitters: for every hour of raw flows, and for each of query.HeavyHitterFields, the
// values with the most bytes, packets or flows in that hour (the top 2000 by each) with their
// exact sums over the hour, and for each metric the largest sum among the values left out (the
// hour's threshold). A value's sum over a range is then known within a bound: at least the sum
// of its hours, at most that plus the thresholds of the hours it is missing from. A top-N that
// the bounds decide is exact; one they do not decide is answered from raw flows instead, so an
// answer never depends on the pruning.
//
// Files: DIR/hh-dst_addr/2026-11-25T13/m-SEQ.parquet, built from the raw partition's merged file
// m-SEQ when it has no newer chunk; a reader uses it only while the raw partition's newest file
// is still SEQ. Retention is raw's.

// defaultHeavyK is how many values per metric an hour keeps (Store.heavyK).
const defaultHeavyK = 2000

// heavyTier is the tier of the heavy hitters of field f: hourly, hourly partitions.
func heavyTier(f string) query.Tier {
	return query.Tier{Name: "hh-" + f, Bucket: time.Hour, Partition: time.Hour}
}

// allTiers are the tiers on disk: storedTiers and the heavy hitters.
func allTiers() []query.Tier {
	out := storedTiers()
	for _, f := range query.HeavyHitterFields {
		out = append(out, heavyTier(f))
	}
	return out
}

// buildHeavy writes the heavy hitters of raw partition p, whose live files are just its merged
// file, when they are missing or older. It returns the heavy-hitter files it supersedes.
func (s *Store) buildHeavy(p partition) ([]string, error) {
	pf, err := listPartition(p.dir)
	if err != nil || pf.chunks > 0 || pf.merged < 0 {
		return nil, err
	}
	var superseded []string
	for _, f := range query.HeavyHitterFields {
		dir := filepath.Join(s.cfg.Dir, heavyTier(f).Name, p.name)
		hf, err := listPartition(dir)
		if err != nil && !os.IsNotExist(err) {
			return superseded, err
		}
		if hf.merged >= pf.merged {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return superseded, err
		}
		tmp := filepath.Join(dir, fileName('m', pf.merged)) + ".tmp"
		q := heavySelect(f, rawView(scanFiles(pf.live)), s.heavyK)
		if err := copyPublish(s.w.mconn, q, tmp, copyOpts); err != nil {
			return superseded, err
		}
		superseded = append(superseded, hf.live...)
	}
	return superseded, nil
}

// heavySelect sums raw flows of source by field f and keeps the top k values by bytes, by
// packets and by flows, with the thresholds; a last row (bound = true) carries the thresholds
// alone.
func heavySelect(f, source string, k int) string {
	return fmt.Sprintf(`WITH g AS (SELECT %[1]s_hi AS k_hi, %[1]s_lo AS k_lo, sum(bytes)::UBIGINT AS bytes,
  sum(packets)::UBIGINT AS packets, count(*)::UBIGINT AS flows FROM %[2]s GROUP BY ALL),
r AS (SELECT *, (row_number() OVER (ORDER BY bytes DESC) <= %[3]d OR row_number() OVER (ORDER BY packets DESC) <= %[3]d
  OR row_number() OVER (ORDER BY flows DESC) <= %[3]d) AS keep FROM g),
th AS (SELECT coalesce(max(bytes) FILTER (WHERE NOT keep), 0)::UBIGINT AS tb, coalesce(max(packets) FILTER (WHERE NOT keep), 0)::UBIGINT AS tp,
  coalesce(max(flows) FILTER (WHERE NOT keep), 0)::UBIGINT AS tf FROM r)
SELECT k_hi, k_lo, bytes, packets, flows, tb AS thr_bytes, tp AS thr_packets, tf AS thr_flows, false AS bound FROM r, th WHERE keep
UNION ALL SELECT 0::UBIGINT, 0::UBIGINT, 0::UBIGINT, 0::UBIGINT, 0::UBIGINT, tb, tp, tf, true FROM th
ORDER BY bytes DESC`, f, source, k)
}

// topHeavy answers a top-N request from the heavy hitters of the whole hours of the range, and
// raw flows for the rest (partial hours, hours whose heavy hitters are missing or stale). ok is
// false when that cannot be done, or when the bounds do not prove the answer exact: the caller
// then reads raw flows.
func (r *Reader) topHeavy(ctx context.Context, req query.TopRequest, metric query.Metric, limit int) (*query.TopResult, bool, error) {
	field := req.By[0]
	from, to := req.From, req.To
	var hhFiles, rawFiles []string
	for h := floorTime(from, time.Hour); h.Before(to); h = h.Add(time.Hour) {
		name := partitionName(query.TierRaw, h)
		pf, err := listPartition(filepath.Join(r.dir, query.TierRaw.Name, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		whole := !h.Before(from) && !h.Add(time.Hour).After(to)
		if whole && pf.chunks == 0 && pf.merged >= 0 {
			hf, err := listPartition(filepath.Join(r.dir, heavyTier(field.Name).Name, name))
			if err == nil && hf.merged == pf.merged {
				hhFiles = append(hhFiles, hf.live[0])
				continue
			}
		}
		rawFiles = append(rawFiles, pf.live...)
	}
	if len(hhFiles) == 0 {
		return nil, false, nil
	}
	col := metric.Column()
	rows := fmt.Sprintf("SELECT k_hi, k_lo, bytes, packets, flows, thr_%s AS cov, bound FROM read_parquet(%s)", col, sqlFileList(hhFiles))
	var args []any
	if len(rawFiles) > 0 {
		rows += fmt.Sprintf(" UNION ALL SELECT %[1]s_hi, %[1]s_lo, sum(bytes)::UBIGINT, sum(packets)::UBIGINT, count(*)::UBIGINT, 0::UBIGINT, false "+
			"FROM %[2]s WHERE time_ms >= ? AND time_ms < ? GROUP BY ALL", field.Name, rawView(scanFiles(rawFiles)))
		args = append(args, from.UnixMilli(), to.UnixMilli())
	}
	// the top rows by their known sums; the largest upper bound among values missing from some
	// hour; the sum of the thresholds (a value in no kept hour)
	q := fmt.Sprintf(`WITH c AS (%[1]s),
t AS (SELECT coalesce(sum(cov), 0)::UBIGINT AS total FROM c WHERE bound),
s AS (SELECT k_hi, k_lo, sum(bytes)::UBIGINT AS bytes, sum(packets)::UBIGINT AS packets, sum(flows)::UBIGINT AS flows,
  sum(cov)::UBIGINT AS cov FROM c WHERE NOT bound GROUP BY ALL)
(SELECT k_hi, k_lo, bytes, packets, flows, (total - cov)::UBIGINT, 1 AS top FROM s, t ORDER BY %[2]s DESC, k_hi, k_lo LIMIT %[3]d)
UNION ALL SELECT 0, 0, 0, 0, 0, coalesce(max(%[2]s + total - cov), 0)::UBIGINT, 0 FROM s, t WHERE cov < total
UNION ALL SELECT 0, 0, 0, 0, 0, total, 0 FROM t`, rows, col, limit)
	res := &query.TopResult{Tier: "hh", From: query.FormatTime(from), To: query.FormatTime(to),
		By: names(req.By), Metric: metric, Rows: []query.TopRow{}}
	var bound uint64
	exact := true
	type topRow struct{ hi, lo, b, p, f, m uint64 }
	var tops []topRow
	err := r.runQuery(ctx, q, args, func(rs *sql.Rows) error {
		for rs.Next() {
			var x topRow
			var slack uint64
			var top int64
			if err := rs.Scan(&x.hi, &x.lo, &x.b, &x.p, &x.f, &slack, &top); err != nil {
				return err
			}
			if top == 0 {
				bound = max(bound, slack)
				continue
			}
			if slack != 0 {
				exact = false // a top value missing from some hour: its sum is not known
			}
			x.m = map[string]uint64{"bytes": x.b, "packets": x.p, "flows": x.f}[col]
			tops = append(tops, x)
		}
		return nil
	})
	// UNION ALL keeps no order: sort as the raw answer does
	sort.Slice(tops, func(i, j int) bool {
		a, b := tops[i], tops[j]
		if a.m != b.m {
			return a.m > b.m
		}
		if a.hi != b.hi {
			return a.hi < b.hi
		}
		return a.lo < b.lo
	})
	for _, x := range tops {
		row := query.TopRow{Key: renderKey(req.By, []any{x.hi, x.lo}), Bytes: x.b, Packets: x.p, Flows: x.f}
		row.Value = metric.PerSecond(float64(x.m), to.Sub(from).Seconds())
		res.Rows = append(res.Rows, row)
	}
	if err != nil && isMissingFile(err) { // merged or dropped meanwhile: raw answers
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: query on the heavy hitters: %w", err)
	}
	// every value left out is at most bound (a value seen in no kept hour: the sum of the
	// thresholds); the answer is exact when the last row beats it
	if n := len(res.Rows); bound > 0 && (n < limit || metricOf(res.Rows[n-1], col) <= bound) {
		exact = false
	}
	if !exact {
		return nil, false, nil
	}
	return res, true, nil
}

func metricOf(r query.TopRow, col string) uint64 {
	switch col {
	case "packets":
		return r.Packets
	case "flows":
		return r.Flows
	}
	return r.Bytes
}

// runQuery runs q and scans its rows.
func (r *Reader) runQuery(ctx context.Context, q string, args []any, scan func(*sql.Rows) error) error {
	rows, err := r.db.QueryContext(ctx, q, bind(args)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if err := scan(rows); err != nil {
		return err
	}
	return rows.Err()
}
