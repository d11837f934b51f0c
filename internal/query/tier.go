package query

import "time"

// Tier is one level of storage: raw flows, or roll-ups summed over Bucket.
type Tier struct {
	Name   string
	Bucket time.Duration // 0 for raw
	// Partition is the span of time one partition of the tier holds: retention drops whole
	// partitions.
	Partition time.Duration
	// RetentionOf names the tier whose retention this one keeps ("" for its own name).
	RetentionOf string
}

// RetentionName is the key of the tier's retention in a Retention.
func (t Tier) RetentionName() string {
	if t.RetentionOf != "" {
		return t.RetentionOf
	}
	return t.Name
}

// The tiers, finest first.
var (
	TierRaw = Tier{Name: "raw", Bucket: 0, Partition: time.Hour}
	Tier1m  = Tier{Name: "1m", Bucket: time.Minute, Partition: time.Hour}
	Tier5m  = Tier{Name: "5m", Bucket: 5 * time.Minute, Partition: 24 * time.Hour}
	Tier1h  = Tier{Name: "1h", Bucket: time.Hour, Partition: 24 * time.Hour}
	Tiers   = []Tier{TierRaw, Tier1m, Tier5m, Tier1h}
)

// Tier1mNarrow is the narrow per-minute roll-up: the 1-minute buckets of only the few
// low-cardinality fields that series are most often stacked or filtered by (NarrowFields). The
// 1-minute tier keeps AS numbers and ports too, so it has nearly as many rows as there are flows
// at high rates; this one has as many rows a minute as there are combinations of exporters,
// interfaces, protocols and directions, whatever the flow rate. It is summed from the 1-minute
// tier, kept as long as it (retention "1m"), and answers in place of the roll-up tiers when a
// request reads only NarrowFields (narrowed).
var Tier1mNarrow = Tier{Name: "1m-narrow", Bucket: time.Minute, Partition: time.Hour, RetentionOf: "1m"}

// NarrowFields are the fields Tier1mNarrow keeps.
var NarrowFields = []string{"exporter", "in_if", "out_if", "proto", "direction"}

// narrowFits reports whether Tier1mNarrow keeps every field the request groups by or filters on.
func narrowFits(by []Field, f *Filter) bool {
	in := func(name string) bool {
		for _, n := range NarrowFields {
			if n == name {
				return true
			}
		}
		return false
	}
	for _, d := range by {
		if !in(d.Name) {
			return false
		}
	}
	for _, name := range f.Fields() {
		if !in(name) {
			return false
		}
	}
	return true
}

// narrowed is t, or Tier1mNarrow in place of a roll-up tier when the request reads only its
// fields and it still holds the start of the range. In place of the 5-minute and hourly tiers
// too: they group by AS numbers and ports, and at high rates have more rows for a range than
// the narrow tier's minutes (measured at 30 M flows a day, a 24 h series by protocol: 5m 2.2-2.5 s,
// 1h 0.57-0.87 s, 1m-narrow 0.23-0.25 s; docs/benchmarks.md, fifth pass). Any bucket of theirs
// is a whole number of minutes, and a top-N range they answer is aligned to minutes or spans
// more than 30 of them, so the narrow tier answers as closely.
func narrowed(t Tier, by []Field, f *Filter, ret Retention, from, now time.Time) Tier {
	if t.Bucket > 0 && narrowFits(by, f) && ret.covers(Tier1mNarrow, from, now) {
		return Tier1mNarrow
	}
	return t
}

// Retention is how long each tier keeps its data, by tier name; a missing or zero entry keeps
// data forever.
type Retention map[string]time.Duration

// covers reports whether tier t still holds data from instant from.
func (r Retention) covers(t Tier, from, now time.Time) bool {
	d := r[t.RetentionName()]
	return d <= 0 || !from.Before(now.Add(-d))
}

// minTopBuckets is how many buckets a range must span for a roll-up to answer a top-N request
// whose range is not aligned to the roll-up's buckets: the answer then covers up to one bucket
// more at each end, and the result says so by its From and To.
const minTopBuckets = 30

// ChooseTopTier picks the coarsest tier that keeps every field the request reads and answers its
// range closely enough: either the range is aligned to the tier's buckets or it spans at least 30
// of them. Among those it prefers tiers whose retention still covers the start of the range.
// Tier1mNarrow answers in place of a roll-up tier when it keeps every field read (narrowed).
func ChooseTopTier(by []Field, f *Filter, r Range, ret Retention, now time.Time) Tier {
	if !rollupFields(by, f, ret, r.From, now) {
		return TierRaw
	}
	return narrowed(choose(ret, r.From, now, func(t Tier) bool {
		aligned := r.From.Truncate(t.Bucket).Equal(r.From) && r.To.Truncate(t.Bucket).Equal(r.To)
		return aligned || r.Duration() >= minTopBuckets*t.Bucket
	}), by, f, ret, r.From, now)
}

// ChooseSeriesTier picks the coarsest tier that keeps every field the request reads and whose
// bucket divides the series' bucket, preferring tiers whose retention covers the range.
// Tier1mNarrow answers in place of a roll-up tier when it keeps every field read (narrowed).
func ChooseSeriesTier(by []Field, f *Filter, bucket time.Duration, r Range, ret Retention, now time.Time) Tier {
	if !rollupFields(by, f, ret, r.From, now) {
		return TierRaw
	}
	return narrowed(choose(ret, r.From, now, func(t Tier) bool { return bucket%t.Bucket == 0 }), by, f, ret, r.From, now)
}

// choose returns the coarsest roll-up tier that fits and covers from; else the coarsest fitting
// tier if none covers and a coarser one does not exist; else raw. When the fitting tiers have all
// expired at from, it falls back to the finest coarser tier that still covers from.
func choose(ret Retention, from, now time.Time, fits func(Tier) bool) Tier {
	best := TierRaw
	for _, t := range Tiers[1:] {
		if fits(t) && ret.covers(t, from, now) {
			best = t
		}
	}
	if best != TierRaw || ret.covers(TierRaw, from, now) {
		return best
	}
	for _, t := range Tiers[1:] { // nothing fine enough still holds from: degrade resolution
		if ret.covers(t, from, now) {
			return t
		}
	}
	return TierRaw
}

// rollupFields reports whether the roll-ups may answer: they keep every field read, the filter
// is exact on them, and grouping by a bucketed field (a port) is exact too, or raw no longer
// covers the range (the roll-ups then show the ports that are not well-known as 0).
func rollupFields(by []Field, f *Filter, ret Retention, from, now time.Time) bool {
	for _, d := range by {
		if !d.Rollup {
			return false
		}
		if d.Bucketed && ret.covers(TierRaw, from, now) {
			return false
		}
	}
	return f.RollupExact()
}

// seriesBuckets are the bucket sizes chosen automatically, smallest first.
var seriesBuckets = []time.Duration{
	10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, 10 * time.Minute,
	30 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// targetPoints is the most points an automatic bucket gives.
const targetPoints = 400

// AutoBucket is the smallest standard bucket that divides the range into at most 400 points.
func AutoBucket(r Range) time.Duration {
	for _, b := range seriesBuckets {
		if r.Duration()/b <= targetPoints {
			return b
		}
	}
	return seriesBuckets[len(seriesBuckets)-1]
}
