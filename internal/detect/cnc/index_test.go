package cnc

import "testing"

// TestIndexAgainstMap inserts, finds and removes entries under colliding and growing conditions
// and checks every answer against a Go map.
func TestIndexAgainstMap(t *testing.T) {
	x := newIndex()
	want := map[int32]uint64{} // slot → hash
	hashOf := func(i int) uint64 {
		h := mix64(uint64(i))
		if i%3 == 0 {
			h = h&^(0xfff<<32) | 0x5<<32 // many share a home position
		}
		return h
	}
	lookup := func(h uint64, slot int32) bool {
		tag := h >> 32
		for p := tag & x.mask; ; p = (p + 1) & x.mask {
			v := x.words[p]
			if v == 0 {
				return false
			}
			if tagOf(v) == tag && slotOf(v) == slot {
				return true
			}
		}
	}
	next := int32(0)
	for round := range 20000 {
		if round%3 == 2 && len(want) > 0 {
			for s, h := range want { // remove an arbitrary one
				x.remove(h, s)
				delete(want, s)
				if lookup(h, s) {
					t.Fatalf("slot %d still found after remove", s)
				}
				break
			}
			continue
		}
		h := hashOf(int(next))
		x.insert(h, next)
		want[next] = h
		next++
	}
	if x.n != len(want) {
		t.Errorf("index holds %d entries, want %d", x.n, len(want))
	}
	for s, h := range want {
		if !lookup(h, s) {
			t.Fatalf("slot %d lost", s)
		}
	}
	if 2*x.n > len(x.words) {
		t.Errorf("%d entries in %d words: more than half full", x.n, len(x.words))
	}
}
