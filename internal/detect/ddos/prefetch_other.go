//go:build !amd64

package ddos

import "unsafe"

// prefetch does nothing on this architecture.
func prefetch(unsafe.Pointer) {}
