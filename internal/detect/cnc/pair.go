package cnc

import (
	"math"
	"slices"
)

// pairKey is one (client, server endpoint) pair.
type pairKey struct {
	client addrKey
	ep     epKey
}

// pair keeps the contact times and sizes of one pair, at most Config.PairSamples of them: when
// full it keeps every other one and from then on only every stride-th new contact, so a regular
// series stays regular at a coarser step.
type pair struct {
	key    pairKey
	hash   uint64   // of key, for the pair index and admission
	times  []int64  // ms, in arrival order
	sizes  []uint32 // bytes sent by the client per contact
	stride uint32
	skip   uint32
	total  uint32 // contacts seen, kept or not
	first  int64
	last   int64
}

func (p *pair) add(ms int64, size uint32, capacity int) {
	p.total++
	if p.first == 0 || ms < p.first {
		p.first = ms
	}
	if ms > p.last {
		p.last = ms
	}
	if p.stride > 1 {
		p.skip++
		if p.skip < p.stride {
			return
		}
		p.skip = 0
	}
	if len(p.times) == capacity {
		n := 0
		for i := 0; i < len(p.times); i += 2 {
			p.times[n], p.sizes[n] = p.times[i], p.sizes[i]
			n++
		}
		p.times, p.sizes = p.times[:n], p.sizes[:n]
		if p.stride == 0 {
			p.stride = 1
		}
		p.stride *= 2
	}
	p.times = append(p.times, ms)
	p.sizes = append(p.sizes, size)
}

// Beacon is the beaconing score of one (client, server) pair and its parts, each 0–1.
type Beacon struct {
	Client   string  `json:"client"`
	Contacts int     `json:"contacts"`
	Score    float64 `json:"score"`
	// IntervalS is the median time between contacts, in seconds.
	IntervalS float64 `json:"interval_s"`
	// TimeSkew, TimeDispersion and Coverage score the intervals: symmetric, tight around
	// their median, and spread over the whole observation.
	TimeSkew       float64 `json:"time_skew"`
	TimeDispersion float64 `json:"time_dispersion"`
	Coverage       float64 `json:"coverage"`
	// SizeSkew, SizeDispersion and SizeSmall score the sizes sent: symmetric, alike, small.
	SizeSkew       float64 `json:"size_skew"`
	SizeDispersion float64 `json:"size_dispersion"`
	SizeSmall      float64 `json:"size_small"`
}

// beaconScore scores a pair's series in the manner of RITA's published beacon analysis:
// the intervals between contacts and the sizes of the contacts are each scored by their
// Bowley skewness (a beacon's are symmetric), their median absolute deviation relative to the
// median (a beacon's are tight; this counts double) and one more trait (intervals: how much of the observed time the
// series covers; sizes: how small they are); the score is the mean of the two halves.
// span is the whole observation's length in ms. scratch is reused between calls.
func beaconScore(p *pair, span int64, scratch []float64) (Beacon, []float64) {
	b := Beacon{Contacts: int(p.total)}
	n := len(p.times)
	if n < 4 {
		return b, scratch
	}
	// Intervals, in seconds, between contacts in time order (arrival order is nearly so).
	ts := scratch[:0]
	for _, t := range p.times {
		ts = append(ts, float64(t))
	}
	slices.Sort(ts)
	d := make([]float64, 0, n-1)
	for i := 1; i < n; i++ {
		d = append(d, (ts[i]-ts[i-1])/1000)
	}
	b.TimeSkew, b.TimeDispersion, b.IntervalS = seriesTraits(d)
	if span > 0 {
		b.Coverage = clamp01(float64(p.last-p.first) / float64(span))
	}
	sz := ts[:0]
	for _, s := range p.sizes {
		sz = append(sz, float64(s))
	}
	var medSize float64
	b.SizeSkew, b.SizeDispersion, medSize = seriesTraits(sz)
	// Small: RITA favours small, fixed sizes; 0 at 64 KiB and above.
	b.SizeSmall = clamp01(1 - medSize/65535)
	if b.IntervalS < 1 {
		// Contacts bunched within a second are one burst, not a beacon.
		b.TimeDispersion = 0
	}
	// Dispersion counts double: a symmetric series of scattered values is no beacon.
	ts3 := (b.TimeSkew + 2*b.TimeDispersion + b.Coverage) / 4
	ds3 := (b.SizeSkew + 2*b.SizeDispersion + b.SizeSmall) / 4
	b.Score = (ts3 + ds3) / 2
	return b, sz
}

// seriesTraits scores a series: 1 − |Bowley skewness|, 1 − MAD/median, and its median.
func seriesTraits(v []float64) (skew, dispersion, med float64) {
	q1, q2, q3 := quartiles(v)
	skew = 1
	if q3-q1 > 0 {
		skew = 1 - math.Abs((q3+q1-2*q2)/(q3-q1))
	}
	dev := make([]float64, len(v))
	for i, x := range v {
		dev[i] = math.Abs(x - q2)
	}
	mad := median(dev)
	switch {
	case q2 > 0:
		dispersion = clamp01(1 - mad/q2)
	case mad == 0:
		dispersion = 1 // all zero: identical
	}
	return clamp01(skew), dispersion, q2
}
