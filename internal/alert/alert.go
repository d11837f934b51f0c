// Package alert is yocho's alert model and lifecycle: detectors report attacks to a Manager, which
// keeps one alert per attack (started, ongoing and updated, ended), persists alerts across
// restarts, and hands every change to its subscribers as an Event: the notifiers (package
// alert/notify), the mitigation engine and the API read alerts from here, and alert knows nothing
// of them.
package alert

import (
	"encoding/json"
	"net/netip"
	"time"
)

// State is where an alert is in its life.
type State string

// Alert states.
const (
	Ongoing State = "ongoing"
	Ended   State = "ended"
)

// Direction says whose hosts are attacked.
const (
	Incoming = "incoming" // our hosts are attacked
	Outgoing = "outgoing" // our hosts attack others
)

// Vectors, as alerts name them.
const (
	VectorUDPFlood       = "udp-flood"
	VectorSYNFlood       = "syn-flood"
	VectorTCPFlood       = "tcp-flood"
	VectorICMPFlood      = "icmp-flood"
	VectorFragmentFlood  = "fragment-flood"
	VectorDNSAmp         = "dns-amplification"
	VectorNTPAmp         = "ntp-amplification"
	VectorMemcachedAmp   = "memcached-amplification"
	VectorSSDPAmp        = "ssdp-amplification"
	VectorCLDAPAmp       = "cldap-amplification"
	VectorChargenAmp     = "chargen-amplification"
	VectorWSDAmp         = "wsd-amplification"
	VectorOther          = "other"
	KindDDoS             = "ddos"
	defaultSeriesPoints  = 720
	defaultPersistPeriod = 5 * time.Second
)

