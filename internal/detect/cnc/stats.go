package cnc

import (
	"math"
	"math/bits"
	"slices"
)

// hllRegisters is the number of HyperLogLog registers of an endpoint's client counter
// (standard error about 1.04/sqrt(64) = 13 %).
const hllRegisters = 64

// hll is a small HyperLogLog counter of distinct 64-bit hashes.
type hll [hllRegisters]uint8

func (h *hll) add(x uint64) { h.addChanged(x) }

// addChanged adds x and reports whether a register grew: x is surely new to the counter when it
// did (and likely already counted when it did not).
func (h *hll) addChanged(x uint64) bool {
	idx := x & (hllRegisters - 1)
	rank := uint8(bits.LeadingZeros64(x>>6|1)) - 5 // 1 + the leading zeros of the 58 bits left
	if rank > h[idx] {
		h[idx] = rank
		return true
	}
	return false
}

func (h *hll) estimate() float64 {
	var sum float64
	zeros := 0
	for _, r := range h {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	m := float64(hllRegisters)
	e := 0.709 * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		e = m * math.Log(m/float64(zeros))
	}
	return e
}

// welford accumulates the mean and variance of a series in constant space.
type welford struct {
	n    float32
	mean float32
	m2   float32
}

func (w *welford) add(x float32) {
	w.n++
	d := x - w.mean
	w.mean += d / w.n
	w.m2 += d * (x - w.mean)
}

// std is the population standard deviation (0 with fewer than two values).
func (w *welford) std() float64 {
	if w.n < 2 {
		return 0
	}
	return math.Sqrt(float64(w.m2 / w.n))
}

// mix64 is a 64-bit finaliser (from SplitMix64) that spreads any input over all bits.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// quartiles returns the first, second and third quartiles of v, which it sorts.
func quartiles(v []float64) (q1, q2, q3 float64) {
	slices.Sort(v)
	return quantile(v, 0.25), quantile(v, 0.5), quantile(v, 0.75)
}

// quantile of sorted v, interpolating between ranks.
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	pos := q * float64(len(v)-1)
	lo := int(pos)
	if lo >= len(v)-1 {
		return v[len(v)-1]
	}
	f := pos - float64(lo)
	return v[lo]*(1-f) + v[lo+1]*f
}

// median of v; v is reordered.
func median(v []float64) float64 {
	slices.Sort(v)
	return quantile(v, 0.5)
}

// clamp01 bounds x to [0, 1].
func clamp01(x float64) float64 {
	if x < 0 || math.IsNaN(x) {
		return 0
	}
	if x > 1 {
		return 1
	}
	return x
}

// topSizes keeps the most frequent values of a series in three Misra-Gries counters: the share
// the top two cover says whether a series has a few distinct values (a bot's fixed-size
// messages) or many (people's traffic).
type topSizes struct {
	val [3]uint16
	cnt [3]uint16
	n   uint32
}

func (t *topSizes) add(v uint16) {
	t.n++
	for i := range t.val {
		if t.cnt[i] > 0 && t.val[i] == v {
			if t.cnt[i] < 0xffff {
				t.cnt[i]++
			}
			return
		}
	}
	for i := range t.val {
		if t.cnt[i] == 0 {
			t.val[i], t.cnt[i] = v, 1
			return
		}
	}
	for i := range t.cnt {
		t.cnt[i]--
	}
}

// top2 are the two most frequent values (0 when none).
func (t *topSizes) top2() (a, b uint16) {
	i := [3]int{0, 1, 2}
	slices.SortFunc(i[:], func(x, y int) int { return int(t.cnt[y]) - int(t.cnt[x]) })
	if t.cnt[i[0]] > 0 {
		a = t.val[i[0]]
	}
	if t.cnt[i[1]] > 0 {
		b = t.val[i[1]]
	}
	return a, b
}

// topShare is the share of the series that its two most frequent values cover (a lower bound).
func (t *topSizes) topShare() float64 {
	if t.n == 0 {
		return 0
	}
	c := []uint16{t.cnt[0], t.cnt[1], t.cnt[2]}
	slices.Sort(c)
	return float64(uint32(c[1])+uint32(c[2])) / float64(t.n)
}

// sizeFreq counts how often each message size (bytes per packet, below bulkSize) comes across
// all endpoints of one protocol, one way: what chance alone makes an endpoint's messages look
// like. Counts are halved once they pass 1<<30, so that it follows the traffic.
type sizeFreq struct {
	cnt   [bulkSize]uint32
	total uint64
}

func (f *sizeFreq) add(v uint16) {
	if int(v) >= len(f.cnt) {
		return
	}
	f.cnt[v]++
	f.total++
	if f.total >= 1<<30 {
		f.total = 0
		for i := range f.cnt {
			f.cnt[i] /= 2
			f.total += uint64(f.cnt[i])
		}
	}
}

// shareBesides is the share of messages that have one of the sizes a and b (b may equal a)
// among all but one endpoint's n, k of which have them.
func (f *sizeFreq) shareBesides(a, b uint16, k, n uint64) float64 {
	c := uint64(0)
	if int(a) < len(f.cnt) {
		c += uint64(f.cnt[a])
	}
	if b != a && int(b) < len(f.cnt) {
		c += uint64(f.cnt[b])
	}
	if f.total <= n {
		return 0
	}
	return float64(c-min(c, k)) / float64(f.total-n)
}

// chanceBits is how unlikely (in bits: -log2 of a Chernoff bound on the binomial tail) it is
// that k or more of n messages drawn from a population in which a share p have the given sizes
// have them: n·KL(k/n ‖ p). It is 0 when k/n is no more than p.
func chanceBits(k, n uint32, p float64) float64 {
	if n == 0 {
		return 0
	}
	q := float64(k) / float64(n)
	if q <= p {
		return 0
	}
	p = math.Max(p, 1e-6) // a size never seen elsewhere is still not impossible
	kl := q * math.Log(q/p)
	if q < 1 {
		kl += (1 - q) * math.Log((1-q)/(1-p))
	}
	return float64(n) * kl / math.Ln2
}
