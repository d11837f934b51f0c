package netflow

import (
	"bytes"
	"encoding/binary"
	"slices"
)

// Set ids of NetFlow v9 (flowset ids) and IPFIX.
const (
	v9TemplateSet        = 0
	v9OptionsTemplateSet = 1
	ipfixTemplateSet     = 2
	ipfixOptionsSet      = 3
	firstDataSet         = 256
)

// frame checks the framing of the sets in p[off:] and returns the offset where sound framing
// ends. A set shorter than its header or longer than the datagram is a fault; a tail shorter
// than a set header is padding.
func (c *decodeCtx) frame(p []byte, off int) int {
	for len(p)-off >= 4 {
		id := binary.BigEndian.Uint16(p[off:])
		length := int(binary.BigEndian.Uint16(p[off+2:]))
		if length < 4 {
			if id == 0 && length == 0 && c.hdr.version == 9 && allZero(p[off:]) {
				return off // v9 padding after the last flowset
			}
			c.fault(ReasonBadSet, 1, "set %d at offset %d: length %d is shorter than its header", id, off, length)
			return off
		}
		if length > len(p)-off {
			c.fault(ReasonBadLength, 1, "set %d at offset %d: length %d runs past the datagram (%d bytes)", id, off, length, len(p))
			return off
		}
		off += length
	}
	return off
}

// nextSet returns the set at p[off:end], already framed, and the offset after it.
func nextSet(p []byte, off int) (id uint16, body []byte, next int) {
	id = binary.BigEndian.Uint16(p[off:])
	length := int(binary.BigEndian.Uint16(p[off+2:]))
	return id, p[off+4 : off+length], off + length
}

// decodeSets runs the three passes over a datagram's framed sets p[first:end]: templates first,
// then options data (so the rates they announce apply to the flows of the same datagram), then
// flow data, holding the sets whose template is unknown.
func (c *decodeCtx) decodeSets(dom *domain, p []byte, first, end int) {
	for off := first; off < end; {
		id, body, next := nextSet(p, off)
		off = next
		switch {
		case c.hdr.version == 9 && id == v9TemplateSet:
			c.v9Templates(dom, body)
		case c.hdr.version == 9 && id == v9OptionsTemplateSet:
			c.v9OptionsTemplates(dom, body)
		case c.hdr.version == 10 && id == ipfixTemplateSet:
			c.ipfixTemplates(dom, body, false)
		case c.hdr.version == 10 && id == ipfixOptionsSet:
			c.ipfixTemplates(dom, body, true)
		}
	}
	if c.learned && len(c.ex.pending) > 0 {
		saved := c.dataRecs // held sets were counted by their own datagram's sequence number
		c.replayPending()
		c.dataRecs = saved
	}
	for pass := range 2 {
		options := pass == 0
		for off := first; off < end; {
			id, body, next := nextSet(p, off)
			off = next
			if id < firstDataSet {
				continue
			}
			t := dom.template(c.ex, id, c.d.timeoutMs)
			switch {
			case t == nil && !options:
				c.hold(id, body)
			case t != nil && t.options == options:
				c.decodeDataSet(t, dom, id, body)
			}
		}
	}
}

// refresh renews an unchanged template; false if the template is new or changed.
func (c *decodeCtx) refresh(dom *domain, id uint16, raw []byte, options bool) bool {
	t := dom.templates[id]
	if t == nil || t.options != options || !bytes.Equal(t.raw, raw) {
		return false
	}
	t.updatedMs = c.ex.nowMs
	c.d.metrics.templateSeen(options, outcomeRefresh)
	return true
}

// store compiles and keeps a new or changed template.
func (c *decodeCtx) store(dom *domain, id uint16, raw []byte, fields []fieldSpec, options bool) {
	t, err := compile(fields, options)
	if err != nil {
		c.fault(ReasonBadTemplate, 1, "domain %d template %d: %v", dom.id, id, err)
		return
	}
	if dom.templates == nil {
		dom.templates = make(map[uint16]*template)
	}
	if _, exists := dom.templates[id]; !exists {
		if c.ex.templates >= c.d.cfg.MaxTemplates {
			c.ex.sweepTemplates(c.d.timeoutMs)
		}
		if c.ex.templates >= c.d.cfg.MaxTemplates {
			c.fault(ReasonTooManyTemplates, 1, "domain %d template %d: %d templates already", dom.id, id, c.ex.templates)
			return
		}
		c.ex.templates++
	}
	t.raw = slices.Clone(raw)
	t.updatedMs = c.ex.nowMs
	dom.templates[id] = t
	c.learned = true
	c.d.metrics.templateSeen(options, outcomeNew)
}

// withdraw forgets a template (IPFIX), or all of a kind when id is the set id itself.
func (c *decodeCtx) withdraw(dom *domain, id uint16, options bool) {
	for tid, t := range dom.templates {
		if (tid == id || id == ipfixTemplateSet || id == ipfixOptionsSet) && t.options == options {
			delete(dom.templates, tid)
			c.ex.templates--
			c.d.metrics.templateSeen(options, outcomeWithdrawn)
		}
	}
}

// sweepTemplates drops every expired template of the exporter.
func (ex *exporter) sweepTemplates(timeoutMs int64) {
	for _, dom := range ex.domains {
		for id, t := range dom.templates {
			if ex.nowMs-t.updatedMs > timeoutMs {
				delete(dom.templates, id)
				ex.templates--
			}
		}
	}
}

