package query

// HeavyHitterFields are the fields of which the store keeps, for every hour, the heavy hitters:
// the values with the most bytes, packets or flows, with their exact sums (see
// ChooseHeavyHitters).
var HeavyHitterFields = []string{"dst_addr", "src_addr"}

// ChooseHeavyHitters reports whether a top-N request may be answered from the per-hour heavy
// hitters rather than the raw flows: it groups by one heavy-hitter field and has no filter (the
// heavy hitters keep no other dimension). The store still checks, per answer, that the pruning
// cannot have changed it, and reads raw flows when it could have.
func ChooseHeavyHitters(by []Field, f *Filter) bool {
	if len(by) != 1 || f != nil {
		return false
	}
	for _, n := range HeavyHitterFields {
		if by[0].Name == n {
			return true
		}
	}
	return false
}
