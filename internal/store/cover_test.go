package store

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/flow"
	"yocho/internal/query"
)

// TestRollupsLagging checks that a roll-up tier that does not hold the end of a range yet (the
// compactor has not summed the newest raw chunks, or a crash fell between the 1-minute and the
// coarser files of a pass) answers exactly all the same: the part it does not hold is read from
// the 1-minute tier or raw flows, and the tier chosen does not change.
func TestRollupsLagging(t *testing.T) {
	recs := knownFlows()
	o := oracle(recs)
	cfg := DefaultConfig()
	cfg.Dir = t.TempDir()
	s, err := New(cfg, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return testNow }
	if s.w, err = openWriter(cfg, &s.pool, 1); err != nil {
		t.Fatal(err)
	}
	defer s.w.close()
	rd, err := OpenReader(cfg.Dir, cfg.Retention)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	rd.now = s.now
	write := func(recs []flow.Record) {
		b := flow.NewBatch(len(recs))
		for i := range recs {
			b.Append(&recs[i])
		}
		s.w.appendBatch(b)
		if err := s.w.flush(); err != nil {
			t.Fatal(err)
		}
	}
	hour := func(n int) time.Time { return testNow.Add(time.Duration(n) * time.Hour) }
	// the first two hours and a half, summed into every tier; then the rest, only raw (and the
	// last flows of hour -2 arrive late, in the same chunk)
	cut := testNow.Add(-30 * time.Minute).UnixMilli()
	var early, late []flow.Record
	for i, r := range recs {
		if r.StartMs < cut && (i%50 != 0 || r.StartMs < hour(-2).UnixMilli() || r.StartMs >= hour(-1).UnixMilli()) {
			early = append(early, r)
		} else {
			late = append(late, r)
		}
	}
	write(early[:len(early)/2])
	write(early[len(early)/2:])
	if err := s.rollUp(); err != nil {
		t.Fatal(err)
	}
	write(late)

	ctx := context.Background()
	any := func(*flow.Record) bool { return true }
	wk := func(r *flow.Record) bool { return r.SrcPort == 53 || r.SrcPort == 11211 }
	tops := []struct {
		name string
		req  query.TopRequest
		tier string
		keep func(*flow.Record) bool
	}{
		{"1m-narrow: top proto, 90 unaligned minutes", query.TopRequest{Range: query.Range{From: testNow.Add(-90*time.Minute - 17*time.Second), To: testNow.Add(-17 * time.Second)}, By: mustDims(t, "proto"), Metric: query.Bytes, Limit: 10}, "1m-narrow", any},
		{"1m: top src_as, 90 unaligned minutes", query.TopRequest{Range: query.Range{From: testNow.Add(-90*time.Minute - 17*time.Second), To: testNow.Add(-17 * time.Second)}, By: mustDims(t, "src_as"), Metric: query.Flows, Limit: 10}, "1m", any},
		{"1h: top src_as, aligned 3h", query.TopRequest{Range: query.Range{From: hour(-3), To: testNow}, By: mustDims(t, "src_as"), Metric: query.Packets, Limit: 10}, "1h", any},
		{"1m-narrow: top exporter, aligned 3h", query.TopRequest{Range: query.Range{From: hour(-3), To: testNow}, By: mustDims(t, "exporter"), Metric: query.Packets, Limit: 10}, "1m-narrow", any},
		{"5m: top in_if from well-known ports, 5 unaligned hours", query.TopRequest{Range: query.Range{From: hour(-5).Add(time.Second), To: testNow.Add(time.Second)}, By: mustDims(t, "in_if"), Metric: query.Flows, Limit: 10,
			Filter: mustFilter(t, "src_port in (53, 11211)")}, "5m", wk},
	}
	series := func() []*query.SeriesResult {
		var out []*query.SeriesResult
		for _, req := range []query.SeriesRequest{
			{Range: query.Range{From: hour(-3), To: testNow}, Metric: query.BPS, Bucket: time.Minute},
			{Range: query.Range{From: hour(-3), To: testNow}, By: mustDims(t, "proto"), Limit: 2, Metric: query.Flows, Bucket: time.Minute},
			{Range: query.Range{From: hour(-3), To: testNow}, By: mustDims(t, "src_as"), Limit: 2, Metric: query.Packets, Bucket: 5 * time.Minute},
		} {
			res, err := rd.Series(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, res)
		}
		return out
	}
	check := func(stage string) []*query.SeriesResult {
		for _, tc := range tops {
			res, err := rd.Top(ctx, tc.req)
			if err != nil {
				t.Fatalf("%s, %s: %v", stage, tc.name, err)
			}
			if res.Tier != tc.tier {
				t.Errorf("%s, %s: tier %s, want %s", stage, tc.name, res.Tier, tc.tier)
			}
			want := o.top(res.By, tc.req.Metric, tc.keep, parseTime(t, res.From), parseTime(t, res.To), tc.req.Limit)
			if !reflect.DeepEqual(res.Rows, want) {
				t.Errorf("%s, %s:\n got %+v\nwant %+v", stage, tc.name, res.Rows, want)
			}
		}
		return series()
	}
	// the roll-ups lag raw by half an hour and a late chunk
	if got, err := complete(cfg.Dir, query.Tier1m, hour(-3), testNow); err != nil || !got.Equal(hour(-2)) {
		t.Errorf("1m complete until %s (%v), want %s (the hour of the late flows)", got, err, hour(-2))
	}
	lagging := check("roll-ups lagging")
	// a crash fell between the 1-minute and the coarser files of a pass: the 1-minute tier holds
	// everything, the 5m, 1h and narrow tiers not the last pass
	if err := s.rollUp(); err != nil {
		t.Fatal(err)
	}
	for _, tier := range []query.Tier{query.Tier5m, query.Tier1h, query.Tier1mNarrow} {
		parts, _ := listPartitions(cfg.Dir, tier)
		p := parts[len(parts)-1]
		pf, _ := listPartition(p.dir)
		if err := os.Remove(pf.live[len(pf.live)-1]); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := complete(cfg.Dir, query.Tier1m, hour(-3), testNow); err != nil || !got.Equal(testNow) {
		t.Errorf("1m complete until %s (%v), want the range's end", got, err)
	}
	if got, err := complete(cfg.Dir, query.Tier5m, hour(-3), testNow); err != nil || !got.After(hour(-3)) && got.Before(testNow) {
		t.Errorf("5m complete until %s (%v)", got, err)
	}
	crashed := check("coarser roll-ups behind the 1-minute tier")
	if err := s.rollUp(); err != nil {
		t.Fatal(err)
	}
	for _, tier := range []query.Tier{query.Tier1m, query.Tier5m, query.Tier1h, query.Tier1mNarrow} {
		if got, err := complete(cfg.Dir, tier, hour(-3), testNow); err != nil || !got.Equal(testNow) {
			t.Errorf("%s complete until %s (%v), want the range's end", tier.Name, got, err)
		}
	}
	caught := check("roll-ups caught up")
	// merged, sorted, compressed: the same answers again
	sup, err := s.Compact(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range sup {
		_ = os.Remove(f)
	}
	merged := check("merged")
	// a store of a version without the narrow tier: its 1-minute hours are merged, and the
	// narrow tier is summed from the merged files at the first pass; until then the 1-minute
	// tier answers for it
	if err := os.RemoveAll(filepath.Join(cfg.Dir, "1m-narrow")); err != nil {
		t.Fatal(err)
	}
	if got, err := complete(cfg.Dir, query.Tier1mNarrow, hour(-3), testNow); err != nil || !got.Equal(hour(-3)) {
		t.Errorf("1m-narrow without files: complete until %s (%v), want the range's start", got, err)
	}
	upgraded := check("narrow tier missing")
	if err := s.rollUp(); err != nil {
		t.Fatal(err)
	}
	if got, err := complete(cfg.Dir, query.Tier1mNarrow, hour(-3), testNow); err != nil || !got.Equal(testNow) {
		t.Errorf("1m-narrow summed from merged files: complete until %s (%v), want the range's end", got, err)
	}
	rebuilt := check("narrow tier summed from merged 1-minute files")
	for i := range caught {
		if caught[i].Tier != lagging[i].Tier || caught[i].Tier != crashed[i].Tier {
			t.Errorf("series %d: tier %s lagging, %s crashed, %s caught up", i, lagging[i].Tier, crashed[i].Tier, caught[i].Tier)
		}
		for _, other := range []*query.SeriesResult{lagging[i], crashed[i], merged[i], upgraded[i], rebuilt[i]} {
			if !reflect.DeepEqual(other.Series, caught[i].Series) {
				t.Errorf("series %d (tier %s) differs from the answer once caught up", i, caught[i].Tier)
			}
		}
	}
	if caught[0].Tier != "1m-narrow" || caught[1].Tier != "1m-narrow" || caught[2].Tier != "5m" {
		t.Errorf("series tiers %s, %s, %s", caught[0].Tier, caught[1].Tier, caught[2].Tier)
	}
	if _, err := os.Stat(filepath.Join(cfg.Dir, "1m-narrow")); err != nil {
		t.Error(err)
	}
}
