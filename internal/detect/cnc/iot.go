package cnc

// iotSet remembers subscriber hosts that look like IoT devices (they answer or scan telnet), by
// their address hash, in a direct-mapped table of 32-bit tags: a lookup is one read, memory is
// fixed (4 bytes a host), and a host whose place a newer one takes is forgotten until it shows
// the behaviour again. A false match needs two hashes agreeing on 32 bits beyond the position.
type iotSet struct {
	tags []uint32 // made on the first mark
	size int
	n    int // places taken
}

func newIoTSet(max int) iotSet {
	n := 64
	for n < max {
		n <<= 1
	}
	return iotSet{size: n}
}

// What mark did.
const (
	iotKnown = iota
	iotNew
	iotReplaced
)

func iotTag(h uint64) uint32 { return uint32(h>>32) | 1 }

func (s *iotSet) mark(h uint64) int {
	if s.tags == nil {
		s.tags = make([]uint32, s.size)
	}
	p := &s.tags[h&uint64(s.size-1)]
	switch t := iotTag(h); *p {
	case t:
		return iotKnown
	case 0:
		*p = t
		s.n++
		return iotNew
	default:
		*p = t
		return iotReplaced
	}
}

func (s *iotSet) has(h uint64) bool {
	return s.tags != nil && s.tags[h&uint64(s.size-1)] == iotTag(h)
}
