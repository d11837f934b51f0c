package sflow

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"yocho/internal/flow"
)

// sFlow v5 structure formats (enterprise 0).
const (
	sampleFlow            = 1
	sampleCounters        = 2
	sampleFlowExpanded    = 3
	sampleCounterExpanded = 4

	recordRawHeader   = 1
	recordEthernet    = 2
	recordIPv4        = 3
	recordIPv6        = 4
	recordExtSwitch   = 1001
	recordExtRouter   = 1002
	recordExtGateway  = 1003
	counterGenericIf  = 1
	ifIndexInternal   = 0x3FFFFFFF
	ifFormatSingle    = 0
	ifFormatDiscarded = 1
	ifFormatMultiple  = 2
)

// IPFIX forwardingStatus (IE 89) values set from sFlow's output interface.
const (
	forwardingDropped  = 0x80
	forwardingConsumed = 0xC0
)

const maxRatesPerDatagram = 8

func be32(b []byte, off int) uint32 { return binary.BigEndian.Uint32(b[off:]) }

// datagramInfo is what a datagram's header says, kept until the state update at its end.
type datagramInfo struct {
	exporter netip.Addr
	subAgent uint32
	sequence uint32
	uptimeMs uint32
	rates    [maxRatesPerDatagram]uint32
	nRates   int
}

func (di *datagramInfo) addRate(r uint32) {
	for i := 0; i < di.nRates; i++ {
		if di.rates[i] == r {
			return
		}
	}
	if di.nRates < len(di.rates) {
		di.rates[di.nRates] = r
		di.nRates++
	}
}

// Decode appends one record per flow sample of the datagram to out, and keeps its counter
// samples in the counters table. On error, out holds the records of the samples before the fault.
func (d *Decoder) Decode(exporter netip.Addr, receivedMs int64, packet []byte, out *flow.Batch) error {
	d.m.datagrams.Inc()
	p := packet
	if len(p) < 8 {
		return d.decodeError(ReasonTruncated, fmt.Errorf("from %s: %w", exporter, errShort))
	}
	if v := be32(p, 0); v != 5 {
		return d.decodeError(ReasonBadVersion, fmt.Errorf("from %s: version %d", exporter, v))
	}
	var agent netip.Addr
	off := 8
	switch t := be32(p, 4); t {
	case 0:
	case 1:
		if len(p) < off+4 {
			return d.decodeError(ReasonTruncated, fmt.Errorf("from %s: agent address: %w", exporter, errShort))
		}
		agent = netip.AddrFrom4([4]byte(p[off : off+4]))
		off += 4
	case 2:
		if len(p) < off+16 {
			return d.decodeError(ReasonTruncated, fmt.Errorf("from %s: agent address: %w", exporter, errShort))
		}
		agent = netip.AddrFrom16([16]byte(p[off : off+16]))
		off += 16
	default:
		return d.decodeError(ReasonBadAgentType, fmt.Errorf("from %s: agent address type %d", exporter, t))
	}
	if len(p) < off+16 {
		return d.decodeError(ReasonTruncated, fmt.Errorf("from %s: datagram header: %w", exporter, errShort))
	}
	var di datagramInfo
	di.exporter = exporter
	if !d.cfg.ExporterFromSource && agent.IsValid() && !agent.IsUnspecified() {
		di.exporter = agent
	}
	di.subAgent = be32(p, off)
	di.sequence = be32(p, off+4)
	di.uptimeMs = be32(p, off+8)
	n := be32(p, off+12)
	off += 16
	p = p[off:]
	st := d.state(di.exporter, receivedMs)
	var err error
	var nFlow, nCounter, nOther int
	if uint64(n)*8 > uint64(len(p)) {
		err = d.decodeError(ReasonBadCount, fmt.Errorf("agent %s: %d samples in %d bytes", di.exporter, n, len(p)))
		n = 0
	}
	for i := uint32(0); i < n; i++ {
		if len(p) < 8 {
			err = d.decodeError(ReasonTruncated, fmt.Errorf("agent %s: sample %d of %d: %w", di.exporter, i+1, n, errShort))
			break
		}
		format, length := be32(p, 0), be32(p, 4)
		if uint64(length) > uint64(len(p)-8) {
			err = d.decodeError(ReasonTruncated, fmt.Errorf("agent %s: sample %d of %d: length %d, %d bytes left", di.exporter, i+1, n, length, len(p)-8))
			break
		}
		body := p[8 : 8+length]
		p = p[8+length:]
		var reason string
		switch format {
		case sampleFlow, sampleFlowExpanded:
			nFlow++
			reason, err = d.flowSample(&di, receivedMs, format == sampleFlowExpanded, body, out)
		case sampleCounters, sampleCounterExpanded:
			nCounter++
			reason, err = d.counterSample(st, receivedMs, format == sampleCounterExpanded, body)
		default:
			nOther++
		}
		if err != nil {
			err = d.decodeError(reason, fmt.Errorf("agent %s: sample %d of %d: %w", di.exporter, i+1, n, err))
			break
		}
	}
	// Counted once per datagram: an atomic add per sample shows in profiles.
	d.m.flowSamples.Add(float64(nFlow))
	if nCounter > 0 {
		d.m.counterSamples.Add(float64(nCounter))
	}
	if nOther > 0 {
		d.m.otherSamples.Add(float64(nOther))
	}
	d.updateStateOf(st, &di, receivedMs)
	return err
}

