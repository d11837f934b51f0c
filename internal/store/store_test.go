package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/flow"
	"yocho/internal/query"
)

var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// openTestStore starts a store in dir whose clock reads testNow and which writes only on Sync.
func openTestStore(t *testing.T, dir string) *Store {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Dir = dir
	cfg.FlushInterval = time.Hour
	cfg.CompactInterval = time.Hour
	s, err := New(cfg, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return testNow }
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// knownFlows are 6000 flows over the 3 hours before testNow, each starting at its own
// millisecond: three exporters (one IPv6) with sampling rates 1, 10 and 100, a few destinations
// (one IPv6 multicast, whose high half has its top bit set), well-known and other ports.
func knownFlows() []flow.Record {
	r := rand.New(rand.NewPCG(7, 7))
	exporters := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8::1")}
	rates := []uint32{1, 10, 100}
	dsts := []netip.Addr{}
	for i := 1; i <= 12; i++ {
		dsts = append(dsts, netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}))
	}
	dsts = append(dsts, netip.MustParseAddr("ff02::1"), netip.MustParseAddr("2001:db8:1::5"))
	ports := []uint16{53, 443, 11211, 12345, 40000}
	protos := []uint8{6, 17, 17, 1}
	var out []flow.Record
	start := testNow.Add(-3 * time.Hour).UnixMilli()
	for i := range 6000 {
		e := r.IntN(3)
		d := dsts[r.IntN(len(dsts))]
		src := netip.AddrFrom4([4]byte{198, 51, 100, byte(r.IntN(40))})
		if d.Is6() {
			src = netip.MustParseAddr("2001:db8:2::9")
		}
		st := start + int64(i)*1800 + int64(r.IntN(1000)) // unique, increasing
		out = append(out, flow.Record{
			StartMs: st, EndMs: st + int64(r.IntN(5000)), ReceivedMs: st + 6000,
			Exporter: exporters[e], SamplingRate: rates[e], ObsDomain: uint32(e),
			InIf: uint32(1 + r.IntN(3)), OutIf: uint32(10 + r.IntN(2)),
			SrcAddr: src, DstAddr: d, NextHop: netip.MustParseAddr("10.0.0.1"),
			SrcPort: ports[r.IntN(len(ports))], DstPort: ports[r.IntN(len(ports))], Proto: protos[r.IntN(len(protos))],
			Bytes: uint64(40 + r.IntN(1_000_000)), Packets: uint64(1 + r.IntN(1000)),
			SrcAS: uint32(64500 + r.IntN(3)), DstAS: 64496, DstMask: 24, Direction: uint8(r.IntN(3)),
			TCPFlags: uint8(r.IntN(64)), VLAN: uint16(r.IntN(3)), MPLSLabel: uint32(r.IntN(2) * 16),
		})
		// enrichment, from the addresses: two customers' hostgroups, countries by source
		f := &out[len(out)-1]
		if d.Is4() {
			f.DstHostgroup, f.DstCountry = []string{"customer-a", "customer-b"}[(d.As4()[3]-1)/6], "JP"
			f.SrcCountry = []string{"JP", "US", "CN", "", "KR"}[src.As4()[3]%5]
		} else if d == netip.MustParseAddr("2001:db8:1::5") {
			f.DstHostgroup, f.SrcHostgroup = "v6 lab", "v6 lab" // a name with a space
		}
	}
	return out
}

