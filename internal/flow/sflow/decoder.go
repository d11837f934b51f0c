// Package sflow decodes sFlow version 5 datagrams (sflow.org/sflow_version_5.txt), as sent by
// switches and routers to UDP port 6343, into flow records appended to a flow.Batch.
//
// Data comes from the collector's UDP listeners (one Decode call per datagram, from several
// readers at once) and goes into the caller's batch, one record per flow sample. The sampled
// packet header carried by a sample is parsed down to the transport header (Ethernet, 802.1Q and
// QinQ tags, MPLS, IPv4, IPv6 with its extension headers, TCP, UDP, SCTP, ICMP, ICMPv6). Counter
// samples never enter the batch: the latest generic interface counters of each agent are kept in
// a bounded table, read with Decoder.Counters.
//
// Choices that a user of the records sees:
//   - Record.Exporter is the agent address carried in the datagram (what the router calls
//     itself, stable when it sends from several source addresses), unless Config.ExporterFromSource
//     is set or the agent address is absent (type 0 or unspecified): then the UDP source address.
//     ExporterState and Counters are keyed by that same address.
//   - Record.ObsDomain is the sub-agent ID (the scope of the datagram sequence number, as a NetFlow
//     source id), Record.SamplerID is the data source index of the sample (usually the ifIndex of
//     the sampling interface, with its class dropped).
//   - Bytes is the frame length the agent reports in the raw packet header record (what tshark
//     calls "Frame Length"; for Ethernet it is the whole frame, often with its 4-byte FCS, and
//     sfacctd counts the same). Without a header record, the length of the sampled IPv4/IPv6
//     record, else of the sampled Ethernet record. Packets is always 1: one sample is one packet,
//     and SamplingRate (always present in sFlow) scales both.
//   - StartMs = EndMs = ReceivedMs: sFlow carries no flow times.
//   - Interfaces: the 0x3FFFFFFF ifIndex ("the router itself") becomes 0 and, on output,
//     ForwardingStatus 192 (consumed); a discarded packet gives OutIf 0 and ForwardingStatus 128
//     (dropped); a packet sent to several interfaces gives OutIf 0.
//   - Direction is ingress when the data source is the input interface, egress when it is the
//     output interface, unknown otherwise.
//   - VLAN is the extended switch record's incoming VLAN, else its outgoing VLAN, else the outer
//     802.1Q tag of the sampled frame. MPLSLabel is the top label of the sampled frame's stack.
//   - NextHop is the extended router record's next hop, else the extended gateway's BGP next hop.
//     SrcAS is the gateway's source AS; DstAS the last AS of its destination path, or the
//     router's own AS when the path is empty (the destination is in the router's AS).
//   - Encapsulations (VXLAN, GRE) are not opened: the record describes the outer packet.
package sflow

import (
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/flow"
)

// Config tunes the decoder's bounded state.
type Config struct {
	// ExporterFromSource makes Record.Exporter the UDP source address even when the datagram
	// names its agent.
	ExporterFromSource bool
	// MaxAgents bounds the agents whose sequence numbers, rates and counters are kept. Datagrams
	// from agents beyond it are still decoded, without state.
	MaxAgents int
	// MaxInterfacesPerAgent bounds the interface counters kept per agent.
	MaxInterfacesPerAgent int
	// AgentIdle is how long an agent's state is kept after its last datagram, once the table
	// is full.
	AgentIdle time.Duration
	// MaxSequenceGap is the largest forward jump of a datagram sequence number counted as loss;
	// a larger one is taken as an agent restart.
	MaxSequenceGap uint32
}

// DefaultConfig returns the configuration used when nothing is set.
func DefaultConfig() Config {
	return Config{
		MaxAgents:             10000,
		MaxInterfacesPerAgent: 4096,
		AgentIdle:             time.Hour,
		MaxSequenceGap:        1 << 16,
	}
}