// v9Templates reads a NetFlow v9 template flowset: records of (id, field count, fields).
func (c *decodeCtx) v9Templates(dom *domain, b []byte) {
	for len(b) >= 4 {
		id := binary.BigEndian.Uint16(b)
		count := int(binary.BigEndian.Uint16(b[2:]))
		if id == 0 && count == 0 {
			return // padding
		}
		need := 4 + 4*count
		if need > len(b) {
			c.fault(ReasonBadLength, 1, "v9 template %d: %d fields run past the flowset", id, count)
			return
		}
		raw := b[:need]
		b = b[need:]
		if c.checkTemplate(dom, id, count) && !c.refresh(dom, id, raw, false) {
			fields := make([]fieldSpec, count)
			for i := range fields {
				fields[i] = v9Field(raw[4+4*i:], false)
			}
			c.storeV9(dom, id, raw, fields, false)
		}
	}
}

// v9OptionsTemplates reads a v9 options template flowset: (id, scope bytes, option bytes, fields).
// Scope fields name a scope (system, interface, line card...), not an IE: they are skipped.
func (c *decodeCtx) v9OptionsTemplates(dom *domain, b []byte) {
	for len(b) >= 6 {
		id := binary.BigEndian.Uint16(b)
		scopeLen := int(binary.BigEndian.Uint16(b[2:]))
		optLen := int(binary.BigEndian.Uint16(b[4:]))
		if id == 0 {
			return // padding
		}
		if scopeLen%4 != 0 || optLen%4 != 0 {
			c.fault(ReasonBadTemplate, 1, "v9 options template %d: scope length %d, option length %d", id, scopeLen, optLen)
			return
		}
		need := 6 + scopeLen + optLen
		if need > len(b) {
			c.fault(ReasonBadLength, 1, "v9 options template %d: fields run past the flowset", id)
			return
		}
		raw := b[:need]
		b = b[need:]
		count := (scopeLen + optLen) / 4
		if c.checkTemplate(dom, id, count) && !c.refresh(dom, id, raw, true) {
			fields := make([]fieldSpec, count)
			for i := range fields {
				fields[i] = v9Field(raw[6+4*i:], i < scopeLen/4)
			}
			c.storeV9(dom, id, raw, fields, true)
		}
	}
}

func v9Field(b []byte, scope bool) fieldSpec {
	ie := binary.BigEndian.Uint16(b)
	return fieldSpec{
		ie:         ie,
		length:     binary.BigEndian.Uint16(b[2:]),
		enterprise: ie >= 0x8000, // vendor-specific field types
		scope:      scope,
	}
}

// storeV9 refuses the variable length, which v9 does not know, then stores.
func (c *decodeCtx) storeV9(dom *domain, id uint16, raw []byte, fields []fieldSpec, options bool) {
	for _, f := range fields {
		if f.length == varLen {
			c.fault(ReasonBadTemplate, 1, "v9 template %d: field %d has length %d", id, f.ie, f.length)
			return
		}
	}
	c.store(dom, id, raw, fields, options)
}

// checkTemplate validates a template's id and field count before it is parsed.
func (c *decodeCtx) checkTemplate(dom *domain, id uint16, count int) bool {
	switch {
	case id < firstDataSet:
		c.fault(ReasonBadTemplate, 1, "domain %d: template id %d is reserved", dom.id, id)
	case count == 0:
		c.fault(ReasonBadTemplate, 1, "domain %d template %d: no fields", dom.id, id)
	case count > c.d.cfg.MaxFields:
		c.fault(ReasonBadTemplate, 1, "domain %d template %d: %d fields, more than %d", dom.id, id, count, c.d.cfg.MaxFields)
	default:
		return true
	}
	return false
}

// ipfixTemplates reads an IPFIX template set or options template set, with withdrawals (a
// record with no fields) and enterprise fields (skipped).
func (c *decodeCtx) ipfixTemplates(dom *domain, b []byte, options bool) {
	for len(b) >= 4 {
		id := binary.BigEndian.Uint16(b)
		count := int(binary.BigEndian.Uint16(b[2:]))
		if count == 0 {
			if id == 0 {
				return // padding
			}
			c.withdraw(dom, id, options)
			b = b[4:]
			continue
		}
		hdrLen, scopeCount := 4, 0
		if options {
			if len(b) < 6 {
				c.fault(ReasonBadLength, 1, "options template %d: header runs past the set", id)
				return
			}
			hdrLen, scopeCount = 6, int(binary.BigEndian.Uint16(b[4:]))
			if scopeCount > count {
				c.fault(ReasonBadTemplate, 1, "options template %d: %d scope fields of %d", id, scopeCount, count)
				return
			}
		}
		// Walk the field specifiers once to find the record's end; they are at most len(b)/4.
		n := hdrLen
		for range count {
			if n+4 > len(b) {
				c.fault(ReasonBadLength, 1, "template %d: %d fields run past the set", id, count)
				return
			}
			ie := binary.BigEndian.Uint16(b[n:])
			n += 4
			if ie&0x8000 != 0 {
				n += 4
			}
		}
		if n > len(b) {
			c.fault(ReasonBadLength, 1, "template %d: enterprise number runs past the set", id)
			return
		}
		raw := b[:n]
		b = b[n:]
		if !c.checkTemplate(dom, id, count) || c.refresh(dom, id, raw, options) {
			continue
		}
		fields := make([]fieldSpec, count)
		for i, off := 0, hdrLen; i < count; i++ {
			ie := binary.BigEndian.Uint16(raw[off:])
			fields[i] = fieldSpec{ie: ie & 0x7FFF, length: binary.BigEndian.Uint16(raw[off+2:]), enterprise: ie&0x8000 != 0}
			off += 4
			if fields[i].enterprise {
				off += 4
			}
		}
		c.store(dom, id, raw, fields, options)
	}
}
