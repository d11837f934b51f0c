package mitigate

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"yocho/internal/alert"
)

// Route kinds.
const (
	KindRTBH     = "rtbh"
	KindFlowSpec = "flowspec"
)

// FlowSpec actions.
const (
	ActionDiscard   = "discard"
	ActionRateLimit = "rate-limit"
)

// TCPFlagsSYN matches TCP segments with SYN set and ACK clear: the opening of a connection, what
// a SYN flood is made of.
const TCPFlagsSYN = "syn"

// Route is one announcement: a blackhole route (RTBH) or a FlowSpec rule. Routes are values; two
// alerts that need the same route share one announcement.
type Route struct {
	Kind string `json:"kind"` // rtbh or flowspec
	// Prefix is the blackholed prefix (RTBH) or the destination the rule matches (FlowSpec).
	Prefix netip.Prefix `json:"prefix"`

	// RTBH attributes.
	NextHop     netip.Addr `json:"next_hop,omitzero"`
	Communities []string   `json:"communities,omitempty"` // "65535:666", "no-export"

	// FlowSpec match and action. Zero fields match anything.
	Protocol   uint8   `json:"protocol,omitempty"`
	SourcePort uint16  `json:"source_port,omitempty"`
	TCPFlags   string  `json:"tcp_flags,omitempty"` // syn: SYN set and ACK clear
	Fragment   bool    `json:"fragment,omitempty"`  // fragments only
	Action     string  `json:"action,omitempty"`    // discard or rate-limit
	RateLimit  float64 `json:"rate_limit,omitempty"`
}

// Key identifies the route as BGP does: its kind and what it matches (the NLRI). Announcing a
// route with a key already announced replaces it.
func (r Route) Key() string {
	if r.Kind == KindRTBH {
		return "rtbh " + r.Prefix.String()
	}
	return "flowspec " + r.match()
}

// String describes the route the way an operator reads it, e.g. "flowspec destination
// 198.51.100.7/32 protocol udp source-port 53 then discard".
func (r Route) String() string {
	if r.Kind == KindRTBH {
		return fmt.Sprintf("rtbh %s next-hop %s community %s", r.Prefix, r.NextHop, strings.Join(r.Communities, " "))
	}
	then := r.Action
	if r.Action == ActionRateLimit {
		then = fmt.Sprintf("rate-limit %.0f", r.RateLimit)
	}
	return "flowspec " + r.match() + " then " + then
}

func (r Route) match() string {
	var b strings.Builder
	b.WriteString("destination ")
	b.WriteString(r.Prefix.String())
	if r.Protocol != 0 {
		b.WriteString(" protocol ")
		b.WriteString(protocolName(r.Protocol))
	}
	if r.SourcePort != 0 {
		b.WriteString(" source-port ")
		b.WriteString(strconv.Itoa(int(r.SourcePort)))
	}
	if r.TCPFlags != "" {
		b.WriteString(" tcp-flags ")
		b.WriteString(r.TCPFlags)
	}
	if r.Fragment {
		b.WriteString(" fragment")
	}
	return b.String()
}

func protocolName(p uint8) string {
	switch p {
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 58:
		return "ipv6-icmp"
	}
	return strconv.Itoa(int(p))
}

// vectorMatch is what a FlowSpec rule matches for each vector: the protocol, the source port of
// amplification services, SYN without ACK, fragments. A vector missing here (other) has no rule.
var vectorMatch = map[string]Route{
	alert.VectorDNSAmp:        {Protocol: 17, SourcePort: 53},
	alert.VectorNTPAmp:        {Protocol: 17, SourcePort: 123},
	alert.VectorMemcachedAmp:  {Protocol: 17, SourcePort: 11211},
	alert.VectorSSDPAmp:       {Protocol: 17, SourcePort: 1900},
	alert.VectorCLDAPAmp:      {Protocol: 17, SourcePort: 389},
	alert.VectorChargenAmp:    {Protocol: 17, SourcePort: 19},
	alert.VectorWSDAmp:        {Protocol: 17, SourcePort: 3702},
	alert.VectorSYNFlood:      {Protocol: 6, TCPFlags: TCPFlagsSYN},
	alert.VectorTCPFlood:      {Protocol: 6},
	alert.VectorUDPFlood:      {Protocol: 17},
	alert.VectorICMPFlood:     {Protocol: 1},
	alert.VectorFragmentFlood: {Fragment: true},
}
