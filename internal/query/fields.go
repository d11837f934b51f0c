package query

import (
	"sort"
	"strconv"
	"strings"
)

// Kind is what a field holds, which decides the values and operators it accepts.
type Kind uint8

// Field kinds.
const (
	KindUint    Kind = iota // an unsigned number up to Field.Max
	KindAddr                // an IPv4 or IPv6 address, stored as two UBIGINT columns NAME_hi, NAME_lo
	KindProto               // an IP protocol number or name (tcp, udp, ...)
	KindDir                 // a flow direction: unknown, ingress, egress (or 0, 1, 2)
	KindString              // a name (a hostgroup), stored as VARCHAR; "" when none
	KindCountry             // an ISO 3166 alpha-2 country code, stored as VARCHAR; "" when unknown
)

// IsText reports whether the field's values are text (a name, a country code), not numbers.
func (f Field) IsText() bool { return f.Kind == KindString || f.Kind == KindCountry }

// Field is one field of a flow that filters compare and queries group by.
type Field struct {
	Name   string
	Kind   Kind
	Max    uint64 // largest value, for KindUint
	Rollup bool   // kept in the 1m, 5m and 1h roll-up tiers
	// Bucketed fields are kept in the roll-ups only for well-known values (see WellKnownPort);
	// every other value is stored there as 0.
	Bucketed bool
	Doc      string
}

// fields is the catalogue, in the order the API documents it.
var fields = []Field{
	{Name: "exporter", Kind: KindAddr, Rollup: true, Doc: "address of the router that exported the flow"},
	{Name: "obs_domain", Kind: KindUint, Max: 1<<32 - 1, Doc: "NetFlow v9 source id, IPFIX observation domain, sFlow source id"},
	{Name: "sampler_id", Kind: KindUint, Max: 1<<32 - 1, Doc: "sampler id"},
	{Name: "sampling_rate", Kind: KindUint, Max: 1<<32 - 1, Doc: "1 in N packets"},
	{Name: "in_if", Kind: KindUint, Max: 1<<32 - 1, Rollup: true, Doc: "input interface index"},
	{Name: "out_if", Kind: KindUint, Max: 1<<32 - 1, Rollup: true, Doc: "output interface index"},
	{Name: "src_addr", Kind: KindAddr, Doc: "source address"},
	{Name: "dst_addr", Kind: KindAddr, Doc: "destination address"},
	{Name: "next_hop", Kind: KindAddr, Doc: "next-hop address"},
	{Name: "src_port", Kind: KindUint, Max: 65535, Rollup: true, Bucketed: true, Doc: "source port"},
	{Name: "dst_port", Kind: KindUint, Max: 65535, Rollup: true, Bucketed: true, Doc: "destination port"},
	{Name: "proto", Kind: KindProto, Max: 255, Rollup: true, Doc: "IP protocol (number or name)"},
	{Name: "tcp_flags", Kind: KindUint, Max: 255, Doc: "TCP flags (OR of the flow's packets)"},
	{Name: "tos", Kind: KindUint, Max: 255, Doc: "type of service"},
	{Name: "icmp_type", Kind: KindUint, Max: 255, Doc: "ICMP type"},
	{Name: "icmp_code", Kind: KindUint, Max: 255, Doc: "ICMP code"},
	{Name: "bytes", Kind: KindUint, Max: 1<<64 - 1, Doc: "bytes, scaled by the sampling rate"},
	{Name: "packets", Kind: KindUint, Max: 1<<64 - 1, Doc: "packets, scaled by the sampling rate"},
	{Name: "src_as", Kind: KindUint, Max: 1<<32 - 1, Rollup: true, Doc: "source AS number (123 or AS123)"},
	{Name: "dst_as", Kind: KindUint, Max: 1<<32 - 1, Rollup: true, Doc: "destination AS number"},
	{Name: "src_mask", Kind: KindUint, Max: 128, Doc: "source prefix length"},
	{Name: "dst_mask", Kind: KindUint, Max: 128, Doc: "destination prefix length"},
	{Name: "vlan", Kind: KindUint, Max: 65535, Doc: "VLAN id"},
	{Name: "direction", Kind: KindDir, Max: 2, Rollup: true, Doc: "unknown, ingress or egress"},
	{Name: "forwarding_status", Kind: KindUint, Max: 255, Doc: "IPFIX forwarding status"},
	{Name: "mpls_label", Kind: KindUint, Max: 1<<20 - 1, Doc: "top MPLS label"},
	{Name: "duration_ms", Kind: KindUint, Max: 1<<32 - 1, Doc: "last packet minus first packet, milliseconds"},
	{Name: "src_hostgroup", Kind: KindString, Rollup: true, Doc: "most specific configured network holding the source (its name); empty when none"},
	{Name: "dst_hostgroup", Kind: KindString, Rollup: true, Doc: "most specific configured network holding the destination (its name); empty when none"},
	{Name: "src_country", Kind: KindCountry, Rollup: true, Doc: "source country, ISO 3166 alpha-2 (JP), from the geolocation database; empty when unknown"},
	{Name: "dst_country", Kind: KindCountry, Rollup: true, Doc: "destination country, ISO 3166 alpha-2; empty when unknown"},
}

var fieldByName = func() map[string]*Field {
	m := make(map[string]*Field, len(fields))
	for i := range fields {
		m[fields[i].Name] = &fields[i]
	}
	return m
}()

// Fields lists every field, in catalogue order. The slice is a copy.
func Fields() []Field { return append([]Field(nil), fields...) }

// LookupField returns the field called name.
func LookupField(name string) (Field, bool) {
	f, ok := fieldByName[strings.ToLower(name)]
	if !ok {
		return Field{}, false
	}
	return *f, true
}

// FieldNames lists the field names, sorted.
func FieldNames() []string {
	names := make([]string, 0, len(fields))
	for _, f := range fields {
		names = append(names, f.Name)
	}
	sort.Strings(names)
	return names
}

// RollupFields lists the fields kept in the roll-up tiers, in catalogue order.
func RollupFields() []Field {
	var out []Field
	for _, f := range fields {
		if f.Rollup {
			out = append(out, f)
		}
	}
	return out
}

// wellKnownPorts are the ports kept as themselves in the roll-ups: every port below 1024 but 0,
// and the registered ports that carry services users ask about or attacks abuse.
var wellKnownPorts = map[uint16]bool{
	1194: true, 1433: true, 1701: true, 1723: true, 1812: true, 1813: true, 1900: true, 2049: true,
	3074: true, 3283: true, 3306: true, 3389: true, 3478: true, 3702: true, 4500: true, 5060: true,
	5061: true, 5222: true, 5353: true, 5432: true, 5683: true, 6379: true, 6443: true, 8080: true,
	8443: true, 9000: true, 9200: true, 10001: true, 11211: true, 19132: true, 27015: true,
	27017: true, 32414: true, 37810: true,
}

// WellKnownPort reports whether the roll-ups keep port p as itself rather than as 0.
func WellKnownPort(p uint64) bool {
	return (p > 0 && p < 1024) || (p < 65536 && wellKnownPorts[uint16(p)])
}

// WellKnownPortList lists the well-known ports at and above 1024, ascending (ports 1-1023 are
// all well-known).
func WellKnownPortList() []uint16 {
	out := make([]uint16, 0, len(wellKnownPorts))
	for p := range wellKnownPorts {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

var protoNames = map[string]uint64{
	"icmp": 1, "igmp": 2, "ipip": 4, "tcp": 6, "egp": 8, "udp": 17, "ipv6": 41, "rsvp": 46,
	"gre": 47, "esp": 50, "ah": 51, "icmpv6": 58, "ipv6-icmp": 58, "eigrp": 88, "ospf": 89,
	"pim": 103, "vrrp": 112, "l2tp": 115, "sctp": 132, "udplite": 136,
}

var protoByNumber = map[uint64]string{
	1: "icmp", 2: "igmp", 4: "ipip", 6: "tcp", 8: "egp", 17: "udp", 41: "ipv6", 46: "rsvp",
	47: "gre", 50: "esp", 51: "ah", 58: "icmpv6", 88: "eigrp", 89: "ospf", 103: "pim",
	112: "vrrp", 115: "l2tp", 132: "sctp", 136: "udplite",
}

// ProtoName is the protocol's name (tcp, udp...) or its number in decimal.
func ProtoName(p uint8) string {
	if n, ok := protoByNumber[uint64(p)]; ok {
		return n
	}
	return strconv.Itoa(int(p))
}

var dirNames = map[string]uint64{"unknown": 0, "ingress": 1, "egress": 2}

// DirectionName is the direction's name: unknown, ingress or egress.
func DirectionName(d uint8) string {
	switch d {
	case 1:
		return "ingress"
	case 2:
		return "egress"
	case 0:
		return "unknown"
	}
	return strconv.Itoa(int(d))
}
