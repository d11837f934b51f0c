package simulate

import (
	"math"
	"math/bits"
)

// rng is a small, fast pseudo-random generator (wyrand); the generator's output depends only on
// its seed. It is not safe for concurrent use.
type rng struct{ s uint64 }

func newRNG(seed uint64) *rng { return &rng{s: seed*0x9e3779b97f4a7c15 + 1} }

func (r *rng) next() uint64 {
	r.s += 0xa0761d6478bd642f
	hi, lo := bits.Mul64(r.s, r.s^0xe7037ed1a0b428db)
	return hi ^ lo
}

// float is uniform in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// intn is uniform in [0, n); n > 0.
func (r *rng) intn(n int) int {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int(hi)
}

// round is x rounded down or up at random so that its expectation is x (x >= 0).
func (r *rng) round(x float64) int {
	f := math.Floor(x)
	if r.float() < x-f {
		return int(f) + 1
	}
	return int(f)
}

// pareto draws from a Pareto distribution with minimum xm and shape alpha (heavy tailed).
func (r *rng) pareto(xm, alpha float64) float64 {
	return xm / math.Pow(1-r.float(), 1/alpha)
}

// highPort is an ephemeral port.
func (r *rng) highPort() uint16 { return uint16(32768 + r.intn(28232)) }

// alias samples an index from a fixed discrete distribution in constant time (Walker's method).
type alias struct {
	prob  []uint32 // threshold, scaled to 2^32
	alias []int32
}

// newZipf is the Zipf-Mandelbrot distribution over n ranks: P(k) proportional to 1/(k+q)^s,
// k = 1..n. q flattens the head, s sets the tail.
func newZipf(n int, s, q float64) *alias {
	w := make([]float64, n)
	for k := range w {
		w[k] = 1 / math.Pow(float64(k+1)+q, s)
	}
	return newAlias(w)
}

func newAlias(w []float64) *alias {
	n := len(w)
	var sum float64
	for _, x := range w {
		sum += x
	}
	scaled := make([]float64, n)
	small, large := make([]int, 0, n), make([]int, 0, n)
	for i, x := range w {
		scaled[i] = x * float64(n) / sum
		if scaled[i] < 1 {
			small = append(small, i)
		} else {
			large = append(large, i)
		}
	}
	a := &alias{prob: make([]uint32, n), alias: make([]int32, n)}
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		a.prob[s] = uint32(scaled[s] * (1 << 32))
		a.alias[s] = int32(l)
		scaled[l] -= 1 - scaled[s]
		if scaled[l] < 1 {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	for _, i := range append(small, large...) {
		a.prob[i] = math.MaxUint32
		a.alias[i] = int32(i)
	}
	return a
}

func (a *alias) draw(r *rng) int {
	x := r.next()
	hi, lo := bits.Mul64(x, uint64(len(a.prob)))
	i := int(hi)
	if uint32(lo>>32) < a.prob[i] {
		return i
	}
	return int(a.alias[i])
}