// flowSample decodes a flow sample (compact or expanded) into one record appended to out.
// On error it returns the reason and appends nothing.
func (d *Decoder) flowSample(di *datagramInfo, receivedMs int64, expanded bool, b []byte, out *flow.Batch) (string, error) {
	var srcType, srcIndex, rate, inFmt, inVal, outFmt, outVal, nrec uint32
	var off int
	if expanded {
		if len(b) < 44 {
			return ReasonBadLength, fmt.Errorf("expanded flow sample of %d bytes", len(b))
		}
		srcType, srcIndex, rate = be32(b, 4), be32(b, 8), be32(b, 12)
		inFmt, inVal, outFmt, outVal = be32(b, 24), be32(b, 28), be32(b, 32), be32(b, 36)
		nrec = be32(b, 40)
		off = 44
	} else {
		if len(b) < 32 {
			return ReasonBadLength, fmt.Errorf("flow sample of %d bytes", len(b))
		}
		src := be32(b, 4)
		srcType, srcIndex, rate = src>>24, src&0xFFFFFF, be32(b, 8)
		in, o := be32(b, 20), be32(b, 24)
		inFmt, inVal, outFmt, outVal = in>>30, in&0x3FFFFFFF, o>>30, o&0x3FFFFFFF
		nrec = be32(b, 28)
		off = 32
	}
	b = b[off:]
	if uint64(nrec)*8 > uint64(len(b)) {
		return ReasonBadCount, fmt.Errorf("%d flow records in %d bytes", nrec, len(b))
	}
	r := flow.Record{
		ReceivedMs:   receivedMs,
		StartMs:      receivedMs,
		EndMs:        receivedMs,
		Exporter:     di.exporter,
		ObsDomain:    di.subAgent,
		SamplerID:    srcIndex,
		SamplingRate: rate,
		Packets:      1,
	}
	di.addRate(rate)
	if inFmt == ifFormatSingle && inVal != ifIndexInternal {
		r.InIf = inVal
	}
	switch outFmt {
	case ifFormatSingle:
		if outVal == ifIndexInternal {
			r.ForwardingStatus = forwardingConsumed
		} else {
			r.OutIf = outVal
		}
	case ifFormatDiscarded:
		r.ForwardingStatus = forwardingDropped
	}
	if srcType == 0 && inFmt == ifFormatSingle && outFmt == ifFormatSingle && inVal != outVal {
		switch srcIndex {
		case inVal:
			r.Direction = flow.DirectionIngress
		case outVal:
			r.Direction = flow.DirectionEgress
		}
	}

	var s sampleScratch
	for i := uint32(0); i < nrec; i++ {
		if len(b) < 8 {
			return ReasonTruncated, fmt.Errorf("flow record %d of %d: %w", i+1, nrec, errShort)
		}
		format, length := be32(b, 0), be32(b, 4)
		if uint64(length) > uint64(len(b)-8) {
			return ReasonTruncated, fmt.Errorf("flow record %d of %d: length %d, %d bytes left", i+1, nrec, length, len(b)-8)
		}
		body := b[8 : 8+length]
		b = b[8+length:]
		if reason, err := d.flowRecord(format, body, &r, &s); err != nil {
			return reason, fmt.Errorf("flow record %d of %d (format %d): %w", i+1, nrec, format&0xFFF, err)
		}
	}
	s.finish(&r)
	out.Append(&r)
	return "", nil
}

