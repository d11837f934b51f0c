package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"yocho/internal/query"
)

// Reader answers query requests from the files of a store directory. It holds no lock on them:
// any number of readers, in any process, may read while one store writes.
type Reader struct {
	dir string
	ret query.Retention
	db  *sql.DB
	now func() time.Time
}

// OpenReader opens a reader of the store in dir, whose tiers keep data as long as ret says (the
// reader picks tiers by it).
func OpenReader(dir string, ret query.Retention) (*Reader, error) {
	c, err := duckdb.NewConnector("", nil)
	if err != nil {
		return nil, fmt.Errorf("store: opening the query engine: %w", err)
	}
	if ret == nil {
		ret = DefaultRetention()
	}
	return &Reader{dir: dir, ret: ret, db: sql.OpenDB(c), now: time.Now}, nil
}

// Close releases the query engine.
func (r *Reader) Close() error { return r.db.Close() }

// bind turns the filter's values into parameters DuckDB takes (uint64 needs its type named).
func bind(args []any) []any {
	for i, a := range args {
		if u, ok := a.(uint64); ok {
			args[i] = duckdb.Typed(u, duckdb.TYPE_UBIGINT)
		}
	}
	return args
}

// queryFiles runs the query built from the files of tier t over [from, to); a roll-up tier
// that does not hold the whole range yet is made up for by finer tiers (segments). When a file
// vanished between listing and reading (merged and deleted meanwhile), it lists again and
// retries once.
func (r *Reader) queryFiles(ctx context.Context, t query.Tier, from, to time.Time,
	build func(src string) (string, []any), scan func(*sql.Rows) error) error {
	for attempt := 0; ; attempt++ {
		segs, err := segments(r.dir, t, from, to)
		if err != nil {
			return fmt.Errorf("store: tier %s: %w", t.Name, err)
		}
		if len(segs) == 0 {
			return nil
		}
		q, args := build(segmentsSource(t, segs))
		rows, err := r.db.QueryContext(ctx, q, bind(args)...)
		if err == nil {
			err = scan(rows)
			if cerr := rows.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = rows.Err()
			}
		}
		if err != nil && attempt == 0 && isMissingFile(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("store: query on tier %s: %w", t.Name, err)
		}
		return nil
	}
}

func isMissingFile(err error) bool {
	s := err.Error()
	return strings.Contains(s, "No files found") || strings.Contains(s, "No such file") ||
		strings.Contains(s, "Cannot open file")
}

func floorTime(t time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return t
	}
	return time.UnixMilli(floorDiv(t.UnixMilli(), d.Milliseconds()) * d.Milliseconds()).UTC()
}

func ceilTime(t time.Time, d time.Duration) time.Time {
	f := floorTime(t, d)
	if f.Equal(t) || d <= 0 {
		return t
	}
	return f.Add(d)
}

// keyColumns are the stored columns of the dimensions, in order: two per address, one per other
// field.
func keyColumns(by []query.Field, prefix string) []string {
	var out []string
	for _, f := range by {
		for _, c := range fieldColumns(f) {
			out = append(out, prefix+c)
		}
	}
	return out
}

// keyCasts are the SQL casts that make keyColumns scannable: UBIGINT for numbers, none for text.
func keyCasts(by []query.Field) []string {
	var out []string
	for _, f := range by {
		for range fieldColumns(f) {
			if f.IsText() {
				out = append(out, "")
			} else {
				out = append(out, "::UBIGINT")
			}
		}
	}
	return out
}

// flowsSum is how a tier counts flows.
func flowsSum(t query.Tier, prefix string) string {
	if t.Bucket == 0 {
		return "count(*)"
	}
	return "sum(" + prefix + "flows)"
}

// renderKey turns scanned key values (uint64 for numbers, string for text, one per keyColumns
// entry) into text, one per dimension.
func renderKey(by []query.Field, vals []any) []string {
	key := make([]string, 0, len(by))
	i := 0
	for _, f := range by {
		switch {
		case f.Kind == query.KindAddr:
			key = append(key, query.FormatValue(f, asUint(vals[i]), asUint(vals[i+1])))
			i += 2
		case f.IsText():
			s, _ := vals[i].(string)
			key = append(key, s)
			i++
		default:
			key = append(key, query.FormatValue(f, 0, asUint(vals[i])))
			i++
		}
	}
	return key
}