// Reasons a datagram is rejected, in whole or in part (DecodeError.Reason, and the reason label
// of the yocho_sflow_decode_errors_total metric).
const (
	ReasonTruncated    = "truncated"   // the datagram ends before a field, sample or record it announces
	ReasonBadVersion   = "bad-version" // not sFlow version 5
	ReasonBadAgentType = "bad-agent-address-type"
	ReasonBadCount     = "bad-count"  // more samples, records or AS path entries than the bytes could hold
	ReasonBadLength    = "bad-length" // a sample or record length shorter than its own fixed fields
)

var allReasons = []string{ReasonTruncated, ReasonBadVersion, ReasonBadAgentType, ReasonBadCount, ReasonBadLength}

// Decoder decodes sFlow v5 datagrams. It is safe for concurrent use.
type Decoder struct {
	cfg Config
	m   metrics

	mu        sync.RWMutex
	agents    map[netip.Addr]*agentState
	lastPrune int64 // ms, under mu
}

var _ flow.Decoder = (*Decoder)(nil)

type metrics struct {
	datagrams      prometheus.Counter
	flowSamples    prometheus.Counter
	counterSamples prometheus.Counter
	otherSamples   prometheus.Counter
	otherRecords   prometheus.Counter
	errors         map[string]prometheus.Counter
	agentsFull     prometheus.Counter
	ifacesFull     prometheus.Counter
}

// New returns a decoder. Its metrics are registered on reg unless reg is nil.
func New(cfg Config, reg prometheus.Registerer) *Decoder {
	def := DefaultConfig()
	if cfg.MaxAgents <= 0 {
		cfg.MaxAgents = def.MaxAgents
	}
	if cfg.MaxInterfacesPerAgent <= 0 {
		cfg.MaxInterfacesPerAgent = def.MaxInterfacesPerAgent
	}
	if cfg.AgentIdle <= 0 {
		cfg.AgentIdle = def.AgentIdle
	}
	if cfg.MaxSequenceGap == 0 {
		cfg.MaxSequenceGap = def.MaxSequenceGap
	}
	d := &Decoder{cfg: cfg, agents: make(map[netip.Addr]*agentState)}

	opts := func(name, help string) prometheus.CounterOpts {
		return prometheus.CounterOpts{Namespace: "yocho", Subsystem: "sflow", Name: name, Help: help}
	}
	samples := prometheus.NewCounterVec(opts("samples_total", "sFlow samples read, by kind (flow, counter, other: skipped)."), []string{"kind"})
	errs := prometheus.NewCounterVec(opts("decode_errors_total", "sFlow datagrams rejected in whole or in part, by reason; the samples after the fault are dropped."), []string{"reason"})
	full := prometheus.NewCounterVec(opts("state_full_total", "sFlow state not kept because its table was full, by table (agents, interfaces)."), []string{"table"})
	datagrams := prometheus.NewCounter(opts("datagrams_total", "sFlow datagrams received."))
	otherRecords := prometheus.NewCounter(opts("records_skipped_total", "sFlow flow or counter records of a format not decoded, skipped."))
	d.m = metrics{
		datagrams:      datagrams,
		flowSamples:    samples.WithLabelValues("flow"),
		counterSamples: samples.WithLabelValues("counter"),
		otherSamples:   samples.WithLabelValues("other"),
		otherRecords:   otherRecords,
		errors:         make(map[string]prometheus.Counter, len(allReasons)),
		agentsFull:     full.WithLabelValues("agents"),
		ifacesFull:     full.WithLabelValues("interfaces"),
	}
	for _, r := range allReasons {
		d.m.errors[r] = errs.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(samples, errs, full, datagrams, otherRecords)
	}
	return d
}

// decodeError counts and returns a DecodeError.
func (d *Decoder) decodeError(reason string, err error) error {
	d.m.errors[reason].Inc()
	return &flow.DecodeError{Reason: reason, Err: err}
}

var (
	errShort = errors.New("datagram too short")
)