func ingest(t *testing.T, s *Store, recs []flow.Record) {
	t.Helper()
	b := flow.NewBatch(1000)
	for i := range recs {
		b.Append(&recs[i])
		if b.Len() == 1000 || i == len(recs)-1 {
			s.Consume(b)
			b.Reset()
		}
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
}

// oracle computes answers straight from the records.
type oracle []flow.Record

func fieldValue(r *flow.Record, name string) string {
	switch name {
	case "dst_addr":
		return r.DstAddr.String()
	case "src_addr":
		return r.SrcAddr.String()
	case "exporter":
		return r.Exporter.String()
	case "proto":
		return query.ProtoName(r.Proto)
	case "dst_port":
		return itoa(uint64(r.DstPort))
	case "in_if":
		return itoa(uint64(r.InIf))
	case "src_as":
		return itoa(uint64(r.SrcAS))
	case "src_hostgroup":
		return r.SrcHostgroup
	case "dst_hostgroup":
		return r.DstHostgroup
	case "src_country":
		return r.SrcCountry
	case "dst_country":
		return r.DstCountry
	}
	panic(name)
}

// fieldNums are the stored values of a field, as the store orders them: numbers, or text.
func fieldNums(r *flow.Record, name string) []any {
	addr := func(a netip.Addr) []any { hi, lo := query.EncodeAddr(a); return []any{hi, lo} }
	if f, _ := query.LookupField(name); f.IsText() {
		return []any{fieldValue(r, name)}
	}
	switch name {
	case "dst_addr":
		return addr(r.DstAddr)
	case "src_addr":
		return addr(r.SrcAddr)
	case "exporter":
		return addr(r.Exporter)
	case "proto":
		return []any{uint64(r.Proto)}
	case "dst_port":
		return []any{uint64(r.DstPort)}
	case "in_if":
		return []any{uint64(r.InIf)}
	case "src_as":
		return []any{uint64(r.SrcAS)}
	}
	panic(name)
}

// lessStored orders two stored values of one column.
func lessStored(a, b any) bool {
	if x, ok := a.(string); ok {
		return x < b.(string)
	}
	return a.(uint64) < b.(uint64)
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

func (o oracle) top(by []string, metric query.Metric, keep func(*flow.Record) bool, from, to time.Time, limit int) []query.TopRow {
	groups := map[string]*query.TopRow{}
	order := map[string][]any{} // the store breaks ties by the stored key values, ascending
	for i := range o {
		r := &o[i]
		if r.StartMs < from.UnixMilli() || r.StartMs >= to.UnixMilli() || !keep(r) {
			continue
		}
		var key []string
		for _, f := range by {
			key = append(key, fieldValue(r, f))
		}
		k := strings.Join(key, "|")
		g := groups[k]
		if g == nil {
			g = &query.TopRow{Key: key}
			groups[k] = g
			for _, f := range by {
				order[k] = append(order[k], fieldNums(r, f)...)
			}
		}
		g.Bytes += r.ScaledBytes()
		g.Packets += r.ScaledPackets()
		g.Flows++
	}
	var rows []query.TopRow
	for _, g := range groups {
		v := map[string]uint64{"bytes": g.Bytes, "packets": g.Packets, "flows": g.Flows}[metric.Column()]
		g.Value = metric.PerSecond(float64(v), to.Sub(from).Seconds())
		rows = append(rows, *g)
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Value != rows[j].Value {
			return rows[i].Value > rows[j].Value
		}
		a, b := order[strings.Join(rows[i].Key, "|")], order[strings.Join(rows[j].Key, "|")]
		for x := range a {
			if a[x] != b[x] {
				return lessStored(a[x], b[x])
			}
		}
		return false
	})
	if len(rows) > limit {
		rows = rows[:limit]
	}
	return rows
}

func parseTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustFilter(t *testing.T, s string) *query.Filter {
	t.Helper()
	f, err := query.ParseFilter(s)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustDims(t *testing.T, s string) []query.Field {
	t.Helper()
	d, err := query.ParseDims(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestQueriesExact(t *testing.T) {
	recs := knownFlows()
	o := oracle(recs)
	s := openTestStore(t, t.TempDir())
	ingest(t, s, recs)
	ctx := context.Background()
	hour := func(n int) time.Time { return testNow.Add(time.Duration(n) * time.Hour) }
	any := func(*flow.Record) bool { return true }
	wk := func(p uint16) bool { return p == 53 || p == 11211 }

	topCases := []struct {
		name     string
		req      query.TopRequest
		tier     string
		keep     func(*flow.Record) bool
		exactLen int // rows the oracle must have at least, so that the check means something
	}{
		{"top dst_addr by bytes, last hour", query.TopRequest{Range: query.Range{From: hour(-1), To: testNow}, By: mustDims(t, "dst_addr"), Metric: query.Bytes, Limit: 5}, "raw", any, 5},
		{"top exporter by packets, udp from well-known ports, aligned 2h", query.TopRequest{Range: query.Range{From: hour(-2), To: testNow}, By: mustDims(t, "exporter"), Metric: query.Packets, Limit: 10,
			Filter: mustFilter(t, "proto = udp and src_port in (53, 11211)")}, "1h", func(r *flow.Record) bool { return r.Proto == 17 && wk(r.SrcPort) }, 3},
		{"top proto by bps, 90 unaligned minutes", query.TopRequest{Range: query.Range{From: testNow.Add(-90*time.Minute - 17*time.Second), To: testNow.Add(-17 * time.Second)}, By: mustDims(t, "proto"), Metric: query.BPS, Limit: 10}, "1m-narrow", any, 3},
		{"top src_as by bytes, 90 unaligned minutes", query.TopRequest{Range: query.Range{From: testNow.Add(-90*time.Minute - 17*time.Second), To: testNow.Add(-17 * time.Second)}, By: mustDims(t, "src_as"), Metric: query.Bytes, Limit: 10}, "1m", any, 3},
		{"top proto,dst_port by flows, last 3h", query.TopRequest{Range: query.Range{From: hour(-3), To: testNow}, By: mustDims(t, "proto,dst_port"), Metric: query.Flows, Limit: 4}, "raw", any, 4},
		{"top src_addr to an IPv6 multicast group", query.TopRequest{Range: query.Range{From: hour(-3), To: testNow}, By: mustDims(t, "src_addr"), Metric: query.Bytes, Limit: 3,
			Filter: mustFilter(t, "dst_addr = ff02::1 or dst_addr in 203.0.113.8/30")}, "raw",
			func(r *flow.Record) bool {
				return r.DstAddr == netip.MustParseAddr("ff02::1") || netip.MustParsePrefix("203.0.113.8/30").Contains(r.DstAddr)
			}, 3},
		{"top in_if by pps, 5 unaligned hours, not exporter", query.TopRequest{Range: query.Range{From: hour(-5).Add(time.Second), To: testNow.Add(time.Second)}, By: mustDims(t, "in_if"), Metric: query.PPS, Limit: 10,
			Filter: mustFilter(t, "not exporter = 192.0.2.1")}, "1m-narrow", func(r *flow.Record) bool { return r.Exporter != netip.MustParseAddr("192.0.2.1") }, 3},
		{"top src_as by pps, 5 unaligned hours, not exporter", query.TopRequest{Range: query.Range{From: hour(-5).Add(time.Second), To: testNow.Add(time.Second)}, By: mustDims(t, "src_as"), Metric: query.PPS, Limit: 10,
			Filter: mustFilter(t, "not exporter = 192.0.2.1")}, "5m", func(r *flow.Record) bool { return r.Exporter != netip.MustParseAddr("192.0.2.1") }, 3},
		{"top src_country by bytes, to two hostgroups, aligned 2h", query.TopRequest{Range: query.Range{From: hour(-2), To: testNow}, By: mustDims(t, "src_country"), Metric: query.Bytes, Limit: 10,
			Filter: mustFilter(t, "dst_hostgroup in (customer-a, customer-b) and dst_country = jp")}, "1h",
			func(r *flow.Record) bool {
				return (r.DstHostgroup == "customer-a" || r.DstHostgroup == "customer-b") && r.DstCountry == "JP"
			}, 5},
		{"top dst_hostgroup,src_country by flows, 90 unaligned minutes, not US", query.TopRequest{Range: query.Range{From: testNow.Add(-90*time.Minute - 17*time.Second), To: testNow.Add(-17 * time.Second)},
			By: mustDims(t, "dst_hostgroup,src_country"), Metric: query.Flows, Limit: 20, Filter: mustFilter(t, `src_country != US and not dst_hostgroup = ""`)}, "1m",
			func(r *flow.Record) bool { return r.SrcCountry != "US" && r.DstHostgroup != "" }, 9},
		{"top src_hostgroup by packets, last 3h, src_addr filter", query.TopRequest{Range: query.Range{From: hour(-3), To: testNow}, By: mustDims(t, "src_hostgroup"), Metric: query.Packets, Limit: 10,
			Filter: mustFilter(t, `src_addr in 2001:db8::/32 or src_hostgroup = "v6 lab"`)}, "raw",
			func(r *flow.Record) bool { return r.SrcAddr.Is6() || r.SrcHostgroup == "v6 lab" }, 1},
	}
	answers := map[string]string{}
	for _, tc := range topCases {
		res, err := s.Top(ctx, tc.req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if res.Tier != tc.tier {
			t.Errorf("%s: tier %s, want %s", tc.name, res.Tier, tc.tier)
		}
		from, to := parseTime(t, res.From), parseTime(t, res.To)
		if from.After(tc.req.From) || to.Before(tc.req.To) {
			t.Errorf("%s: answered %s..%s, which does not cover the request", tc.name, res.From, res.To)
		}
		want := o.top(res.By, tc.req.Metric, tc.keep, from, to, tc.req.Limit)
		if len(want) < tc.exactLen {
			t.Fatalf("%s: the oracle has only %d rows", tc.name, len(want))
		}
		if !reflect.DeepEqual(res.Rows, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, res.Rows, want)
		}
		j, _ := json.Marshal(res)
		answers[tc.name] = string(j)
	}

	// series: bps by proto (narrow tier) and by source AS (5-minute tier), top 2 stacked plus
	// other, 5-minute buckets over 3 aligned hours
	for _, sc := range []struct{ dim, tier string }{{"proto", "1m-narrow"}, {"src_as", "5m"}} {
		sr, err := s.Series(ctx, query.SeriesRequest{Range: query.Range{From: hour(-3), To: testNow}, By: mustDims(t, sc.dim), Metric: query.BPS, Limit: 2, Bucket: 5 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if sr.Tier != sc.tier || len(sr.Times) != 36 || len(sr.Series) != 3 || !sr.Series[2].Other {
			t.Fatalf("series: tier %s, %d times, %d series", sr.Tier, len(sr.Times), len(sr.Series))
		}
		totals := o.top([]string{sc.dim}, query.Bytes, any, hour(-3), testNow, 10)
		for i := range 2 {
			if !reflect.DeepEqual(sr.Series[i].Key, totals[i].Key) {
				t.Errorf("series %d is %v, want %v", i, sr.Series[i].Key, totals[i].Key)
			}
		}
		for bi, bt := range sr.Times {
			per := o.top([]string{sc.dim}, query.BPS, any, bt, bt.Add(5*time.Minute), 10)
			other := 0.0
			for _, p := range per {
				matched := false
				for _, line := range sr.Series[:2] {
					if reflect.DeepEqual(line.Key, p.Key) {
						matched = true
						if !near(line.Values[bi], p.Value) {
							t.Errorf("bucket %s %v: %v, want %v", bt, p.Key, line.Values[bi], p.Value)
						}
					}
				}
				if !matched {
					other += p.Value
				}
			}
			if !near(sr.Series[2].Values[bi], other) {
				t.Errorf("bucket %s other: %v, want %v", bt, sr.Series[2].Values[bi], other)
			}
		}
	}
	// series: bytes by destination hostgroup, the top one stacked plus other, hourly: the 1h tier
	sr, err := s.Series(ctx, query.SeriesRequest{Range: query.Range{From: hour(-3), To: testNow}, By: mustDims(t, "dst_hostgroup"), Metric: query.Bytes, Limit: 1, Bucket: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if sr.Tier != "1h" || len(sr.Times) != 3 || len(sr.Series) != 2 || !sr.Series[1].Other {
		t.Fatalf("series by hostgroup: tier %s, %d times, %+v", sr.Tier, len(sr.Times), sr.Series)
	}
	hgTop := o.top([]string{"dst_hostgroup"}, query.Bytes, any, hour(-3), testNow, 10)
	if !reflect.DeepEqual(sr.Series[0].Key, hgTop[0].Key) {
		t.Errorf("series by hostgroup: top line %v, want %v", sr.Series[0].Key, hgTop[0].Key)
	}
	for bi, bt := range sr.Times {
		var top, other float64
		for _, p := range o.top([]string{"dst_hostgroup"}, query.Bytes, any, bt, bt.Add(time.Hour), 10) {
			if reflect.DeepEqual(p.Key, hgTop[0].Key) {
				top += float64(p.Bytes)
			} else {
				other += float64(p.Bytes)
			}
		}
		if sr.Series[0].Values[bi] != top || sr.Series[1].Values[bi] != other {
			t.Errorf("series by hostgroup, hour %s: %v and %v, want %v and %v", bt, sr.Series[0].Values[bi], sr.Series[1].Values[bi], top, other)
		}
	}
	// series: one line of flows per 10 s over the last 10 minutes: raw
	sr, err = s.Series(ctx, query.SeriesRequest{Range: query.Range{From: testNow.Add(-10 * time.Minute), To: testNow}, Metric: query.Flows, Bucket: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if sr.Tier != "raw" || len(sr.Times) != 60 || len(sr.Series) != 1 {
		t.Fatalf("flows series: tier %s, %d times, %d series", sr.Tier, len(sr.Times), len(sr.Series))
	}
	for bi, bt := range sr.Times {
		var n float64
		for _, r := range recs {
			if r.StartMs >= bt.UnixMilli() && r.StartMs < bt.Add(10*time.Second).UnixMilli() {
				n++
			}
		}
		if sr.Series[0].Values[bi] != n {
			t.Errorf("bucket %s: %v flows, want %v", bt, sr.Series[0].Values[bi], n)
		}
	}

	// flow search: newest first, every field back
	fr, err := s.Flows(ctx, query.FlowsRequest{Range: query.Range{From: hour(-3), To: testNow}, Limit: 7,
		Filter: mustFilter(t, "dst_addr in 203.0.113.0/29 and not proto = icmp")})
	if err != nil {
		t.Fatal(err)
	}
	var want []flow.Record
	for i := len(recs) - 1; i >= 0 && len(want) < 7; i-- {
		r := recs[i]
		if netip.MustParsePrefix("203.0.113.0/29").Contains(r.DstAddr) && r.Proto != 1 {
			want = append(want, r)
		}
	}
	if fr.Tier != "raw" || len(fr.Flows) != len(want) {
		t.Fatalf("flows: tier %s, %d flows, want %d", fr.Tier, len(fr.Flows), len(want))
	}
	for i, w := range want {
		g := fr.Flows[i]
		if g.Start.UnixMilli() != w.StartMs || g.End.UnixMilli() != w.EndMs || !receivedWithin(g.Received, w.ReceivedMs) ||
			g.Exporter != w.Exporter.String() || g.SrcAddr != w.SrcAddr.String() || g.DstAddr != w.DstAddr.String() ||
			g.NextHop != w.NextHop.String() || g.SrcPort != w.SrcPort || g.DstPort != w.DstPort || g.Proto != query.ProtoName(w.Proto) ||
			g.Bytes != w.ScaledBytes() || g.Packets != w.ScaledPackets() || g.SamplingRate != w.SamplingRate ||
			g.InIf != w.InIf || g.OutIf != w.OutIf || g.SrcAS != w.SrcAS || g.DstAS != w.DstAS || g.TCPFlags != w.TCPFlags ||
			g.VLAN != w.VLAN || g.MPLSLabel != w.MPLSLabel || g.ObsDomain != w.ObsDomain || g.DstMask != w.DstMask ||
			g.Direction != query.DirectionName(w.Direction) || g.SrcHostgroup != w.SrcHostgroup || g.DstHostgroup != w.DstHostgroup ||
			g.SrcCountry != w.SrcCountry || g.DstCountry != w.DstCountry {
			t.Errorf("flow %d:\n got %+v\nwant %+v", i, g, w)
		}
	}

	// merging changes files, never answers
	if _, err := s.Compact(true); err != nil {
		t.Fatal(err)
	}
	for _, tc := range topCases {
		res, err := s.Top(ctx, tc.req)
		if err != nil {
			t.Fatal(err)
		}
		if tc.tier == "raw" && query.ChooseHeavyHitters(tc.req.By, tc.req.Filter) {
			// merged hours have heavy hitters now: same answer, another source
			if res.Tier != "hh" {
				t.Errorf("%s: tier %s after merging, want hh", tc.name, res.Tier)
			}
			res.Tier = "raw"
		}
		if j, _ := json.Marshal(res); string(j) != answers[tc.name] {
			t.Errorf("%s changed after merging:\n%s\n%s", tc.name, j, answers[tc.name])
		}
	}
	pf, _ := listPartition(filepath.Join(s.cfg.Dir, "raw", "2026-11-25T10"))
	if pf.chunks != 0 || pf.merged < 0 || len(pf.live) != 1 {
		t.Errorf("after merging, raw/2026-11-25T10 reads %v", pf.live)
	}
}

func near(a, b float64) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d <= 1e-9*max(1, b)
}

func TestRetentionDropsWholePartitions(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	old := testNow.Add(-20 * 24 * time.Hour)
	recs := []flow.Record{
		{StartMs: old.UnixMilli(), EndMs: old.UnixMilli(), ReceivedMs: old.UnixMilli(), Exporter: netip.MustParseAddr("192.0.2.1"),
			SrcAddr: netip.MustParseAddr("198.51.100.1"), DstAddr: netip.MustParseAddr("203.0.113.1"), Proto: 17, Bytes: 1000, Packets: 1, SamplingRate: 10},
		{StartMs: testNow.Add(-time.Minute).UnixMilli(), Exporter: netip.MustParseAddr("192.0.2.1"),
			SrcAddr: netip.MustParseAddr("198.51.100.1"), DstAddr: netip.MustParseAddr("203.0.113.2"), Proto: 6, Bytes: 500, Packets: 1, SamplingRate: 10},
	}
	ingest(t, s, recs)
	oldHour := partitionName(query.TierRaw, old)
	for _, tier := range []string{"raw", "1m"} {
		if _, err := os.Stat(filepath.Join(dir, tier, oldHour)); err != nil {
			t.Fatalf("%s partition of 20 days ago missing before retention: %v", tier, err)
		}
	}
	if err := s.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "raw", oldHour)); !os.IsNotExist(err) {
		t.Errorf("raw partition of 20 days ago survived a 15-day retention: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "1m", oldHour)); err != nil {
		t.Errorf("1m partition of 20 days ago dropped before 30 days: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "raw", partitionName(query.TierRaw, testNow.Add(-time.Minute)))); err != nil {
		t.Errorf("this hour's raw partition dropped: %v", err)
	}
	ctx := context.Background()
	rg := query.Range{From: old.Add(-time.Hour), To: old.Add(time.Hour)}
	res, err := s.Top(ctx, query.TopRequest{Range: rg, By: mustDims(t, "proto"), Metric: query.Bytes})
	if err != nil {
		t.Fatal(err)
	}
	if res.Tier != "1m" && res.Tier != "1m-narrow" && res.Tier != "5m" && res.Tier != "1h" || len(res.Rows) != 1 || res.Rows[0].Bytes != 10000 {
		t.Errorf("20 days ago by proto: tier %s rows %+v; want a roll-up with 10000 bytes", res.Tier, res.Rows)
	}
	res, err = s.Top(ctx, query.TopRequest{Range: rg, By: mustDims(t, "dst_addr"), Metric: query.Bytes})
	if err != nil {
		t.Fatal(err)
	}
	if res.Tier != "raw" || len(res.Rows) != 0 {
		t.Errorf("20 days ago by address: tier %s rows %+v; want raw and nothing", res.Tier, res.Rows)
	}
	// 401 days later every tier has expired
	s.now = func() time.Time { return testNow.Add(401 * 24 * time.Hour) }
	if err := s.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	du, err := DiskUsage(dir)
	if err != nil || len(du) != 0 {
		t.Errorf("after 401 days: %v %v", du, err)
	}
}

func TestConsumeNeverBlocks(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Dir = t.TempDir()
	cfg.QueueFlows = 4096 * 4
	reg := prometheus.NewRegistry()
	s, err := New(cfg, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	// not started: nothing drains the queue
	b := flow.NewBatch(4096)
	rec := flow.Record{StartMs: testNow.UnixMilli(), Bytes: 1}
	for range 4096 {
		b.Append(&rec)
	}
	done := make(chan struct{})
	go func() {
		for range 10 {
			s.Consume(b)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Consume blocked")
	}
	mfs, _ := reg.Gather()
	var dropped float64
	for _, mf := range mfs {
		if mf.GetName() == "yocho_store_dropped_flows_total" {
			for _, m := range mf.GetMetric() {
				dropped += m.GetCounter().GetValue()
			}
		}
	}
	if dropped != 6*4096 {
		t.Errorf("dropped %v flows, want %d (10 batches into a queue of 4)", dropped, 6*4096)
	}
}

// TestHeavyHittersExact checks that top-N by address answered from pruned per-hour heavy hitters
// is the raw answer, or falls back to raw when the pruning could have changed it.
func TestHeavyHittersExact(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	s.heavyK = 40 // prune hard: thousands of hosts an hour
	g := newGenerator(genConfig{Flows: 60_000, StartMs: testNow.Add(-3 * time.Hour).UnixMilli(), SpanMs: 3*3600_000 - 1, Seed: 3, Exporters: 4, Hosts: 2000})
	var recs []flow.Record
	var rec flow.Record
	for range 60_000 {
		g.next(&rec)
		recs = append(recs, rec)
	}
	ingest(t, s, recs)
	if _, err := s.Compact(true); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	always := mustFilter(t, "bytes >= 0") // any filter: read raw flows
	used := map[string]int{}
	for _, by := range []string{"dst_addr", "src_addr"} {
		for _, m := range []query.Metric{query.Bytes, query.Packets, query.Flows, query.BPS} {
			for _, rg := range []query.Range{
				{From: testNow.Add(-3 * time.Hour), To: testNow},
				{From: testNow.Add(-150*time.Minute - 7*time.Second), To: testNow.Add(-10 * time.Minute)},
			} {
				for _, limit := range []int{1, 10} {
					req := query.TopRequest{Range: rg, By: mustDims(t, by), Metric: m, Limit: limit}
					got, err := s.Top(ctx, req)
					if err != nil {
						t.Fatal(err)
					}
					req.Filter = always
					want, err := s.Top(ctx, req)
					if err != nil {
						t.Fatal(err)
					}
					used[got.Tier]++
					if want.Tier != "raw" || len(want.Rows) != limit || !reflect.DeepEqual(got.Rows, want.Rows) || got.From != want.From || got.To != want.To {
						t.Errorf("top %d %s by %s over %v (tier %s):\n got %+v\nwant %+v", limit, by, m, rg, got.Tier, got.Rows, want.Rows)
					}
				}
			}
		}
	}
	if used["hh"] == 0 {
		t.Errorf("no answer came from the heavy hitters: %v", used)
	}
	t.Logf("answers by source: %v", used)
}

// receivedWithin tells whether a flow read back was received when it was, to the resolution the
// store keeps: the receive delay to the nearest second.
func receivedWithin(got time.Time, wantMs int64) bool {
	d := got.UnixMilli() - wantMs
	return d >= -500 && d <= 500
}

// TestGeneratorFlowsRoundTrip writes the benchmark generator's flows, merges them (sorted,
// compressed), and reads every field of every flow back.
func TestGeneratorFlowsRoundTrip(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	from := testNow.Add(-2 * time.Hour)
	g := newGenerator(genConfig{Flows: 30_000, StartMs: from.UnixMilli(), SpanMs: 2*3600_000 - 20_000, Seed: 11, Exporters: 8, Hosts: 5000})
	want := map[string]int{}
	var recs []flow.Record
	var rec flow.Record
	for range 30_000 {
		g.next(&rec)
		rec.VLAN, rec.MPLSLabel, rec.ForwardingStatus, rec.SamplerID = uint16(rec.SrcPort%7), uint32(rec.DstPort)<<4, 64, uint32(rec.ObsDomain%3)
		recs = append(recs, rec)
		r := rec
		// the receive delay is kept to the nearest second (docs/store.md); the generator's are positive
		received := r.EndMs + (r.ReceivedMs-r.EndMs+500)/1000*1000
		row := query.FlowRow{Start: time.UnixMilli(r.StartMs).UTC(), End: time.UnixMilli(r.EndMs).UTC(), Received: time.UnixMilli(received).UTC(),
			Exporter: r.Exporter.String(), ObsDomain: r.ObsDomain, SamplerID: r.SamplerID, SamplingRate: r.SamplingRate, InIf: r.InIf, OutIf: r.OutIf,
			SrcAddr: r.SrcAddr.String(), DstAddr: r.DstAddr.String(), NextHop: r.NextHop.String(), SrcPort: r.SrcPort, DstPort: r.DstPort,
			Proto: query.ProtoName(r.Proto), TCPFlags: r.TCPFlags, ToS: r.ToS, ICMPType: r.ICMPType, ICMPCode: r.ICMPCode,
			Bytes: r.ScaledBytes(), Packets: r.ScaledPackets(), SrcAS: r.SrcAS, DstAS: r.DstAS, SrcMask: r.SrcMask, DstMask: r.DstMask,
			VLAN: r.VLAN, Direction: query.DirectionName(r.Direction), ForwardingStatus: r.ForwardingStatus, MPLSLabel: r.MPLSLabel,
			SrcHostgroup: r.SrcHostgroup, DstHostgroup: r.DstHostgroup, SrcCountry: r.SrcCountry, DstCountry: r.DstCountry}
		want[fmt.Sprintf("%+v", row)]++
	}
	ingest(t, s, recs)
	if _, err := s.Compact(true); err != nil {
		t.Fatal(err)
	}
	res, err := s.Flows(context.Background(), query.FlowsRequest{Range: query.Range{From: from, To: testNow}, Limit: query.MaxFlows})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Flows) != len(recs) {
		t.Fatalf("read %d flows back, wrote %d", len(res.Flows), len(recs))
	}
	for _, f := range res.Flows {
		k := fmt.Sprintf("%+v", f)
		if want[k] == 0 {
			t.Fatalf("read back a flow that was not written:\n%s", k)
		}
		want[k]--
	}
}

// TestStoredFormsReadBack writes flows at the edges of the raw tier's stored forms (ports as
// lower, higher and swap; bytes as bytes per packet and remainder; start as seconds and
// milliseconds; the receive delay in seconds) and reads each back, from chunks and after
// merging, field for field.
func TestStoredFormsReadBack(t *testing.T) {
	base := testNow.Add(-30 * time.Minute).UnixMilli()
	cases := []struct {
		name            string
		sp, dp          uint16
		bytes, pkts     uint64
		rate            uint32
		startMs, endMs  int64 // from base
		delayMs         int64 // ReceivedMs - EndMs
		wantDelayMs     int64 // as kept: whole seconds, rounded
		wantBy, wantPkt uint64
	}{
		{"no ports, no packets", 0, 0, 123, 0, 1, 0, 0, 0, 0, 123, 0},
		{"equal ports", 53, 53, 1000, 3, 1, 999, 999, 16_499, 16_000, 1000, 3},
		{"source higher", 65535, 1, 1500, 1, 1, 1, 1, 500, 1000, 1500, 1},
		{"destination higher", 1, 65535, 7, 2, 1, 1001, 1001, 1_501, 2000, 7, 2},
		{"sampled, remainder", 40000, 443, 1_000_001, 7, 100, 2_500, 62_500, 15_001, 15_000, 100_000_100, 700},
		{"huge", 443, 55555, 1 << 40, 1 << 20, 1000, 1_790_000, 1_799_999, 1_800_000, 1_800_000, 1000 << 40, 1000 << 20},
		{"received before the end", 123, 123, 76, 1, 1, 5, 10, -1_400, -1_000, 76, 1},
		{"received just before", 123, 124, 76, 1, 1, 6, 10, -500, 0, 76, 1},
	}
	s := openTestStore(t, t.TempDir())
	recs := make([]flow.Record, len(cases))
	for i, c := range cases {
		recs[i] = flow.Record{StartMs: base + c.startMs, EndMs: base + c.endMs, ReceivedMs: base + c.endMs + c.delayMs,
			Exporter: netip.MustParseAddr("192.0.2.1"), SamplingRate: c.rate, SrcAddr: netip.MustParseAddr("198.51.100.1"),
			DstAddr: netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), SrcPort: c.sp, DstPort: c.dp, Proto: 17,
			Bytes: c.bytes, Packets: c.pkts}
	}
	ingest(t, s, recs)
	for _, merged := range []bool{false, true} {
		if merged {
			if _, err := s.Compact(true); err != nil {
				t.Fatal(err)
			}
		}
		for i, c := range cases {
			res, err := s.Flows(context.Background(), query.FlowsRequest{Range: query.Range{From: testNow.Add(-time.Hour), To: testNow},
				Filter: mustFilter(t, fmt.Sprintf("dst_addr = 203.0.113.%d", i)), Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Flows) != 1 {
				t.Fatalf("%s (merged %v): %d flows", c.name, merged, len(res.Flows))
			}
			g := res.Flows[0]
			if g.SrcPort != c.sp || g.DstPort != c.dp || g.Bytes != c.wantBy || g.Packets != c.wantPkt ||
				g.Start.UnixMilli() != base+c.startMs || g.End.UnixMilli() != base+c.endMs ||
				g.Received.UnixMilli() != base+c.endMs+c.wantDelayMs {
				t.Errorf("%s (merged %v): ports %d/%d bytes %d packets %d start %d end %d received %d; want %d/%d %d %d %d %d %d",
					c.name, merged, g.SrcPort, g.DstPort, g.Bytes, g.Packets, g.Start.UnixMilli()-base, g.End.UnixMilli()-base,
					g.Received.UnixMilli()-base-c.endMs, c.sp, c.dp, c.wantBy, c.wantPkt, c.startMs, c.endMs, c.wantDelayMs)
			}
			// the ports filter and group like the fields they are
			top, err := s.Top(context.Background(), query.TopRequest{Range: query.Range{From: testNow.Add(-time.Hour), To: testNow},
				By: mustDims(t, "src_port,dst_port"), Metric: query.Bytes, Limit: 1,
				Filter: mustFilter(t, fmt.Sprintf("src_port = %d and dst_port = %d and dst_addr = 203.0.113.%d", c.sp, c.dp, i))})
			if err != nil {
				t.Fatal(err)
			}
			if len(top.Rows) != 1 || top.Rows[0].Bytes != c.wantBy || top.Rows[0].Key[0] != fmt.Sprint(c.sp) || top.Rows[0].Key[1] != fmt.Sprint(c.dp) {
				t.Errorf("%s (merged %v): top by ports %+v", c.name, merged, top.Rows)
			}
		}
	}
}

// TestOpenPartitionMergedFastThenFinal merges a raw partition while it is open (kind 'o', sorted by
// exporter and destination) and again once it closes (wholly sorted, 'm'), and checks that answers
// never change and each file's order.
func TestOpenPartitionMergedFastThenFinal(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.Dir = dir
	cfg.FlushInterval, cfg.CompactInterval, cfg.MergeChunks = time.Hour, time.Hour, 3
	s, err := New(cfg, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	now := testNow
	s.now = func() time.Time { return now }
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	var recs []flow.Record
	for _, r := range knownFlows() {
		if r.StartMs >= testNow.Add(-time.Hour).UnixMilli() {
			recs = append(recs, r)
		}
	}
	for i := range 4 { // four chunks in the open hour
		ingest(t, s, recs[i*len(recs)/4:(i+1)*len(recs)/4])
	}
	ctx := context.Background()
	req := query.TopRequest{Range: query.Range{From: testNow.Add(-time.Hour), To: testNow}, By: mustDims(t, "src_port,dst_addr"), Metric: query.Bytes, Limit: 50}
	want, err := s.Top(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(dir, "raw", partitionName(query.TierRaw, testNow.Add(-time.Hour)))
	for _, step := range []struct {
		now   time.Time
		kind  byte
		order string
	}{{testNow, 'o', rawOpenSortSQL}, {testNow.Add(3 * time.Minute), 'm', rawSortSQL}} {
		now = step.now
		sup, err := s.Compact(false)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range sup {
			_ = os.Remove(f)
		}
		pf, err := listPartition(part)
		if err != nil {
			t.Fatal(err)
		}
		if pf.mergedKind != step.kind || pf.chunks != 0 || len(pf.live) != 1 {
			t.Fatalf("at %s: merged kind %q, %d chunks, live %v; want kind %q alone", now, pf.mergedKind, pf.chunks, pf.live, step.kind)
		}
		got, err := s.Top(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got.Rows) != fmt.Sprint(want.Rows) {
			t.Errorf("at %s: top changed after merging:\n got %v\nwant %v", now, got.Rows, want.Rows)
		}
		fr, err := s.Flows(ctx, query.FlowsRequest{Range: query.Range{From: testNow.Add(-time.Hour), To: testNow}, Limit: query.MaxFlows})
		if err != nil {
			t.Fatal(err)
		}
		if len(fr.Flows) != len(recs) {
			t.Errorf("at %s: %d flows, want %d", now, len(fr.Flows), len(recs))
		}
		var unsorted int
		err = s.reader.db.QueryRow(`SELECT count(*) FROM (SELECT lag(struct_pack(` + step.order + `)) OVER (ORDER BY file_row_number) AS prev,
			struct_pack(` + step.order + `) AS cur
			FROM read_parquet(` + sqlString(pf.live[0]) + `, file_row_number = true)) WHERE prev > cur`).Scan(&unsorted)
		if err != nil {
			t.Fatal(err)
		}
		if unsorted != 0 {
			t.Errorf("merged file of kind %q: %d rows out of the order %s", step.kind, unsorted, step.order)
		}
	}
}

// TestFilesWithoutEnrichmentReadAsEmpty rewrites the raw chunks of a first ingest without the
// hostgroup and country columns, as a store older than them wrote its files, then ingests more:
// queries, roll-ups and merges read the old flows' hostgroups and countries as "".
func TestFilesWithoutEnrichmentReadAsEmpty(t *testing.T) {
	recs := knownFlows()
	half := len(recs) / 2
	dir := t.TempDir()
	s := openTestStore(t, dir)
	ingest(t, s, recs[:half])
	r, err := OpenReader(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	old, err := filepath.Glob(filepath.Join(dir, "*", "*", "c-*.parquet")) // raw and roll-ups
	if err != nil || len(old) == 0 {
		t.Fatalf("chunks: %v %v", old, err)
	}
	for _, p := range old {
		if strings.Contains(p, query.Tier1mNarrow.Name) {
			continue // the narrow tier keeps neither hostgroups nor countries
		}
		q := fmt.Sprintf("COPY (SELECT * EXCLUDE (src_hostgroup, dst_hostgroup, src_cc, dst_cc) FROM read_parquet(%s)) TO %s (FORMAT parquet)",
			sqlString(p), sqlString(p+".old"))
		if _, err := r.db.Exec(q); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(p+".old", p); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	ingest(t, s, recs[half:])
	o := make(oracle, len(recs))
	copy(o, recs)
	for i := range o[:half] {
		o[i].SrcHostgroup, o[i].DstHostgroup, o[i].SrcCountry, o[i].DstCountry = "", "", "", ""
	}
	ctx := context.Background()
	check := func(stage string) {
		for _, tc := range []struct {
			by, tier string
			from     time.Time
		}{
			{"dst_hostgroup", "raw", testNow.Add(-3 * time.Hour)},
			{"src_country,dst_country", "1h", testNow.Add(-3 * time.Hour)},
		} {
			req := query.TopRequest{Range: query.Range{From: tc.from, To: testNow}, By: mustDims(t, tc.by), Metric: query.Bytes, Limit: 20}
			if tc.tier == "raw" {
				req.Filter = mustFilter(t, "dst_addr in 0.0.0.0/0 or dst_addr in ::/0") // not exact in the roll-ups: raw
			}
			res, err := s.Top(ctx, req)
			if err != nil {
				t.Fatalf("%s: top by %s: %v", stage, tc.by, err)
			}
			if res.Tier != tc.tier {
				t.Errorf("%s: top by %s from tier %s, want %s", stage, tc.by, res.Tier, tc.tier)
			}
			want := o.top(res.By, query.Bytes, func(*flow.Record) bool { return true }, tc.from, testNow, 20)
			if !reflect.DeepEqual(res.Rows, want) {
				t.Errorf("%s: top by %s:\n got %+v\nwant %+v", stage, tc.by, res.Rows, want)
			}
		}
		fr, err := s.Flows(ctx, query.FlowsRequest{Range: query.Range{From: testNow.Add(-3 * time.Hour), To: testNow}, Limit: query.MaxFlows,
			Filter: mustFilter(t, `dst_country = ""`)})
		if err != nil {
			t.Fatalf("%s: %v", stage, err)
		}
		n := 0
		for _, r := range o {
			if r.DstCountry == "" {
				n++
			}
		}
		if len(fr.Flows) != n || n <= half {
			t.Errorf("%s: %d flows without a destination country, want %d", stage, len(fr.Flows), n)
		}
	}
	check("old and new chunks")
	if _, err := s.Compact(true); err != nil {
		t.Fatal(err)
	}
	check("merged")
}
