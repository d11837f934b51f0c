package e2e

import (
	"fmt"
	"net"
	"os"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// trafficSummary is what writeTrafficPcap wrote.
type trafficSummary struct {
	Conversations int // 5-tuples, before softflowd splits them by direction
	Packets       int
	V4Packets     int
}

// writeTrafficPcap writes an Ethernet capture of 200 IPv4 conversations (TCP, UDP, ICMP, some
// answered) and 10 IPv6 UDP ones, ~2300 packets over a minute, with deterministic contents.
func writeTrafficPcap(path string) (trafficSummary, error) {
	var sum trafficSummary
	f, err := os.Create(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return sum, err
	}
	type pkt struct {
		at   time.Time
		data []byte
	}
	var pkts []pkt
	base := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	macA := net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	macB := net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}

	build := func(v6 bool, src, dst net.IP, proto int, sport, dport uint16, payload int, flags uint8) ([]byte, error) {
		eth := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}
		var netl gopacket.NetworkLayer
		var ls []gopacket.SerializableLayer
		if v6 {
			eth.EthernetType = layers.EthernetTypeIPv6
			ip := &layers.IPv6{Version: 6, HopLimit: 64, SrcIP: src, DstIP: dst, NextHeader: layers.IPProtocol(proto)}
			netl = ip
			ls = append(ls, eth, ip)
		} else {
			ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: src, DstIP: dst, Protocol: layers.IPProtocol(proto)}
			netl = ip
			ls = append(ls, eth, ip)
		}
		body := gopacket.Payload(make([]byte, payload))
		switch proto {
		case 6:
			tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 1000, Window: 65535,
				SYN: flags&0x02 != 0, ACK: flags&0x10 != 0, FIN: flags&0x01 != 0, PSH: flags&0x08 != 0}
			_ = tcp.SetNetworkLayerForChecksum(netl)
			ls = append(ls, tcp, body)
		case 17:
			udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
			_ = udp.SetNetworkLayerForChecksum(netl)
			ls = append(ls, udp, body)
		case 1:
			ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: sport, Seq: dport}, body)
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
			return nil, err
		}
		return append([]byte(nil), buf.Bytes()...), nil
	}

	for i := range 200 {
		src := net.IPv4(10, 1, byte(i/100), byte(i%100+1))
		dst := net.IPv4(198, 51, 100, byte(i%50+1))
		proto := []int{6, 17, 1}[i%3]
		sport, dport := uint16(20000+i), []uint16{443, 53, 0}[i%3]
		if proto == 1 {
			sport, dport = uint16(i), 1
		}
		n := 4 + i%15
		answered := i%2 == 0 && proto != 1
		start := base.Add(time.Duration(i) * 200 * time.Millisecond)
		for k := range n {
			flags := uint8(0x10)
			if k == 0 {
				flags = 0x02
			}
			if k == n-1 {
				flags = 0x11
			}
			at := start.Add(time.Duration(k) * 150 * time.Millisecond)
			d, err := build(false, src, dst, proto, sport, dport, 40+(i*37+k*11)%1200, flags)
			if err != nil {
				return sum, err
			}
			pkts = append(pkts, pkt{at, d})
			sum.V4Packets++
			if answered {
				d, err := build(false, dst, src, proto, dport, sport, 20+(i*13+k*7)%900, 0x18)
				if err != nil {
					return sum, err
				}
				pkts = append(pkts, pkt{at.Add(time.Millisecond), d})
				sum.V4Packets++
			}
		}
		sum.Conversations++
	}
	for i := range 10 {
		src := net.ParseIP(fmt.Sprintf("2001:db8:1::%x", i+1))
		dst := net.ParseIP("2001:db8:2::53")
		start := base.Add(time.Duration(i) * time.Second)
		for k := range 3 + i%4 {
			d, err := build(true, src, dst, 17, uint16(30000+i), 53, 60+i*10+k, 0)
			if err != nil {
				return sum, err
			}
			pkts = append(pkts, pkt{start.Add(time.Duration(k) * 300 * time.Millisecond), d})
		}
		sum.Conversations++
	}
	// Packets in time order, as a capture has them.
	for i := 1; i < len(pkts); i++ {
		for j := i; j > 0 && pkts[j].at.Before(pkts[j-1].at); j-- {
			pkts[j], pkts[j-1] = pkts[j-1], pkts[j]
		}
	}
	for _, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: p.at, CaptureLength: len(p.data), Length: len(p.data)}
		if err := w.WritePacket(ci, p.data); err != nil {
			return sum, err
		}
	}
	sum.Packets = len(pkts)
	return sum, nil
}