// sampleScratch holds what records of one sample say before their precedence is settled.
type sampleScratch struct {
	haveHeader bool
	ipBytes    uint64 // from a sampled IPv4/IPv6 record
	ethBytes   uint64 // from a sampled Ethernet record
	hdrVLAN    uint16 // outer 802.1Q tag of the sampled frame
	swVLAN     uint16 // from the extended switch record
	routerNH   netip.Addr
	gatewayNH  netip.Addr
}

func (s *sampleScratch) finish(r *flow.Record) {
	if !s.haveHeader {
		if s.ipBytes != 0 {
			r.Bytes = s.ipBytes
		} else {
			r.Bytes = s.ethBytes
		}
	}
	r.VLAN = s.swVLAN
	if r.VLAN == 0 {
		r.VLAN = s.hdrVLAN
	}
	r.NextHop = s.routerNH
	if !r.NextHop.IsValid() || r.NextHop.IsUnspecified() {
		if s.gatewayNH.IsValid() && !s.gatewayNH.IsUnspecified() {
			r.NextHop = s.gatewayNH
		}
	}
}

// readAddr reads an sFlow address (type, then 4 or 16 bytes) at b[off:], returning it and the
// offset after it.
func readAddr(b []byte, off int) (netip.Addr, int, error) {
	if len(b) < off+4 {
		return netip.Addr{}, 0, errShort
	}
	switch t := be32(b, off); t {
	case 0:
		return netip.Addr{}, off + 4, nil
	case 1:
		if len(b) < off+8 {
			return netip.Addr{}, 0, errShort
		}
		return netip.AddrFrom4([4]byte(b[off+4 : off+8])), off + 8, nil
	case 2:
		if len(b) < off+20 {
			return netip.Addr{}, 0, errShort
		}
		return netip.AddrFrom16([16]byte(b[off+4 : off+20])), off + 20, nil
	default:
		return netip.Addr{}, 0, fmt.Errorf("address type %d", t)
	}
}

