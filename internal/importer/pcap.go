package importer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"yocho/internal/flow"
)

// packetSource reads packets from a pcap or a pcapng file.
type packetSource interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

type ngSource struct{ *pcapgo.NgReader }

func (n ngSource) LinkType() layers.LinkType { return n.NgReader.LinkType() }

// readPcap reads a capture of flow exports: every UDP datagram is given to the NetFlow/IPFIX
// decoder, or the sFlow one (told apart by the version field), as if it came from the packet's
// source address at the packet's time.
func (im *Importer) readPcap(r io.Reader, e *emitter) error {
	br := bufio.NewReader(r)
	magic, err := br.Peek(4)
	if err != nil {
		return errors.New("not a pcap file: too short")
	}
	var src packetSource
	if binary.BigEndian.Uint32(magic) == 0x0a0d0d0a {
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return err
		}
		src = ngSource{ng}
	} else {
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return err
		}
		src = pr
	}
	var eth layers.Ethernet
	var sll layers.LinuxSLL
	var lo layers.Loopback
	var ip4 layers.IPv4
	var ip6 layers.IPv6
	var udp layers.UDP
	var payload gopacket.Payload
	first := layers.LayerTypeEthernet
	switch src.LinkType() {
	case layers.LinkTypeLinuxSLL:
		first = layers.LayerTypeLinuxSLL
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		first = layers.LayerTypeLoopback
	case layers.LinkTypeRaw, layers.LinkType(12), layers.LinkType(228):
		first = layers.LayerTypeIPv4
	case layers.LinkType(229):
		first = layers.LayerTypeIPv6
	}
	parser := gopacket.NewDecodingLayerParser(first, &eth, &sll, &lo, &ip4, &ip6, &udp, &payload)
	parser.IgnoreUnsupported = true
	decoded := make([]gopacket.LayerType, 0, 8)
	for {
		data, ci, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				e.st.drop("pcap_truncated")
				return nil
			}
			return err
		}
		e.st.Inputs++
		if first == layers.LayerTypeIPv4 && len(data) > 0 && data[0]>>4 == 6 {
			parser = gopacket.NewDecodingLayerParser(layers.LayerTypeIPv6, &eth, &sll, &lo, &ip4, &ip6, &udp, &payload)
			parser.IgnoreUnsupported = true
			first = layers.LayerTypeIPv6
		}
		if err := parser.DecodeLayers(data, &decoded); err != nil {
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
		if err := im.decodeExport(exporter, ci.Timestamp.UnixMilli(), udp.Payload, e); err != nil {
			return err
		}
	}
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
