package ddos

import (
	"math"
	"math/bits"
	"slices"
)

// topK is a Space-Saving sketch of the heaviest keys by packets: k counters; a key not held
// replaces the lightest one and inherits its count (as its error), so that heavy hitters are never
// missed whatever the number of distinct keys. Memory is fixed. Columns, not entries: a key is
// found by scanning one word per counter (fp), and the lightest by scanning the packet counts.
type topK struct {
	n       int
	fp      []uint64  // k1 ^ k2 ^ k3, a filter before the whole key is compared
	packets []float64 // scanned for the lightest
	e       []topEntry
	// has counts the keys held by bucket of their fp: a key whose bucket is empty is not held,
	// without a scan (under a spoofed flood, nearly every key).
	has []uint8
	// low is the least count when last looked for, a lower bound of every count since (counts
	// only grow); hint an entry that held it. Under a flood of keys seen once, many counters tie at
	// the least count: the next one is found without a scan.
	low  float64
	hint int
}

// topEntry is one counter of a topK (its packets are in topK.packets while it is held).
type topEntry struct {
	k1, k2  uint64
	k3      uint32
	packets float64
	bytes   float64
	err     float64
}

func newTopK(k int) topK {
	return topK{fp: make([]uint64, k), packets: make([]float64, k), e: make([]topEntry, k), has: make([]uint8, 256)}
}

// add counts packets and bytes for the key (k1, k2, k3).
func (t *topK) add(k1, k2 uint64, k3 uint32, packets, bytes float64) {
	f := k1 ^ k2 ^ uint64(k3)<<40
	n := t.n
	bucket := bucketOf(f)
	if t.has[bucket] != 0 {
		fp := t.fp[:n]
		for i, x := range fp {
			if e := &t.e[i]; x == f && e.k1 == k1 && e.k2 == k2 && e.k3 == k3 {
				t.packets[i] += packets
				e.bytes += bytes
				return
			}
		}
	}
	m := n
	low := 0.0
	if n < len(t.fp) {
		t.n++
	} else {
		pk := t.packets[:n]
		if pk[t.hint] == t.low {
			m, low = t.hint, t.low
		} else {
			m, low = 0, pk[0]
			for i, v := range pk {
				if v < low {
					m, low = i, v
				}
			}
		}
		t.low, t.hint = low, m
		for i := m + 1; i < min(m+9, n); i++ { // a tie close by
			if pk[i] == low {
				t.hint = i
				break
			}
		}
		t.has[bucketOf(t.fp[m])]--
	}
	t.has[bucket]++
	t.fp[m], t.packets[m] = f, low+packets
	t.e[m] = topEntry{k1: k1, k2: k2, k3: k3, bytes: bytes, err: low}
}

// top returns the entries by packets, heaviest first.
func (t *topK) top() []topEntry {
	out := slices.Clone(t.e[:t.n])
	for i := range out {
		out[i].packets = t.packets[i]
	}
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

func (t *topK) reset() {
	t.n, t.low, t.hint = 0, 0, 0
	clear(t.has)
}

func bucketOf(fp uint64) uint8 { return uint8((fp * 0x9E3779B97F4A7C15) >> 56) }

// hll is a HyperLogLog distinct counter with 2^p one-byte registers.
type hll struct {
	p   uint8
	reg []uint8
}

// at is the register of a 64-bit hash.
func (h *hll) at(x uint64) *uint8 { return &h.reg[x>>(64-h.p)] }

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

// hashPeer is a cheaper hash of an address's words for the distinct counts: one scramble
// (hi*odd is a bijection, so two addresses meet only when lo^hi*odd does).
func hashPeer(hi, lo uint64) uint64 { return mix64(lo ^ hi*0x9E3779B97F4A7C15) }
