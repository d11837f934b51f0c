package ddos

import "unsafe"

// prefetch asks the CPU to bring the cache line at p in, without waiting for it: Consume
// prefetches a chunk's first-stage slots before counting, so that their misses overlap.
//
//go:noescape
func prefetch(p unsafe.Pointer)
