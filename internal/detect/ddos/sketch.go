package ddos

import (
	"math"
	"math/bits"
	"slices"
)

// topK is a Space-Saving sketch of the heaviest keys by packets: k counters; a key not held
// replaces the lightest one and inherits its count (as its error), so that heavy hitters are never
// missed whatever the number of distinct keys. Memory is fixed.
type topK struct {
	e []topEntry
}

type topEntry struct {
	k1, k2  uint64
	k3      uint32
	packets float64
	bytes   float64
	err     float64
}

func newTopK(k int) topK { return topK{e: make([]topEntry, 0, k)} }

// add counts packets and bytes for the key (k1, k2, k3).
func (t *topK) add(k1, k2 uint64, k3 uint32, packets, bytes float64) {
	for i := range t.e {
		if t.e[i].k1 == k1 && t.e[i].k2 == k2 && t.e[i].k3 == k3 {
			t.e[i].packets += packets
			t.e[i].bytes += bytes
			return
		}
	}
	if len(t.e) < cap(t.e) {
		t.e = append(t.e, topEntry{k1: k1, k2: k2, k3: k3, packets: packets, bytes: bytes})
		return
	}
	m := 0
	for i := 1; i < len(t.e); i++ {
		if t.e[i].packets < t.e[m].packets {
			m = i
		}
	}
	low := t.e[m].packets
	t.e[m] = topEntry{k1: k1, k2: k2, k3: k3, packets: low + packets, bytes: bytes, err: low}
}

// top returns the entries by packets, heaviest first.
func (t *topK) top() []topEntry {
	out := slices.Clone(t.e)
	slices.SortFunc(out, func(a, b topEntry) int {
		switch {
		case a.packets > b.packets:
			return -1
		case a.packets < b.packets:
			return 1
		}
		return 0
	})
	return out
}

func (t *topK) reset() { t.e = t.e[:0] }

// hll is a HyperLogLog distinct counter with 2^p one-byte registers.
type hll struct {
	p   uint8
	reg []uint8
}

func newHLL(p uint8) hll { return hll{p: p, reg: make([]uint8, 1<<p)} }

// add counts a 64-bit hash.
func (h *hll) add(x uint64) {
	idx := x >> (64 - h.p)
	rank := uint8(bits.LeadingZeros64(x<<h.p|1<<(h.p-1))) + 1
	if rank > h.reg[idx] {
		h.reg[idx] = rank
	}
}

// estimate is the number of distinct hashes added, within about 1.04/sqrt(2^p).
func (h *hll) estimate() uint64 {
	m := float64(len(h.reg))
	sum, zeros := 0.0, 0
	for _, r := range h.reg {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	alpha := 0.7213 / (1 + 1.079/m)
	e := alpha * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		e = m * math.Log(m/float64(zeros))
	}
	return uint64(e + 0.5)
}

func (h *hll) reset() { clear(h.reg) }

// mix64 scrambles a key into a well-spread 64-bit hash (the splitmix64 finaliser).
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func hash128(hi, lo uint64) uint64 { return mix64(hi ^ mix64(lo)) }