// flowRecord decodes one flow record into r. Unknown formats are skipped.
func (d *Decoder) flowRecord(format uint32, b []byte, r *flow.Record, s *sampleScratch) (string, error) {
	switch format {
	case recordRawHeader:
		if len(b) < 16 {
			return ReasonBadLength, fmt.Errorf("raw header record of %d bytes", len(b))
		}
		proto, frameLen, hlen := be32(b, 0), be32(b, 4), be32(b, 12)
		if uint64(hlen) > uint64(len(b)-16) {
			return ReasonBadLength, fmt.Errorf("sampled header of %d bytes in a record of %d", hlen, len(b))
		}
		// A later header replaces what an earlier sampled IPv4/IPv6 record said.
		clearPacketFields(r)
		s.hdrVLAN = 0
		s.haveHeader = true
		r.Bytes = uint64(frameLen)
		s.hdrVLAN = parseHeader(proto, b[16:16+hlen], r)
	case recordEthernet:
		if len(b) < 4 {
			return ReasonBadLength, fmt.Errorf("ethernet record of %d bytes", len(b))
		}
		s.ethBytes = uint64(be32(b, 0))
	case recordIPv4, recordIPv6:
		size := 32
		if format == recordIPv6 {
			size = 56
		}
		if len(b) < size {
			return ReasonBadLength, fmt.Errorf("sampled IP record of %d bytes", len(b))
		}
		s.ipBytes = uint64(be32(b, 0))
		if s.haveHeader {
			return "", nil // the sampled header is the better source
		}
		r.Proto = uint8(be32(b, 4))
		off := 8
		if format == recordIPv4 {
			r.SrcAddr = netip.AddrFrom4([4]byte(b[8:12]))
			r.DstAddr = netip.AddrFrom4([4]byte(b[12:16]))
			off = 16
		} else {
			r.SrcAddr = netip.AddrFrom16([16]byte(b[8:24]))
			r.DstAddr = netip.AddrFrom16([16]byte(b[24:40]))
			off = 40
		}
		sp, dp := be32(b, off), be32(b, off+4)
		switch r.Proto {
		case protoICMP, protoICMPv6:
			// sFlow agents put the ICMP type and code in the port fields.
			r.ICMPType, r.ICMPCode = uint8(sp), uint8(dp)
		default:
			r.SrcPort, r.DstPort = uint16(sp), uint16(dp)
		}
		r.TCPFlags = uint8(be32(b, off+8))
		r.ToS = uint8(be32(b, off+12))
	case recordExtSwitch:
		if len(b) < 16 {
			return ReasonBadLength, fmt.Errorf("extended switch record of %d bytes", len(b))
		}
		if v := be32(b, 0); v > 0 && v < 4096 {
			s.swVLAN = uint16(v)
		} else if v := be32(b, 8); v > 0 && v < 4096 {
			s.swVLAN = uint16(v)
		}
	case recordExtRouter:
		nh, off, err := readAddr(b, 0)
		if err != nil {
			return ReasonBadLength, fmt.Errorf("extended router record: %w", err)
		}
		if len(b) < off+8 {
			return ReasonBadLength, fmt.Errorf("extended router record of %d bytes", len(b))
		}
		s.routerNH = nh
		r.SrcMask, r.DstMask = maskLen(be32(b, off)), maskLen(be32(b, off+4))
	case recordExtGateway:
		return d.extGateway(b, r, s)
	default:
		d.m.otherRecords.Inc()
	}
	return "", nil
}

func maskLen(v uint32) uint8 {
	if v > 128 {
		return 0
	}
	return uint8(v)
}

// extGateway decodes the extended gateway record: BGP next hop, source AS and destination path.
func (d *Decoder) extGateway(b []byte, r *flow.Record, s *sampleScratch) (string, error) {
	nh, off, err := readAddr(b, 0)
	if err != nil {
		return ReasonBadLength, fmt.Errorf("extended gateway record: %w", err)
	}
	if len(b) < off+16 {
		return ReasonBadLength, fmt.Errorf("extended gateway record of %d bytes", len(b))
	}
	s.gatewayNH = nh
	routerAS, srcAS, segments := be32(b, off), be32(b, off+4), be32(b, off+12)
	off += 16
	if uint64(segments)*8 > uint64(len(b)-off) {
		return ReasonBadCount, fmt.Errorf("%d AS path segments in %d bytes", segments, len(b)-off)
	}
	dstAS := routerAS
	for i := uint32(0); i < segments; i++ {
		if len(b) < off+8 {
			return ReasonTruncated, fmt.Errorf("AS path segment %d: %w", i+1, errShort)
		}
		count := be32(b, off+4)
		off += 8
		if uint64(count)*4 > uint64(len(b)-off) {
			return ReasonBadCount, fmt.Errorf("%d ASes in %d bytes", count, len(b)-off)
		}
		if count > 0 {
			dstAS = be32(b, off+int(count-1)*4)
		}
		off += int(count) * 4
	}
	r.SrcAS, r.DstAS = srcAS, dstAS
	return "", nil
}
