package netflow

import (
	"net/netip"
	"slices"
	"sync"
)

// exporter is what the decoder keeps of one exporter. Every field is guarded by mu, which is held
// for the whole decoding of a datagram.
type exporter struct {
	mu           sync.Mutex
	addr         netip.Addr
	nowMs        int64              // latest receive time seen; drives expiry
	domains      map[uint64]*domain // by domainKey(version, id)
	templates    int                // templates kept, all domains together
	pending      []pendingSet       // oldest first
	pendingBytes int
	pendingLost  uint64
	rates        []uint32 // distinct sampling rates seen, ascending, at most maxRates
}

const (
	maxRates    = 64  // distinct sampling rates remembered per exporter
	maxDomains  = 256 // observation domains per exporter
	maxSamplers = 256 // sampler ids per domain
)

func newExporter(addr netip.Addr, nowMs int64) *exporter {
	return &exporter{addr: addr, nowMs: nowMs, domains: make(map[uint64]*domain)}
}

func domainKey(version uint16, id uint32) uint64 { return uint64(version)<<32 | uint64(id) }

// domain returns the state of one observation domain (v9 source id, v5 engine), creating it;
// nil when the exporter already has maxDomains domains that all hold templates.
func (ex *exporter) domain(version uint16, id uint32) *domain {
	k := domainKey(version, id)
	if dom := ex.domains[k]; dom != nil {
		return dom
	}
	if len(ex.domains) >= maxDomains {
		for dk, dom := range ex.domains {
			if len(dom.templates) == 0 && len(dom.samplers) == 0 {
				delete(ex.domains, dk)
			}
		}
		if len(ex.domains) >= maxDomains {
			return nil
		}
	}
	dom := &domain{id: id, version: version}
	ex.domains[k] = dom
	return dom
}

// addRate remembers a sampling rate for ExporterState.
func (ex *exporter) addRate(rate uint32) {
	i, found := slices.BinarySearch(ex.rates, rate)
	if found || len(ex.rates) >= maxRates {
		return
	}
	ex.rates = slices.Insert(ex.rates, i, rate)
}

// domain is one observation domain of one exporter: its templates, sampling rates and sequence.
type domain struct {
	id        uint32
	version   uint16
	templates map[uint16]*template
	samplers  map[uint64]uint32 // sampler id (or anySampler) → sampling rate
	sysInitMs int64             // IPFIX systemInitTimeMilliseconds from options data; 0 = unknown
	seq       sequence
}

// anySampler keys the rate of options data that names no sampler.
const anySampler = uint64(1) << 63

// template returns the usable template id, dropping it if it has expired.
func (dom *domain) template(ex *exporter, id uint16, timeoutMs int64) *template {
	t := dom.templates[id]
	if t == nil {
		return nil
	}
	if ex.nowMs-t.updatedMs > timeoutMs {
		delete(dom.templates, id)
		ex.templates--
		return nil
	}
	return t
}

func (dom *domain) liveTemplates(nowMs, timeoutMs int64) int {
	n := 0
	for _, t := range dom.templates {
		if nowMs-t.updatedMs <= timeoutMs {
			n++
		}
	}
	return n
}

// setRate records the rate announced for a sampler (anySampler when the options name none).
func (dom *domain) setRate(sampler uint64, rate uint32) {
	if dom.samplers == nil {
		dom.samplers = make(map[uint64]uint32)
	}
	if _, ok := dom.samplers[sampler]; !ok && len(dom.samplers) >= maxSamplers {
		return
	}
	dom.samplers[sampler] = rate
}

// fallbackRate is the rate of records that carry no rate and whose sampler is unknown: the rate
// announced without a sampler id, else the only rate announced, else 0 (unknown).
func (dom *domain) fallbackRate() uint32 {
	if len(dom.samplers) == 0 {
		return 0
	}
	if r, ok := dom.samplers[anySampler]; ok {
		return r
	}
	if len(dom.samplers) == 1 {
		for _, r := range dom.samplers {
			return r
		}
	}
	return 0
}

