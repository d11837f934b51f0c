// Package netflow decodes NetFlow v5, NetFlow v9 and IPFIX export datagrams into flow records.
//
// Datagrams come from the UDP listeners (internal/collect), one call to Decoder.Decode per
// datagram, possibly from several sockets at once; the records go straight into the caller's
// columnar flow.Batch, which then travels to the store and the detectors.
//
// The decoder keeps, per exporter address and observation domain (never per source port), the
// templates it has seen, each compiled into a short list of (offset, length, field) operations so
// that decoding a data record is one tight loop without allocation; the sampling rates announced
// in options data, per sampler id; and the export sequence numbers, to estimate the records lost
// on the way. Data whose template has not arrived yet is held for a short while, bounded per
// exporter, and decoded when the template comes.
package netflow
