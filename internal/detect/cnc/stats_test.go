package cnc

import (
	"math"
	"testing"
)

func TestHLLEstimate(t *testing.T) {
	for _, n := range []int{10, 100, 1000, 10000, 100000} {
		var h hll
		var d detail
		for i := range n {
			k := addrKey{hi: 0xfd00 << 48, lo: uint64(i)}
			h.add(k.hash())
			d.addClient(k)
			d.addClient(k) // a client counted twice is one client
		}
		for _, got := range []float64{h.estimate(), d.clients()} {
			if rel := math.Abs(got-float64(n)) / float64(n); rel > 0.35 {
				t.Errorf("%d distinct: estimate %.0f (%.0f%% off)", n, got, 100*rel)
			}
		}
	}
}

func TestHLL4kEstimate(t *testing.T) {
	for _, n := range []int{100, 10000, 1000000} {
		var h hll4k
		for i := range n {
			h.add(addrKey{lo: uint64(i)}.hash())
		}
		if rel := math.Abs(h.estimate()-float64(n)) / float64(n); rel > 0.06 {
			t.Errorf("%d distinct: estimate %.0f", n, h.estimate())
		}
	}
}

func TestTopSizes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sizes func(i int) uint16
		min   float64
		max   float64
	}{
		{"one size", func(int) uint16 { return 60 }, 0.99, 1},
		{"two sizes", func(i int) uint16 { return []uint16{60, 150}[i%2] }, 0.99, 1},
		{"mostly one size", func(i int) uint16 {
			if i%10 == 0 {
				return uint16(200 + i)
			}
			return 150
		}, 0.75, 1},
		{"all different", func(i int) uint16 { return uint16(100 + i) }, 0, 0.1},
	} {
		var ts topSizes
		for i := range 100 {
			ts.add(tc.sizes(i))
		}
		if s := ts.topShare(); s < tc.min || s > tc.max {
			t.Errorf("%s: top share %.2f, want %.2f..%.2f", tc.name, s, tc.min, tc.max)
		}
	}
}

func TestChanceBits(t *testing.T) {
	for _, tc := range []struct {
		name     string
		k, n     uint32
		p        float64
		min, max float64
	}{
		{"7 of 8 in two sizes 4 % of all have", 7, 8, 0.04, 27, 31},
		{"8 of 8 in a size 4 % of all have", 8, 8, 0.04, 36, 38},
		{"8 of 8 in a size 0.5 % of all have", 8, 8, 0.005, 60, 62},
		{"5 of 5 in a size no other has", 5, 5, 0, 99, 100},
		{"no more than chance", 2, 8, 0.25, 0, 0},
		{"none", 0, 0, 0.1, 0, 0},
	} {
		if got := chanceBits(tc.k, tc.n, tc.p); got < tc.min || got > tc.max {
			t.Errorf("%s: %.1f bits, want %.0f..%.0f", tc.name, got, tc.min, tc.max)
		}
	}
}

func TestSizeFreqShareBesides(t *testing.T) {
	var f sizeFreq
	for i := range 1000 {
		f.add(uint16(60 + i%10)) // 100 each of 60..69
	}
	for range 8 {
		f.add(150) // one endpoint's own
	}
	if got := f.shareBesides(60, 61, 0, 0); math.Abs(got-200.0/1008) > 1e-9 {
		t.Errorf("share of 60, 61: %v", got)
	}
	if got := f.shareBesides(150, 150, 8, 8); got != 0 {
		t.Errorf("share of 150 besides the endpoint's own: %v, want 0", got)
	}
	f.add(bulkSize) // not a message size: ignored
	if f.total != 1008 {
		t.Errorf("total %d, want 1008", f.total)
	}
}
