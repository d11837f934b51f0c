package importer

import (
	"encoding/binary"
	"errors"
	"io"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"yocho/internal/flow"
)

// readPcap reads a capture of flow exports (pcap or pcapng): every UDP datagram is given to the
// NetFlow/IPFIX decoder, or the sFlow one (told apart by the version field), as if it came from
// the packet's source address at the packet's time.
func (im *Importer) readPcap(r io.Reader, e *emitter) error {
	c, err := newCapture(r)
	if err != nil {
		return err
	}
	var eth layers.Ethernet
	var sll layers.LinuxSLL
	var lo layers.Loopback
	var ip4 layers.IPv4
	var ip6 layers.IPv6
	var udp layers.UDP
	var payload gopacket.Payload
	parsers := map[gopacket.LayerType]*gopacket.DecodingLayerParser{}
	decoded := make([]gopacket.LayerType, 0, 8)
	for {
		p, err := c.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			e.st.drop("pcap_truncated")
			return nil
		}
		if err != nil {
			return err
		}
		e.st.Inputs++
		first := firstLayer(p.link, p.data)
		parser := parsers[first]
		if parser == nil {
			parser = gopacket.NewDecodingLayerParser(first, &eth, &sll, &lo, &ip4, &ip6, &udp, &payload)
			parser.IgnoreUnsupported = true
			parsers[first] = parser
		}
		if err := parser.DecodeLayers(p.data, &decoded); err != nil {
			e.st.drop("pcap_undecodable")
			continue
		}
		var exporter netip.Addr
		isUDP := false
		for _, l := range decoded {
			switch l {
			case layers.LayerTypeIPv4:
				exporter, _ = netip.AddrFromSlice(ip4.SrcIP.To4())
			case layers.LayerTypeIPv6:
				exporter, _ = netip.AddrFromSlice(ip6.SrcIP)
			case layers.LayerTypeUDP:
				isUDP = true
			}
		}
		if !isUDP || !exporter.IsValid() || len(udp.Payload) < 4 {
			e.st.drop("pcap_not_udp")
			continue
		}
		if err := im.decodeExport(exporter, p.ms, udp.Payload, e); err != nil {
			return err
		}
	}
}

// firstLayer is the layer a packet of the given link type starts with.
func firstLayer(link uint16, data []byte) gopacket.LayerType {
	switch layers.LinkType(link) {
	case layers.LinkTypeLinuxSLL:
		return layers.LayerTypeLinuxSLL
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return layers.LayerTypeLoopback
	case layers.LinkTypeRaw, 12, 228: // raw IP: the version nibble tells
		if len(data) > 0 && data[0]>>4 == 6 {
			return layers.LayerTypeIPv6
		}
		return layers.LayerTypeIPv4
	case 229:
		return layers.LayerTypeIPv6
	}
	return layers.LayerTypeEthernet
}

// decodeExport decodes one export datagram into the emitter's batch, handing it out when full.
func (im *Importer) decodeExport(exporter netip.Addr, ms int64, p []byte, e *emitter) error {
	dec := im.deps.NetFlow
	if binary.BigEndian.Uint32(p) == 5 { // sFlow v5 starts with a 32-bit version; NetFlow with 16
		dec = im.deps.SFlow
	}
	before := e.b.Len()
	err := dec.Decode(exporter, ms, p, e.b)
	var de *flow.DecodeError
	if errors.As(err, &de) {
		e.st.drop("decode_" + de.Reason)
	} else if err != nil {
		e.st.drop("decode_error")
	}
	for i := before; i < e.b.Len(); i++ {
		if e.b.SamplingRate[i] == 0 {
			e.b.SamplingRate[i] = im.cfg.SamplingRate
		}
	}
	if e.b.Len() >= e.size {
		return e.flush()
	}
	return nil
}
