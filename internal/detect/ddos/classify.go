package ddos

import (
	"yocho/internal/alert"
	"yocho/internal/enrich"
)

// TCP flags.
const (
	tcpSYN = 0x02
	tcpACK = 0x10
)

// kindMask is a set of enrich.Kind, one bit each.
type kindMask uint16

// classify says which kinds of traffic a flow belongs to: always the total; its protocol; a TCP
// flow with SYN and no ACK is also tcp_syn; a UDP flow with no ports is a non-first fragment; a UDP
// flow from an amplification service's port is also that vector.
func classify(proto, flags uint8, srcPort, dstPort uint16) kindMask {
	m := kindMask(1 << enrich.KindTotal)
	switch proto {
	case 6:
		m |= 1 << enrich.KindTCP
		if flags&tcpSYN != 0 && flags&tcpACK == 0 {
			m |= 1 << enrich.KindTCPSyn
		}
	case 17:
		m |= 1 << enrich.KindUDP
		if srcPort == 0 && dstPort == 0 {
			m |= 1 << enrich.KindFragments
		} else if k := amplifier(srcPort); k != enrich.KindTotal {
			m |= 1 << k
		}
	case 1, 58:
		m |= 1 << enrich.KindICMP
	}
	return m
}

// amplifier is the amplification vector of a UDP source port, or KindTotal for none.
func amplifier(port uint16) enrich.Kind {
	switch port {
	case 53:
		return enrich.KindDNS
	case 123:
		return enrich.KindNTP
	case 11211:
		return enrich.KindMemcached
	case 1900:
		return enrich.KindSSDP
	case 389:
		return enrich.KindCLDAP
	case 19:
		return enrich.KindChargen
	case 3702:
		return enrich.KindWSD
	}
	return enrich.KindTotal
}

// vectorOf names the vector of traffic dominated by kind k.
func vectorOf(k enrich.Kind) (name string, proto uint8, srcPort uint16) {
	switch k {
	case enrich.KindDNS:
		return alert.VectorDNSAmp, 17, 53
	case enrich.KindNTP:
		return alert.VectorNTPAmp, 17, 123
	case enrich.KindMemcached:
		return alert.VectorMemcachedAmp, 17, 11211
	case enrich.KindSSDP:
		return alert.VectorSSDPAmp, 17, 1900
	case enrich.KindCLDAP:
		return alert.VectorCLDAPAmp, 17, 389
	case enrich.KindChargen:
		return alert.VectorChargenAmp, 17, 19
	case enrich.KindWSD:
		return alert.VectorWSDAmp, 17, 3702
	case enrich.KindFragments:
		return alert.VectorFragmentFlood, 17, 0
	case enrich.KindTCPSyn:
		return alert.VectorSYNFlood, 6, 0
	case enrich.KindICMP:
		return alert.VectorICMPFlood, 1, 0
	case enrich.KindUDP:
		return alert.VectorUDPFlood, 17, 0
	case enrich.KindTCP:
		return alert.VectorTCPFlood, 6, 0
	}
	return alert.VectorOther, 0, 0
}

// classifyVector names an attack from the kinds that crossed their thresholds (over: each kind's
// largest ratio to its threshold) and each kind's packets and bytes during the attack. An
// amplification vector that crossed, or that carries most of the bytes, wins; then fragments, SYN
// and ICMP that crossed; then the kind with most of the packets; then UDP or TCP that crossed.
// KindTotal means none fits ("other").
func classifyVector(over [enrich.NumKinds]float64, pkts, bytes [enrich.NumKinds]float64) enrich.Kind {
	best, bestOver := enrich.KindTotal, 1.0
	for k := enrich.FirstAmplification; k < enrich.NumKinds; k++ {
		if over[k] >= bestOver {
			best, bestOver = k, over[k]
		}
	}
	if best != enrich.KindTotal {
		return best
	}
	totalP, totalB := pkts[enrich.KindTotal], bytes[enrich.KindTotal]
	for k := enrich.FirstAmplification; k < enrich.NumKinds; k++ {
		if totalB > 0 && bytes[k]/totalB >= 0.5 {
			return k
		}
	}
	floods := [...]enrich.Kind{enrich.KindFragments, enrich.KindTCPSyn, enrich.KindICMP}
	for _, k := range floods {
		if over[k] >= 1 {
			return k
		}
	}
	for _, k := range [...]enrich.Kind{enrich.KindFragments, enrich.KindTCPSyn, enrich.KindICMP, enrich.KindUDP, enrich.KindTCP} {
		if totalP > 0 && pkts[k]/totalP >= 0.5 {
			return k
		}
	}
	for _, k := range [...]enrich.Kind{enrich.KindUDP, enrich.KindTCP} {
		if over[k] >= 1 {
			return k
		}
	}
	return enrich.KindTotal
}