// Alert is one attack, as the API shows it and the file keeps it. The Manager owns alerts: what
// it hands out are copies.
type Alert struct {
	ID            string       `json:"id"`
	Kind          string       `json:"kind"`
	Key           string       `json:"key"` // what identifies the attack: one ongoing alert per key
	Direction     string       `json:"direction"`
	State         State        `json:"state"`
	ThreatLevel   int          `json:"threat_level"`
	ThreatReasons []Reason     `json:"threat_reasons"`
	Victims       []netip.Addr `json:"victims"`
	// Prefix is the carpet-bombed prefix; empty for an attack on single hosts.
	Prefix      netip.Prefix `json:"prefix,omitzero"`
	Hostgroup   string       `json:"hostgroup,omitempty"`
	Customer    string       `json:"customer,omitempty"`
	Criticality string       `json:"criticality,omitempty"`
	Vector      string       `json:"vector"`
	Protocol    uint8        `json:"protocol,omitempty"`
	// SourcePort is the vector's source port (53 for DNS amplification), 0 when it has none.
	SourcePort uint16     `json:"source_port,omitempty"`
	Crossed    []Crossing `json:"crossed"`
	PeakBps    float64    `json:"peak_bps"`
	PeakPps    float64    `json:"peak_pps"`
	PeakAt     time.Time  `json:"peak_at"`
	CurrentBps float64    `json:"current_bps"`
	CurrentPps float64    `json:"current_pps"`
	// UsualBps and UsualPps are the victim's usual traffic at this hour, when learned.
	UsualBps        float64      `json:"usual_bps,omitempty"`
	UsualPps        float64      `json:"usual_pps,omitempty"`
	TopSources      []Top        `json:"top_sources"`
	SourcePorts     []Top        `json:"source_ports"`
	DestPorts       []Top        `json:"destination_ports"`
	SourceASNs      []Top        `json:"source_asns"`
	Exporters       []Top        `json:"exporters"`
	Interfaces      []Top        `json:"interfaces"`
	DistinctSources uint64       `json:"distinct_sources"`
	PacketSizes     []SizeBucket `json:"packet_sizes"`
	SampleFlows     []SampleFlow `json:"sample_flows,omitempty"`
	Series          []Point      `json:"series,omitempty"`
	// StartedAt is when the alert was raised (wall clock): detection latency is measured to it.
	StartedAt time.Time `json:"started_at"`
	// AttackStartedAt is the first second of traffic over a threshold (flow time), the attack's
	// own start; EndedAt is the second after its last such second.
	AttackStartedAt time.Time  `json:"attack_started_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
	EndedAt         *time.Time `json:"ended_at"`
	// Mitigation is the mitigation engine's record of what it did for this alert (null: nothing).
	Mitigation json.RawMessage `json:"mitigation"`

	// DetectedFlowAt is the flow time at which the alert was raised (the FlowTime of its first
	// report), for detectors that judge on flow time; zero when the detector gave none. An
	// evaluation of sped-up or replayed traffic measures latency on it (yocho eval -clock flow).
	DetectedFlowAt time.Time `json:"detected_flow_at,omitzero"`
}

// Reason is one part of the threat level.
type Reason struct {
	Factor string `json:"factor"` // size, usual, vector, duration, criticality, spread; a detector's own (ThreatInput.Given)
	Points int    `json:"points"`
	Detail string `json:"detail"`
}

// Crossing is one threshold the traffic went over.
type Crossing struct {
	Kind      string  `json:"kind"`   // total, udp, tcp_syn, ntp...
	Metric    string  `json:"metric"` // bps, pps, flows
	Value     float64 `json:"value"`  // the peak per-second value
	Threshold float64 `json:"threshold"`
}

// Top is one entry of a top-N list: a source address, a port, an AS number, an exporter or an
// interface ("exporter/ifindex"), with its share of the attack's packets.
type Top struct {
	Value   string  `json:"value"`
	Packets float64 `json:"packets"` // scaled, counted since the attack started
	Bytes   float64 `json:"bytes"`
	Share   float64 `json:"share"` // of the attack's packets, 0 to 1
}

// SizeBucket is one range of the packet-size profile.
type SizeBucket struct {
	Upto  int     `json:"upto"` // average packet size up to this many bytes
	Share float64 `json:"share"`
}

// SampleFlow is one flow record of the attack, as received.
type SampleFlow struct {
	Time     time.Time  `json:"time"`
	Exporter netip.Addr `json:"exporter"`
	Src      netip.Addr `json:"src"`
	Dst      netip.Addr `json:"dst"`
	SrcPort  uint16     `json:"src_port"`
	DstPort  uint16     `json:"dst_port"`
	Proto    uint8      `json:"proto"`
	TCPFlags uint8      `json:"tcp_flags"`
	Bytes    uint64     `json:"bytes"`
	Packets  uint64     `json:"packets"`
	Sampling uint32     `json:"sampling_rate"`
	InIf     uint32     `json:"in_if"`
}

// Point is one second of an attack's time series.
type Point struct {
	Time time.Time `json:"t"`
	Bps  float64   `json:"bps"`
	Pps  float64   `json:"pps"`
}

// Report is what a detector knows of an attack at one moment: the alert without its lifecycle.
// Series holds the points since the previous report; the Manager appends them.
type Report struct {
	Kind, Key, Direction string
	Victims              []netip.Addr
	Prefix               netip.Prefix
	Hostgroup, Customer  string
	Criticality          string
	Vector               string
	Protocol             uint8
	SourcePort           uint16
	Crossed              []Crossing
	CurrentBps           float64
	CurrentPps           float64
	UsualBps, UsualPps   float64
	TopSources           []Top
	SourcePorts          []Top
	DestPorts            []Top
	SourceASNs           []Top
	Exporters            []Top
	Interfaces           []Top
	DistinctSources      uint64
	AttackStartedAt      time.Time
	PacketSizes          []SizeBucket
	SampleFlows          []SampleFlow
	Series               []Point
	// Threat is the input of the threat level, besides duration and criticality.
	Threat ThreatInput

	// FlowTime is the detector's flow clock when it made the report (zero: none).
	FlowTime time.Time
}

// EventType says what happened to an alert.
type EventType string

// Event types.
const (
	EventStarted    EventType = "started"
	EventUpdated    EventType = "updated"
	EventEnded      EventType = "ended"
	EventMitigation EventType = "mitigation" // the mitigation record changed
)

// Event is one change of one alert, handed to subscribers. Alert is a copy: subscribers may keep it.
type Event struct {
	Type  EventType `json:"event"`
	Alert Alert     `json:"alert"`
}

// Summary is the alert without its bulky evidence (series, sample flows), for lists.
func (a Alert) Summary() Alert {
	a.Series = nil
	a.SampleFlows = nil
	return a
}

// clone copies the alert deeply enough that the copy shares nothing the Manager modifies.
func (a *Alert) clone() Alert {
	c := *a
	c.ThreatReasons = append([]Reason(nil), a.ThreatReasons...)
	c.Series = append([]Point(nil), a.Series...)
	c.Mitigation = append(json.RawMessage(nil), a.Mitigation...)
	if a.EndedAt != nil {
		t := *a.EndedAt
		c.EndedAt = &t
	}
	// The other slices are replaced whole on update, never modified in place.
	return c
}
