package cnc

// index maps a key's 64-bit hash to a slot number (in Engine.endpoints or Engine.pairs) in an
// open-addressed table with linear probing. Each word packs the hash's upper 32 bits (its home
// position is their low bits) with the slot number + 1; 0 is empty. A probe reads 8-byte words,
// usually one cache line, and the caller confirms the key in its own slot: a Go map would take
// two or three cache misses and hash the whole key again. The table is at most half full.
//
// It starts small and doubles while more than half full: a word keeps the 32 bits that give
// any larger table's home position.
type index struct {
	words []uint64
	mask  uint64
	n     int
}

func newIndex() index { return index{words: make([]uint64, 64), mask: 63} }

func (x *index) grow() {
	old := x.words
	x.words = make([]uint64, 2*len(old))
	x.mask = uint64(len(x.words) - 1)
	for _, w := range old {
		if w != 0 {
			x.place(w)
		}
	}
}

func (x *index) place(w uint64) {
	for p := (w >> 32) & x.mask; ; p = (p + 1) & x.mask {
		if x.words[p] == 0 {
			x.words[p] = w
			return
		}
	}
}

// home is the position where a hash's probe starts.
func (x *index) home(h uint64) uint64 { return (h >> 32) & x.mask }

// insert adds slot under hash h. The caller makes sure the key is not there yet.
func (x *index) insert(h uint64, slot int32) {
	if 2*(x.n+1) > len(x.words) {
		x.grow()
	}
	x.n++
	x.place(h&^0xffffffff | uint64(uint32(slot)+1))
}

// remove deletes slot's entry under hash h, shifting the entries after it back so that no probe
// chain is broken (no tombstones).
func (x *index) remove(h uint64, slot int32) {
	want := h&^0xffffffff | uint64(uint32(slot)+1)
	p := x.home(h)
	for x.words[p] != want {
		if x.words[p] == 0 {
			return
		}
		p = (p + 1) & x.mask
	}
	x.n--
	for {
		x.words[p] = 0
		q := p
		for {
			q = (q + 1) & x.mask
			w := x.words[q]
			if w == 0 {
				return
			}
			// w may move to p if its home is not in the cyclic range (p, q].
			if h := (w >> 32) & x.mask; (q-h)&x.mask >= (q-p)&x.mask {
				x.words[p] = w
				p = q
				break
			}
		}
	}
}

// tagOf is the part of a word compared with a hash.
func tagOf(w uint64) uint64 { return w >> 32 }

// slotOf is the slot number a word holds.
func slotOf(w uint64) int32 { return int32(uint32(w) - 1) }
