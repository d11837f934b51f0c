package e2e

import (
	"encoding/binary"
	"net/netip"
)

// ipfixExporter builds IPFIX messages (RFC 7011) of one observation domain: a template with the
// usual flow fields, and data messages of a fixed number of records. Only for tests.
type ipfixExporter struct {
	domain   uint32
	sequence uint32 // data records sent before the next message, as IPFIX counts
}

const ipfixTemplateID = 256

// ipfixFields is the template: IE number and length.
var ipfixFields = [][2]uint16{
	{8, 4},   // sourceIPv4Address
	{12, 4},  // destinationIPv4Address
	{7, 2},   // sourceTransportPort
	{11, 2},  // destinationTransportPort
	{4, 1},   // protocolIdentifier
	{6, 2},   // tcpControlBits
	{1, 8},   // octetDeltaCount
	{2, 8},   // packetDeltaCount
	{152, 8}, // flowStartMilliseconds
	{153, 8}, // flowEndMilliseconds
	{10, 4},  // ingressInterface
	{14, 4},  // egressInterface
}

// ipfixRecordLen is the length of one data record of the template.
var ipfixRecordLen = func() int {
	n := 0
	for _, f := range ipfixFields {
		n += int(f[1])
	}
	return n
}()

// ipfixFlow is one record's values.
type ipfixFlow struct {
	src, dst         netip.Addr // IPv4
	srcPort, dstPort uint16
	proto            uint8
	bytes, packets   uint64
	startMs, endMs   uint64
}

func (e *ipfixExporter) header(p []byte, exportSec uint32) []byte {
	p = binary.BigEndian.AppendUint16(p, 10)
	p = binary.BigEndian.AppendUint16(p, 0) // length, set by finish
	p = binary.BigEndian.AppendUint32(p, exportSec)
	p = binary.BigEndian.AppendUint32(p, e.sequence)
	return binary.BigEndian.AppendUint32(p, e.domain)
}

func finish(p []byte) []byte {
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	return p
}

// template returns a message with the template set.
func (e *ipfixExporter) template(exportSec uint32) []byte {
	p := e.header(nil, exportSec)
	p = binary.BigEndian.AppendUint16(p, 2) // template set
	p = binary.BigEndian.AppendUint16(p, uint16(4+4+4*len(ipfixFields)))
	p = binary.BigEndian.AppendUint16(p, ipfixTemplateID)
	p = binary.BigEndian.AppendUint16(p, uint16(len(ipfixFields)))
	for _, f := range ipfixFields {
		p = binary.BigEndian.AppendUint16(p, f[0])
		p = binary.BigEndian.AppendUint16(p, f[1])
	}
	return finish(p)
}

// data returns a message with one data set holding flows, and advances the sequence number.
func (e *ipfixExporter) data(exportSec uint32, flows []ipfixFlow) []byte {
	p := e.header(nil, exportSec)
	p = binary.BigEndian.AppendUint16(p, ipfixTemplateID)
	p = binary.BigEndian.AppendUint16(p, uint16(4+len(flows)*ipfixRecordLen))
	for _, f := range flows {
		p = append(p, f.src.AsSlice()...)
		p = append(p, f.dst.AsSlice()...)
		p = binary.BigEndian.AppendUint16(p, f.srcPort)
		p = binary.BigEndian.AppendUint16(p, f.dstPort)
		p = append(p, f.proto)
		p = binary.BigEndian.AppendUint16(p, 0x10)
		p = binary.BigEndian.AppendUint64(p, f.bytes)
		p = binary.BigEndian.AppendUint64(p, f.packets)
		p = binary.BigEndian.AppendUint64(p, f.startMs)
		p = binary.BigEndian.AppendUint64(p, f.endMs)
		p = binary.BigEndian.AppendUint32(p, 1)
		p = binary.BigEndian.AppendUint32(p, 2)
	}
	e.sequence += uint32(len(flows))
	return finish(p)
}

// setSequence rewrites the sequence number of a data message built earlier, so that a sender can
// resend prepared messages as new ones: it returns the number the next message must carry.
func setSequence(msg []byte, seq uint32, records int) uint32 {
	binary.BigEndian.PutUint32(msg[8:], seq)
	return seq + uint32(records)
}
