package netflow

import "errors"

// fieldKind is what a template field means to a flow.Record; fieldSkip for everything else.
type fieldKind uint8

const (
	fieldSkip fieldKind = iota
	fieldBytes
	fieldPackets
	fieldProto
	fieldToS
	fieldTCPFlags
	fieldSrcPort
	fieldDstPort
	fieldSrcAddr // IPv4 or IPv6, by length
	fieldDstAddr
	fieldNextHop
	fieldSrcMask
	fieldDstMask
	fieldInIf
	fieldOutIf
	fieldSrcAS
	fieldDstAS
	fieldVLAN
	fieldDirection
	fieldFwdStatus
	fieldMPLSLabel
	fieldSamplerID
	fieldICMPTypeCode
	fieldICMPType
	fieldICMPCode
	fieldRate        // IE 34 samplingInterval, IE 50 samplerRandomInterval
	fieldPktInterval // IE 305 samplingPacketInterval
	fieldPktSpace    // IE 306 samplingPacketSpace
	fieldSampleSize  // IE 309 samplingSize
	fieldPopulation  // IE 310 samplingPopulation
	fieldSysInit     // IE 160 systemInitTimeMilliseconds
	fieldStartUptime // IE 22, ms since the exporter's boot
	fieldEndUptime   // IE 21
	fieldStartSec    // IE 150
	fieldEndSec      // IE 151
	fieldStartMs     // IE 152
	fieldEndMs       // IE 153
	fieldStartNTP    // IE 154, 156: NTP timestamps (µs or ns resolution)
	fieldEndNTP      // IE 155, 157
	fieldStartDelta  // IE 158 flowStartDeltaMicroseconds, before the export time
	fieldEndDelta    // IE 159
)

// varLen is the IPFIX field length that announces a variable-length field.
const varLen = 0xFFFF

// op is one compiled template field: where it is in a record and what it fills.
type op struct {
	off  uint16 // offset in the record; only for fixed-length templates
	size uint16 // field length, or varLen
	kind fieldKind
}

// template is a template compiled for decoding. Once stored it is never modified, except for
// updatedMs, which is written under the exporter's lock.
type template struct {
	raw       []byte // the template record as received, to spot unchanged refreshes
	updatedMs int64
	options   bool
	fixed     bool // no variable-length field: every record is recLen bytes
	recLen    int  // record length if fixed, else the least a record can take
	ops       []op // fixed: only fields that fill something; variable: every field
	// What the finishing step must look at, known at compile time.
	hasUptime  bool // start or end relative to the exporter's boot
	hasRate    bool // the records carry their sampling rate
	hasSampler bool // the records name their sampler
}

// fieldSpec is one field of a template as received.
type fieldSpec struct {
	ie         uint16 // information element (v9 field type), enterprise bit cleared
	length     uint16
	enterprise bool
	scope      bool // v9 options scope field: its type is not an IE
}

var (
	errNoFields     = errors.New("template has no fields")
	errZeroLength   = errors.New("template records would be empty")
	errRecordTooBig = errors.New("template records longer than a datagram")
)

// compile turns field specs into decoding operations. IEs with a preferred alternative in the
// same template (octetDeltaCount over octetTotalCount over postOctetDeltaCount, ...) compile to
// skips, so a record fills each Record field from one IE only.
func compile(fields []fieldSpec, options bool) (*template, error) {
	if len(fields) == 0 {
		return nil, errNoFields
	}
	var present [512]bool // IEs below 512 present in the template (non-enterprise, non-scope)
	for _, f := range fields {
		if !f.enterprise && !f.scope && f.ie < 512 {
			present[f.ie] = true
		}
	}
	t := &template{options: options, fixed: true}
	for _, f := range fields {
		if f.length == varLen {
			t.fixed = false
		}
	}
	off := 0
	for _, f := range fields {
		kind := fieldSkip
		if !f.enterprise && !f.scope {
			kind = kindOf(f.ie, &present)
			if f.length != varLen && !sizeFits(kind, int(f.length)) {
				kind = fieldSkip
			}
		}
		switch kind {
		case fieldStartUptime, fieldEndUptime:
			t.hasUptime = true
		case fieldRate, fieldPktInterval, fieldSampleSize:
			t.hasRate = true
		case fieldSamplerID:
			t.hasSampler = true
		}
		if kind != fieldSkip || !t.fixed {
			t.ops = append(t.ops, op{off: uint16(off), size: f.length, kind: kind})
		}
		if f.length == varLen {
			off++ // at least the length byte
		} else {
			off += int(f.length)
		}
		if off > 0xFFFF {
			return nil, errRecordTooBig
		}
	}
	if off == 0 {
		return nil, errZeroLength
	}
	t.recLen = off
	return t, nil
}

