package flow

import (
	"fmt"
	"net/netip"
)

// Decoder turns export datagrams from routers into records. Implementations are safe for
// concurrent use by several socket readers: one exporter's templates and options may arrive on
// another socket than its data, so state is keyed by exporter address, never address and port.
type Decoder interface {
	// Decode appends the records of one datagram, sent by exporter and received at receivedMs,
	// to out. Records whose template arrives later may be appended by a later call. On error,
	// out holds the records decoded before the fault, and the error is a *DecodeError.
	Decode(exporter netip.Addr, receivedMs int64, packet []byte, out *Batch) error
	// ExporterState reports what the decoder knows of one exporter.
	ExporterState(exporter netip.Addr) ExporterState
}

// ExporterState is what a decoder knows of one exporter, for the exporter registry.
type ExporterState struct {
	Templates     int      // templates currently known (all observation domains)
	SequenceLost  uint64   // records (or datagrams, for sFlow and NetFlow v9) missing by sequence numbers
	SamplingRates []uint32 // distinct sampling rates announced, ascending
	Pending       int      // records held while waiting for their template
	PendingLost   uint64   // held records dropped because their template never came
}

// DecodeError is a datagram that could not be decoded, or only in part. Reason is a short,
// stable label for metrics ("truncated", "bad-version", "bad-template", "no-template", ...).
type DecodeError struct {
	Reason string
	Err    error
}

func (e *DecodeError) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return fmt.Sprintf("%s: %v", e.Reason, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }
