package simulate

import "sort"

// vector is how one attack vector looks in flows: protocol, ports, flags and the sizes of its
// packets as they cross the backbone (IP bytes).
type vector struct {
	proto    uint8
	sport    uint16 // 0: random high port
	dport    uint16 // default destination port; 0: random high port
	flags    uint8  // TCP flags of every packet
	icmpType uint8
	size     int  // typical IP packet size
	spoofed  bool // random spoofed sources by default
	sources  int  // distinct sources (bots, reflectors) by default
}

// vectors are the attack vectors, named as the DDoS detector names them (issue 5). The sizes
// are what each reflection returns per packet: NTP monlist replies are 468 bytes (6 entries of 72
// bytes), SSDP replies about 330, WS-Discovery about 700, chargen about 1 kB; DNS ANY, CLDAP and
// memcached replies exceed the MTU and arrive as full-sized fragments. Fragments are simulated
// as whole datagrams carrying the source port.
var vectors = map[string]vector{
	"udp-flood":               {proto: 17, size: 512, sources: 500},
	"syn-flood":               {proto: 6, dport: 80, flags: 0x02, size: 60, spoofed: true},
	"tcp-flood":               {proto: 6, dport: 80, flags: 0x10, size: 52, sources: 500},
	"icmp-flood":              {proto: 1, icmpType: 8, size: 84, sources: 500},
	"dns-amplification":       {proto: 17, sport: 53, size: 1460, sources: 1000},
	"ntp-amplification":       {proto: 17, sport: 123, size: 468, sources: 1000},
	"memcached-amplification": {proto: 17, sport: 11211, size: 1428, sources: 300},
	"ssdp-amplification":      {proto: 17, sport: 1900, size: 330, sources: 2000},
	"cldap-amplification":     {proto: 17, sport: 389, size: 1450, sources: 1000},
	"chargen-amplification":   {proto: 17, sport: 19, size: 1060, sources: 500},
	"wsd-amplification":       {proto: 17, sport: 3702, size: 700, sources: 1000},
}

// VectorNames lists the attack vectors a scenario may name.
func VectorNames() []string {
	names := make([]string, 0, len(vectors))
	for n := range vectors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