// asUint is a scanned number.
func asUint(v any) uint64 {
	switch x := v.(type) {
	case uint64:
		return x
	case int64:
		return uint64(x)
	}
	return 0
}

func names(by []query.Field) []string {
	out := make([]string, len(by))
	for i, f := range by {
		out[i] = f.Name
	}
	return out
}

// Top answers a top-N request.
func (r *Reader) Top(ctx context.Context, req query.TopRequest) (*query.TopResult, error) {
	if len(req.By) == 0 {
		return nil, errors.New("top: by names no field")
	}
	metric := req.Metric
	if metric == "" {
		metric = query.Bytes
	}
	limit := query.ClampLimit(req.Limit, query.DefaultLimit, query.MaxTopLimit)
	if query.ChooseHeavyHitters(req.By, req.Filter) {
		res, ok, err := r.topHeavy(ctx, req, metric, limit)
		if err != nil {
			return nil, err
		}
		if ok {
			return res, nil
		}
	}
	t := query.ChooseTopTier(req.By, req.Filter, req.Range, r.ret, r.now())
	from, to := floorTime(req.From, t.Bucket), ceilTime(req.To, t.Bucket)
	res := &query.TopResult{Tier: t.Name, From: query.FormatTime(from), To: query.FormatTime(to),
		By: names(req.By), Metric: metric, Rows: []query.TopRow{}}
	keys, casts := keyColumns(req.By, ""), keyCasts(req.By)
	order := map[string]string{"bytes": "b", "packets": "p", "flows": "f"}[metric.Column()]
	seconds := to.Sub(from).Seconds()
	err := r.queryFiles(ctx, t, from, to, func(src string) (string, []any) {
		cond, args := req.Filter.SQL()
		sel := make([]string, len(keys))
		ord := make([]string, len(keys))
		for i, k := range keys {
			sel[i] = fmt.Sprintf("%s%s AS k%d", k, casts[i], i)
			ord[i] = fmt.Sprintf("k%d", i)
		}
		q := fmt.Sprintf("SELECT %s, sum(bytes)::UBIGINT AS b, sum(packets)::UBIGINT AS p, %s::UBIGINT AS f FROM %s "+
			"WHERE time_ms >= ? AND time_ms < ? AND %s GROUP BY ALL ORDER BY %s DESC, %s LIMIT %d",
			strings.Join(sel, ", "), flowsSum(t, ""), src, cond, order, strings.Join(ord, ", "), limit)
		return q, append([]any{from.UnixMilli(), to.UnixMilli()}, args...)
	}, func(rows *sql.Rows) error {
		n := len(keys)
		kv := make([]any, n)
		var sums [3]uint64
		dest := make([]any, 0, n+3)
		for i := range kv {
			dest = append(dest, &kv[i])
		}
		dest = append(dest, &sums[0], &sums[1], &sums[2])
		for rows.Next() {
			if err := rows.Scan(dest...); err != nil {
				return err
			}
			row := query.TopRow{Key: renderKey(req.By, kv), Bytes: sums[0], Packets: sums[1], Flows: sums[2]}
			row.Value = metric.PerSecond(float64(map[string]uint64{"bytes": row.Bytes, "packets": row.Packets, "flows": row.Flows}[metric.Column()]), seconds)
			res.Rows = append(res.Rows, row)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// Series answers a time-series request: one series, or the top Limit groups of By and "other".
func (r *Reader) Series(ctx context.Context, req query.SeriesRequest) (*query.SeriesResult, error) {
	metric := req.Metric
	if metric == "" {
		metric = query.Bytes
	}
	bucket := req.Bucket
	if bucket <= 0 {
		bucket = query.AutoBucket(req.Range)
	}
	if bucket < time.Second || bucket%time.Second != 0 {
		return nil, fmt.Errorf("series: bucket %s is not a whole number of seconds", bucket)
	}
	t := query.ChooseSeriesTier(req.By, req.Filter, bucket, req.Range, r.ret, r.now())
	if t.Bucket > 0 && bucket%t.Bucket != 0 { // a coarser tier than asked: its bucket at least
		bucket = (bucket/t.Bucket + 1) * t.Bucket
	}
	from, to := floorTime(req.From, bucket), ceilTime(req.To, bucket)
	npoints := int(to.Sub(from) / bucket)
	if npoints > query.MaxSeriesPoints {
		return nil, fmt.Errorf("series: %d points of %s is too many (at most %d): ask for a larger bucket", npoints, bucket, query.MaxSeriesPoints)
	}
	res := &query.SeriesResult{Tier: t.Name, From: query.FormatTime(from), To: query.FormatTime(to),
		BucketSeconds: int64(bucket / time.Second), By: names(req.By), Metric: metric, Series: []query.Series{}}
	for i := range npoints {
		res.Times = append(res.Times, from.Add(time.Duration(i)*bucket))
	}
	col := metric.Column()
	sum := "sum(" + col + ")"
	if col == "flows" {
		sum = flowsSum(t, "")
	}
	b := bucket.Milliseconds()
	keys, casts := keyColumns(req.By, ""), keyCasts(req.By)
	stack := query.ClampLimit(req.Limit, query.DefaultStack, query.MaxStack)
	type line struct {
		key   []string
		other bool
		vals  []float64
		total float64
	}
	lines := map[string]*line{}
	err := r.queryFiles(ctx, t, from, to, func(src string) (string, []any) {
		cond, args := req.Filter.SQL()
		base := []any{from.UnixMilli(), to.UnixMilli()}
		if len(keys) == 0 {
			q := fmt.Sprintf("SELECT time_ms - time_ms %% %d AS t, %s::UBIGINT FROM %s WHERE time_ms >= ? AND time_ms < ? AND %s GROUP BY 1",
				b, sum, src, cond)
			return q, append(base, args...)
		}
		srcCols := append([]string{"time_ms"}, keys...)
		if col != "flows" || t.Bucket > 0 {
			srcCols = append(srcCols, col)
		}
		on := make([]string, len(keys))
		topCols := make([]string, len(keys))
		for i, k := range keys {
			on[i] = "s." + k + " = t." + k
			topCols[i] = "t." + k + casts[i]
		}
		ssum := strings.ReplaceAll(sum, "(", "(s.")
		if sum == "count(*)" {
			ssum = "count(*)"
		}
		q := fmt.Sprintf("WITH s AS (SELECT %s FROM %s WHERE time_ms >= ? AND time_ms < ? AND %s), "+
			"t AS (SELECT %s FROM s GROUP BY ALL ORDER BY %s DESC, %s LIMIT %d) "+
			"SELECT s.time_ms - s.time_ms %% %d AS ts, t.%s IS NULL AS other, %s, %s::UBIGINT FROM s LEFT JOIN t ON %s GROUP BY ALL",
			strings.Join(srcCols, ", "), src, cond,
			strings.Join(keys, ", "), sum, strings.Join(keys, ", "), stack,
			b, keys[0], strings.Join(topCols, ", "), ssum, strings.Join(on, " AND "))
		return q, append(base, args...)
	}, func(rows *sql.Rows) error {
		var ts int64
		var other bool
		var v uint64
		keyVals := make([]any, len(keys))
		dest := []any{&ts}
		if len(keys) > 0 {
			dest = append(dest, &other)
			for i := range keyVals {
				dest = append(dest, &keyVals[i])
			}
		}
		dest = append(dest, &v)
		for rows.Next() {
			if err := rows.Scan(dest...); err != nil {
				return err
			}
			var l *line
			var id string
			switch {
			case len(keys) == 0:
				id = ""
			case other:
				id = "\x00other"
			default:
				k := renderKey(req.By, keyVals)
				id = strings.Join(k, "\x00")
				if lines[id] == nil {
					lines[id] = &line{key: k, vals: make([]float64, npoints)}
				}
			}
			l = lines[id]
			if l == nil {
				l = &line{key: []string{}, other: other, vals: make([]float64, npoints)}
				lines[id] = l
			}
			i := int((ts - from.UnixMilli()) / b)
			if i < 0 || i >= npoints {
				continue
			}
			val := metric.PerSecond(float64(v), bucket.Seconds())
			l.vals[i] += val
			l.total += float64(v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var ordered []*line
	for _, l := range lines {
		if !l.other {
			ordered = append(ordered, l)
		}
	}
	sort.Slice(ordered, func(i, j int) bool {
		if ordered[i].total != ordered[j].total {
			return ordered[i].total > ordered[j].total
		}
		return strings.Join(ordered[i].key, ",") < strings.Join(ordered[j].key, ",")
	})
	if o := lines["\x00other"]; o != nil {
		o.key = nil
		ordered = append(ordered, o)
	}
	for _, l := range ordered {
		res.Series = append(res.Series, query.Series{Key: l.key, Other: l.other, Values: l.vals})
	}
	if len(res.Series) == 0 && len(keys) == 0 {
		res.Series = append(res.Series, query.Series{Key: []string{}, Values: make([]float64, npoints)})
	}
	return res, nil
}

// flowColumns is what a flow search reads, in FlowRow order, each cast for scanning.
var flowColumns = func() string {
	var out []string
	for _, c := range flowFields {
		if c.typ == "BIGINT" || c.typ == "VARCHAR" {
			out = append(out, c.name)
		} else {
			out = append(out, c.name+"::UBIGINT")
		}
	}
	return strings.Join(out, ", ")
}()

// Flows answers a flow search: raw flows, newest first.
func (r *Reader) Flows(ctx context.Context, req query.FlowsRequest) (*query.FlowsResult, error) {
	limit := query.ClampLimit(req.Limit, query.DefaultFlows, query.MaxFlows)
	t := query.TierRaw
	res := &query.FlowsResult{Tier: t.Name, From: query.FormatTime(req.From), To: query.FormatTime(req.To), Flows: []query.FlowRow{}}
	err := r.queryFiles(ctx, t, req.From, req.To, func(src string) (string, []any) {
		cond, args := req.Filter.SQL()
		q := fmt.Sprintf("SELECT %s FROM %s WHERE time_ms >= ? AND time_ms < ? AND %s "+
			"ORDER BY time_ms DESC, exporter_hi, exporter_lo, src_addr_hi, src_addr_lo, dst_addr_hi, dst_addr_lo, src_port, dst_port LIMIT %d",
			flowColumns, src, cond, limit)
		return q, append([]any{req.From.UnixMilli(), req.To.UnixMilli()}, args...)
	}, func(rows *sql.Rows) error {
		var tm, dur, delay int64
		u := make([]uint64, len(flowFields)-3-len(flowTexts))
		var texts [len(flowTexts)]string
		dest := []any{&tm, &dur, &delay}
		for i := range u {
			dest = append(dest, &u[i])
		}
		for i := range texts {
			dest = append(dest, &texts[i])
		}
		for rows.Next() {
			if err := rows.Scan(dest...); err != nil {
				return err
			}
			row := flowRow(tm, dur, delay, u)
			row.SrcHostgroup, row.DstHostgroup, row.SrcCountry, row.DstCountry = texts[0], texts[1], texts[2], texts[3]
			res.Flows = append(res.Flows, row)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// flowTexts are the text fields of flowFields, its last ones.
var flowTexts = [...]string{"src_hostgroup", "dst_hostgroup", "src_country", "dst_country"}

// flowRow builds a FlowRow from the scanned columns; u holds the numbers of flowFields[3:] (the
// texts, flowTexts, are set by the caller).
func flowRow(tm, dur, delay int64, u []uint64) query.FlowRow {
	addr := func(i int) string {
		a := query.DecodeAddr(u[i], u[i+1])
		if !a.IsValid() {
			return ""
		}
		return a.String()
	}
	return query.FlowRow{
		Start:            time.UnixMilli(tm).UTC(),
		End:              time.UnixMilli(tm + dur).UTC(),
		Received:         time.UnixMilli(tm + dur + delay).UTC(),
		Exporter:         addr(0),
		ObsDomain:        uint32(u[2]),
		SamplerID:        uint32(u[3]),
		SamplingRate:     uint32(u[4]),
		InIf:             uint32(u[5]),
		OutIf:            uint32(u[6]),
		SrcAddr:          addr(7),
		DstAddr:          addr(9),
		NextHop:          addr(11),
		SrcPort:          uint16(u[13]),
		DstPort:          uint16(u[14]),
		Proto:            query.ProtoName(uint8(u[15])),
		TCPFlags:         uint8(u[16]),
		ToS:              uint8(u[17]),
		ICMPType:         uint8(u[18]),
		ICMPCode:         uint8(u[19]),
		Bytes:            u[20],
		Packets:          u[21],
		SrcAS:            uint32(u[22]),
		DstAS:            uint32(u[23]),
		SrcMask:          uint8(u[24]),
		DstMask:          uint8(u[25]),
		VLAN:             uint16(u[26]),
		Direction:        query.DirectionName(uint8(u[27])),
		ForwardingStatus: uint8(u[28]),
		MPLSLabel:        uint32(u[29]),
	}
}