// kindOf maps an IE to the Record field it fills, given the other IEs of the template.
func kindOf(ie uint16, present *[512]bool) fieldKind {
	switch ie {
	case 1:
		return fieldBytes
	case 85: // octetTotalCount, when octetDeltaCount is absent
		if !present[1] {
			return fieldBytes
		}
	case 23: // postOctetDeltaCount (v9 OUT_BYTES)
		if !present[1] && !present[85] {
			return fieldBytes
		}
	case 2:
		return fieldPackets
	case 86:
		if !present[2] {
			return fieldPackets
		}
	case 24:
		if !present[2] && !present[86] {
			return fieldPackets
		}
	case 4:
		return fieldProto
	case 5:
		return fieldToS
	case 6:
		return fieldTCPFlags
	case 7:
		return fieldSrcPort
	case 11:
		return fieldDstPort
	case 8, 27:
		return fieldSrcAddr
	case 12, 28:
		return fieldDstAddr
	case 15, 62:
		return fieldNextHop
	case 18, 63: // BGP next hop, when the IP next hop is absent
		if !present[15] && !present[62] {
			return fieldNextHop
		}
	case 9, 29:
		return fieldSrcMask
	case 13, 30:
		return fieldDstMask
	case 10:
		return fieldInIf
	case 14:
		return fieldOutIf
	case 16:
		return fieldSrcAS
	case 17:
		return fieldDstAS
	case 58:
		return fieldVLAN
	case 243: // dot1qVlanId, when vlanId is absent
		if !present[58] {
			return fieldVLAN
		}
	case 61:
		return fieldDirection
	case 89:
		return fieldFwdStatus
	case 70:
		return fieldMPLSLabel
	case 48:
		return fieldSamplerID
	case 302: // selectorId, when samplerId is absent
		if !present[48] {
			return fieldSamplerID
		}
	case 32, 139:
		return fieldICMPTypeCode
	case 176, 178:
		return fieldICMPType
	case 177, 179:
		return fieldICMPCode
	case 34:
		return fieldRate
	case 50:
		if !present[34] {
			return fieldRate
		}
	case 305:
		return fieldPktInterval
	case 306:
		return fieldPktSpace
	case 309:
		return fieldSampleSize
	case 310:
		return fieldPopulation
	case 160:
		return fieldSysInit
	case 22:
		return fieldStartUptime
	case 21:
		return fieldEndUptime
	case 150:
		return fieldStartSec
	case 151:
		return fieldEndSec
	case 152:
		return fieldStartMs
	case 153:
		return fieldEndMs
	case 154, 156:
		return fieldStartNTP
	case 155, 157:
		return fieldEndNTP
	case 158:
		return fieldStartDelta
	case 159:
		return fieldEndDelta
	}
	return fieldSkip
}

// sizeFits tells whether a fixed field length makes sense for its kind; others are skipped.
func sizeFits(kind fieldKind, n int) bool {
	switch kind {
	case fieldSkip:
		return true
	case fieldSrcAddr, fieldDstAddr, fieldNextHop:
		return n == 4 || n == 16
	case fieldMPLSLabel:
		return n >= 3 && n <= 8
	case fieldStartNTP, fieldEndNTP:
		return n == 8
	default:
		return n >= 1 && n <= 8
	}
}