// sequence estimates the export loss of one domain from its sequence numbers. A gap counts as
// loss; a number a little behind the expected one is a late datagram, which gives back what its
// gap had counted; a jump beyond the window either way is a restart and only resynchronises.
type sequence struct {
	next  uint32
	known bool
	lost  uint64
}

// observe accounts for a datagram numbered seq that carries count units (flows, datagrams or
// records). window is the largest gap still believed to be loss.
func (s *sequence) observe(seq, count, window uint32) {
	if !s.known {
		s.known, s.next = true, seq+count
		return
	}
	diff := int64(int32(seq - s.next))
	switch {
	case diff == 0:
	case diff > 0 && diff <= int64(window):
		s.lost += uint64(diff)
	case diff < 0 && -diff <= int64(window):
		// A late datagram: its gap was counted as lost when the next one came.
		s.lost -= min(s.lost, uint64(count))
		return
	}
	s.next = seq + count
}

// Sequence windows: gaps larger than these are taken for exporter restarts, not loss.
const (
	windowRecords   = 1 << 20 // v5 flows, IPFIX data records
	windowDatagrams = 1 << 14 // v9 datagrams
)

// pendingSet is a data set held until its template arrives.
type pendingSet struct {
	hdr        header
	receivedMs int64
	setID      uint16
	data       []byte // a copy: the datagram's buffer belongs to the caller
}

// hold keeps a copy of a data set whose template is unknown, pushing out the oldest held sets
// when the exporter's bounds are reached.
func (c *decodeCtx) hold(setID uint16, data []byte) {
	ex, cfg := c.ex, &c.d.cfg
	if len(data) > cfg.PendingMaxBytes {
		ex.pendingLost++
		c.d.metrics.drop(ReasonPendingOverflow, 1)
		return
	}
	drop := 0
	for len(ex.pending)-drop >= cfg.PendingMax || (len(ex.pending)-drop > 0 && ex.pendingBytes+len(data) > cfg.PendingMaxBytes) {
		ex.pendingBytes -= len(ex.pending[drop].data)
		drop++
	}
	if drop > 0 {
		clear(ex.pending[:drop])
		ex.pending = slices.Delete(ex.pending, 0, drop)
		ex.pendingLost += uint64(drop)
		c.d.metrics.drop(ReasonPendingOverflow, drop)
	}
	ex.pending = append(ex.pending, pendingSet{
		hdr: c.hdr, receivedMs: c.receivedMs, setID: setID, data: slices.Clone(data),
	})
	ex.pendingBytes += len(data)
	c.held++
}

// replayPending decodes the held sets whose template is now known: options data first, so that
// the rates they announce apply to the flows held with them.
func (c *decodeCtx) replayPending() {
	ex := c.ex
	saved, savedMs := c.hdr, c.receivedMs
	defer func() { c.hdr, c.receivedMs = saved, savedMs }()
	for _, options := range []bool{true, false} {
		kept := ex.pending[:0]
		for _, p := range ex.pending {
			dom := ex.domains[domainKey(p.hdr.version, p.hdr.domainID)]
			var t *template
			if dom != nil {
				t = dom.template(ex, p.setID, c.d.timeoutMs)
			}
			if t == nil || t.options != options {
				kept = append(kept, p)
				continue
			}
			c.hdr, c.receivedMs = p.hdr, p.receivedMs
			c.decodeDataSet(t, dom, p.setID, p.data)
			ex.pendingBytes -= len(p.data)
		}
		clear(ex.pending[len(kept):])
		ex.pending = kept
	}
}

// expirePending drops the held sets that waited longer than the hold time.
func (c *decodeCtx) expirePending() {
	ex := c.ex
	n := 0
	for n < len(ex.pending) && ex.nowMs-ex.pending[n].receivedMs > c.d.holdMs {
		ex.pendingBytes -= len(ex.pending[n].data)
		n++
	}
	if n > 0 {
		clear(ex.pending[:n])
		ex.pending = slices.Delete(ex.pending, 0, n)
		ex.pendingLost += uint64(n)
		c.d.metrics.drop(ReasonPendingExpired, n)
	}
}
