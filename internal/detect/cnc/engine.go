package cnc

import (
	"context"
	"log/slog"
	"math"
	"math/bits"
	"net/netip"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/detect"
	"yocho/internal/flow"
	"yocho/internal/intel"
)

// Indicators looks addresses up in the C&C indicator feeds (an *intel.Store).
type Indicators interface {
	LookupAddr(a netip.Addr) []intel.Match
}

// Alerter receives the candidates that reached the alert score: once when they first do, then
// on each tick while their score is still at or above it and they were touched.
type Alerter interface {
	CnC(c Candidate)
}

// Deps are what the engine needs from the rest of yocho. Every field may be nil.
type Deps struct {
	// Subscribers says which hosts are subscribers; nil means LocalRanges.
	Subscribers Subscribers
	Indicators  Indicators
	Alerter     Alerter
	Registerer  prometheus.Registerer
	Logger      *slog.Logger
}

// Engine scores external endpoints as C&C candidates. It is a flow.Consumer, safe for
// concurrent use.
type Engine struct {
	cfg  Config
	subs Subscribers
	ind  Indicators
	alr  Alerter
	log  *slog.Logger

	mu          sync.Mutex
	index       index // endpoint key hash → slot in endpoints
	endpoints   []endpoint
	details     []detail
	dmeta       []detailMeta // what eviction reads of each detail, packed
	freeDetails []int32
	listed      int
	pindex      index // pair key hash → slot in pairs
	pairs       []pair
	pairAdmit   uint32 // pairs whose hash's low 16 bits are below it get state (1<<16: all)
	pairPress   int    // recently active pairs evicted since the last tick
	pairCalm    int64  // flow time of the last pressure or admission change
	dirtyPairs  []int32
	conns       []uint64 // connection table: tag<<32 | end second, see continues
	connMask    uint64
	iot         iotSet
	active      hll4k // distinct subscribers seen contacting anything
	dirty       []int32
	work        []work // per-record scratch of one Consume call
	sink        uint64 // keeps the loads of Consume's warm-up passes
	rng         uint64
	activeEst   float64        // e.active's estimate as of the last tick
	msgSizes    [3][2]sizeFreq // message sizes of all endpoints by protocol class, contacts and answers
	firstMs     int64          // first flow time seen
	now         int64          // latest flow time seen
	lastTick    int64
	scratch     []float64
	stats       counters

	ticker detect.Ticker
}

// counters are the engine's figures, read by its Prometheus collector.
type counters struct {
	contacts, replies, skipped, notExternal, iotMarked, badTime uint64
	continued                                                   uint64
	endpointsEvicted, detailsEvicted, pairsEvicted              uint64
	iotReset, listsFull, alerts                                 uint64
}

// hll4k counts distinct subscribers with 4096 registers (1.6 % standard error).
type hll4k [4096]uint8

func (h *hll4k) add(x uint64) {
	idx := x & 4095
	rank := uint8(bits.LeadingZeros64(x>>12|1)) - 11
	if rank > h[idx] {
		h[idx] = rank
	}
}

func (h *hll4k) estimate() float64 {
	var sum float64
	zeros := 0
	for _, r := range h {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	m := 4096.0
	e := 0.7213 / (1 + 1.079/m) * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		e = m * math.Log(m/float64(zeros))
	}
	return e
}

// New returns an engine. It does no I/O; metrics are registered on deps.Registerer.
func New(cfg Config, deps Deps) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:       cfg,
		subs:      deps.Subscribers,
		ind:       deps.Indicators,
		alr:       deps.Alerter,
		log:       deps.Logger,
		index:     newIndex(),
		pindex:    newIndex(),
		pairAdmit: pairAdmitAll,
		iot:       newIoTSet(cfg.MaxIoTHosts),
		rng:       0x5eed,
	}
	n := connEntries(cfg)
	e.conns, e.connMask = make([]uint64, n), uint64(n-1)
	if e.subs == nil {
		e.subs = LocalRanges{}
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if deps.Registerer != nil {
		if err := deps.Registerer.Register(&metrics{e}); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Start scores touched endpoints every Tick of wall time as well, so that alerts come even when
// flow time stalls.
func (e *Engine) Start(ctx context.Context) error {
	e.ticker.Start(ctx, e.cfg.Tick, e.Flush)
	return nil
}

// Stop ends what Start began.
func (e *Engine) Stop() { e.ticker.Stop() }

// Flush scores everything touched since the last tick now, raising due alerts.
func (e *Engine) Flush() {
	e.mu.Lock()
	due := e.tick()
	e.mu.Unlock()
	e.raise(due)
}

// raise hands due alerts to the Alerter, outside the engine's lock (the Alerter may call back).
func (e *Engine) raise(due []Candidate) {
	if e.alr == nil {
		return
	}
	for _, c := range due {
		e.alr.CnC(c)
	}
}

const (
	tcpSYN = 0x02
	tcpACK = 0x10
	tcpPSH = 0x08
	// bulkSize and ackSize bound the sizes per packet that tell a message apart: from bulkSize
	// on, packets are full-size data; up to ackSize, a TCP packet without SYN or PSH is a bare
	// ACK, FIN or RST. Bulk transfers and ACK streams look alike everywhere.
	bulkSize = 1200
	ackSize  = 56
	// maxFlowMs is the latest flow time accepted (year 2500): later ones are corrupt.
	maxFlowMs = 16725225600000
)

// work is what Consume's first pass learns of one record that concerns an external endpoint.
type work struct {
	k      epKey
	client addrKey // the subscriber
	h      uint64  // k.hash()
	ch     uint64  // client.hash()
	ms     int64
	end    int64
	i      int32 // record in the batch
	slot   int32 // the endpoint's likely slot (tag match), or -1
	cport  uint16
	reply  bool // server → client
	syn    bool // a TCP record with SYN: a connection's first
}

// Consume implements flow.Consumer. It works in passes over the batch: the first reads the
// columns it needs and keeps only the subscriber ↔ external records; the next two only load the
// index words and endpoints those records will need, with no dependence between records, so
// the processor fetches many at once instead of one cache miss after another; the last updates
// the state in record order.
func (e *Engine) Consume(b *flow.Batch) {
	e.mu.Lock()
	w := e.classify(b)
	e.warm(w)
	for j := range w {
		e.apply(b, &w[j])
	}
	var due []Candidate
	if e.now-e.lastTick >= e.cfg.Tick.Milliseconds() {
		due = e.tick()
	}
	e.mu.Unlock()
	e.raise(due)
}

// classify is Consume's first pass.
func (e *Engine) classify(b *flow.Batch) []work {
	n := b.Len()
	if cap(e.work) < n {
		e.work = make([]work, 0, n)
	}
	w := e.work[:0]
	start, endc, recv := b.StartMs[:n], b.EndMs[:n], b.ReceivedMs[:n]
	srcs, dsts := b.SrcAddr[:n], b.DstAddr[:n]
	protos, flagsc := b.Proto[:n], b.TCPFlags[:n]
	sps, dps := b.SrcPort[:n], b.DstPort[:n]
	for i := range n {
		ms := start[i]
		if ms == 0 {
			ms = recv[i]
		}
		end := max(endc[i], ms)
		if ms < 0 || end > maxFlowMs {
			e.stats.badTime++
			continue
		}
		if e.firstMs == 0 || ms < e.firstMs {
			e.firstMs = ms
		}
		if end > e.now {
			e.now = end
		}
		src, dst := srcs[i], dsts[i]
		_, srcSub := e.subs.Subscriber(src)
		_, dstSub := e.subs.Subscriber(dst)
		if srcSub == dstSub {
			e.stats.skipped++
			continue
		}
		proto, flags := protos[i], flagsc[i]
		sp, dp := sps[i], dps[i]
		if proto != 6 && proto != 17 {
			sp, dp = 0, 0
		}
		var x work
		if srcSub {
			if !external(dst) {
				e.stats.notExternal++
				continue
			}
			client := keyOf(src)
			if proto == 6 && (sp == 23 || sp == 2323) && flags&tcpACK != 0 {
				e.markIoT(client.hash()) // answers telnet from outside
			}
			if !serverIsExternal(dp, sp, proto, flags, false) {
				e.stats.skipped++
				continue
			}
			x.ch = client.hash()
			if proto == 6 && (dp == 23 || dp == 2323) {
				e.markIoT(x.ch) // scans or uses telnet outwards
			}
			x.client, x.k, x.cport = client, epKey{addr: keyOf(dst), port: dp, proto: proto}, sp
			x.syn = proto == 6 && flags&tcpSYN != 0
		} else {
			if !external(src) {
				e.stats.notExternal++
				continue
			}
			if !serverIsExternal(sp, dp, proto, flags, true) {
				e.stats.skipped++
				continue
			}
			x.reply, x.k = true, epKey{addr: keyOf(src), port: sp, proto: proto}
		}
		x.h, x.ms, x.end, x.i, x.slot = x.k.hash(), ms, end, int32(i), -1
		w = append(w, x)
	}
	e.work = w
	return w
}

// warm is Consume's second and third passes: it finds each record's likely endpoint slot by its
// hash's tag and loads the index words and the endpoints. Each iteration's loads depend on
// nothing the previous one loaded, so they overlap.
func (e *Engine) warm(w []work) {
	words, mask := e.index.words, e.index.mask
	var acc uint64
	for j := range w {
		acc += words[(w[j].h>>32)&mask]
		if !w[j].reply {
			acc += e.conns[connHash(&w[j])&e.connMask]
		}
	}
	for j := range w {
		x := &w[j]
		tag := x.h >> 32
		for p := tag & mask; ; p = (p + 1) & mask {
			v := words[p]
			if v == 0 {
				break
			}
			if tagOf(v) == tag {
				x.slot = slotOf(v)
				acc += uint64(e.endpoints[x.slot].contacts)
				break
			}
		}
	}
	e.sink += acc
}

// find returns the slot of the endpoint k (hash h), or -1.
func (e *Engine) find(k epKey, h uint64) int32 {
	x := &e.index
	tag := h >> 32
	for p := tag & x.mask; ; p = (p + 1) & x.mask {
		v := x.words[p]
		if v == 0 {
			return -1
		}
		if tagOf(v) == tag {
			if s := slotOf(v); e.endpoints[s].key == k {
				return s
			}
		}
	}
}

// apply is Consume's last pass, for one record.
func (e *Engine) apply(b *flow.Batch, x *work) {
	slot := x.slot
	if slot < 0 || e.endpoints[slot].key != x.k {
		// No tag matched when warm ran, or the endpoint was made or evicted since.
		slot = e.find(x.k, x.h)
	}
	if !x.reply {
		e.contact(b, x, slot)
		return
	}
	e.stats.replies++
	if slot < 0 {
		return
	}
	ep := &e.endpoints[slot]
	ep.replies++
	if p := b.Packets[x.i]; p > 0 {
		if sz := b.Bytes[x.i] / p; tellsMessage(sz, x.k.proto, b.TCPFlags[x.i]) {
			ep.replySizes.add(uint16(min(sz, 0xffff)))
			e.msgSizes[protoClass(x.k.proto)][1].add(uint16(min(sz, 0xffff)))
		}
	}
	if x.end > ep.last {
		ep.last = x.end
	}
}

// serverIsExternal tells whether the external side of a record is the server: a SYN without ACK
// comes from the client; otherwise the lower, well-known port is the server's.
func serverIsExternal(extPort, subPort uint16, proto, flags uint8, extSends bool) bool {
	if proto == 6 && flags&tcpSYN != 0 && flags&tcpACK == 0 {
		return !extSends
	}
	switch {
	case extPort == subPort:
		return true
	case extPort < 1024 && subPort >= 1024:
		return true
	case subPort < 1024 && extPort >= 1024:
		return false
	}
	return extPort < subPort
}

// tellsMessage tells whether a record's bytes per packet can identify a message (a bot's
// repeated command or beacon): not full-size data packets nor bare TCP control packets.
func tellsMessage(size uint64, proto, flags uint8) bool {
	if size >= bulkSize {
		return false
	}
	return proto != 6 || size > ackSize || flags&(tcpSYN|tcpPSH) != 0
}

// contact counts one client → server record; slot is the endpoint's, or -1 when it is new.
func (e *Engine) contact(b *flow.Batch, x *work, slot int32) {
	if e.continues(x, b.SamplingRate[x.i] > 1) {
		// More of a connection already counted: not a new contact.
		e.stats.continued++
		if slot >= 0 && x.end > e.endpoints[slot].last {
			e.endpoints[slot].last = x.end
		}
		return
	}
	e.stats.contacts++
	if slot < 0 {
		slot = e.make(x.k, x.h, x.ms)
	}
	ep := &e.endpoints[slot]
	ep.contacts++
	ms, end, i, client := x.ms, x.end, x.i, x.client
	if ms < ep.first {
		ep.first = ms
	}
	if end > ep.last {
		ep.last = end
	}
	pkts, bytes, rate := b.Packets[i], b.Bytes[i], b.SamplingRate[i]
	if x.k.proto == 6 {
		ep.tcpContacts++
		f := b.TCPFlags[i]
		if f&tcpSYN != 0 && f&tcpACK == 0 && (rate <= 1 || pkts >= 2) {
			ep.unanswered++
		}
	}
	if pkts > 0 {
		if sz := bytes / pkts; tellsMessage(sz, x.k.proto, b.TCPFlags[i]) {
			ep.sizes.add(uint16(min(sz, 0xffff)))
			e.msgSizes[protoClass(x.k.proto)][0].add(uint16(min(sz, 0xffff)))
		}
	}
	if rate > 1 {
		ep.sampled = true
	}
	if e.iot.has(x.ch) {
		ep.iotContacts++
	}
	e.active.add(x.ch)
	listed := false
	switch {
	case ep.contacts == 1:
		ep.client1 = client
	case ep.detail < 0 && ep.contacts == 2 && client == ep.client1:
		// A second contact from the same client: not worth a detail yet (one-off endpoints
		// are most of them); the third contact makes one.
	default:
		fresh := ep.detail < 0
		if d := e.detailOf(slot); d != nil {
			if fresh {
				d.addContact(ep.first, d.addClient(ep.client1))
			}
			d.addContact(ms, d.addClient(client))
			d.n++
			if d.hll == nil {
				d.approx = float32(d.nExact)
			}
			e.dmeta[ep.detail].last = ms
			if d.n&(d.n-1) == 0 {
				e.setWorth(ep.detail) // log2(contacts) moved
			}
			if d.list != nil {
				listed = true
				e.listClient(d, client, ms, end)
			}
		}
	}
	if !ep.dirty {
		ep.dirty = true
		e.dirty = append(e.dirty, slot)
	}
	if rate <= e.cfg.PairMaxSamplingRate {
		e.pairContact(x, listed, uint32(min(bytes, math.MaxUint32)))
	}
}

func (e *Engine) listClient(d *detail, client addrKey, ms, end int64) {
	c := d.list[client]
	if c == nil {
		if len(d.list) >= e.cfg.MaxListedClients {
			e.stats.listsFull++
			return
		}
		c = &clientStat{first: ms}
		d.list[client] = c
	}
	c.contacts++
	if end > c.last {
		c.last = end
	}
	if ms < c.first || c.first == 0 {
		c.first = ms
	}
}

// markIoT remembers the subscriber host of hash ch as IoT-looking.
func (e *Engine) markIoT(ch uint64) {
	switch e.iot.mark(ch) {
	case iotNew:
		e.stats.iotMarked++
	case iotReplaced:
		e.stats.iotMarked++
		e.stats.iotReset++
	}
}

// pairAdmitAll admits every pair; pairAdmitMin is the fewest admitted under pressure (1/64).
const (
	pairAdmitAll = 1 << 16
	pairAdmitMin = 1 << 10
	pairRecentMs = 3600000
)

// pairContact counts one contact of the pair (x.client, x.k). When more pairs are active than
// MaxPairs, only the pairs whose hash falls in an admitted share keep state (halved while the
// table evicts pairs active in the last hour, doubled again after a calm hour): a kept pair
// keeps all its contacts, so its series stays whole. Pairs of endpoints whose clients are listed
// (their score reached ListScore) are always kept.
func (e *Engine) pairContact(x *work, listed bool, size uint32) {
	ph := mix64(x.ch ^ x.h*0x9e3779b97f4a7c15)
	tag := ph >> 32
	px := &e.pindex
	k := pairKey{x.client, x.k}
	slot := int32(-1)
	for p := tag & px.mask; ; p = (p + 1) & px.mask {
		v := px.words[p]
		if v == 0 {
			break
		}
		if tagOf(v) == tag && e.pairs[slotOf(v)].key == k {
			slot = slotOf(v)
			break
		}
	}
	if slot < 0 {
		if uint32(ph&0xffff) >= e.pairAdmit && !listed {
			return
		}
		if len(e.pairs) < e.cfg.MaxPairs {
			e.pairs = append(e.pairs, pair{})
			slot = int32(len(e.pairs) - 1)
		} else {
			slot = e.evictPair()
		}
		p := &e.pairs[slot]
		*p = pair{key: k, hash: ph, times: p.times[:0], sizes: p.sizes[:0]}
		px.insert(ph, slot)
	}
	p := &e.pairs[slot]
	before := int(p.total)
	p.add(x.ms, size, e.cfg.PairSamples)
	if int(p.total) >= e.cfg.MinPairContacts && (before < e.cfg.MinPairContacts || p.total%8 == 0) {
		e.dirtyPairs = append(e.dirtyPairs, slot)
	}
}

// evictPair frees the slot of the least worth of eight random pairs: one no longer admitted,
// else the least recent. Its sample buffers are kept for the next pair.
func (e *Engine) evictPair() int32 {
	slot := e.victim(len(e.pairs), func(j int32) float64 {
		p := &e.pairs[j]
		if uint32(p.hash&0xffff) >= e.pairAdmit {
			return math.Inf(-1)
		}
		return float64(p.last)
	})
	p := &e.pairs[slot]
	if e.now-p.last < pairRecentMs && uint32(p.hash&0xffff) < e.pairAdmit {
		e.pairPress++
	}
	e.pindex.remove(p.hash, slot)
	e.stats.pairsEvicted++
	return slot
}

// adaptPairs halves the admitted share of pairs when the last tick evicted many recent ones, and
// doubles it after an hour of flow time without any.
func (e *Engine) adaptPairs() {
	switch {
	case e.pairPress > max(e.cfg.MaxPairs/64, 1) && e.pairAdmit > pairAdmitMin:
		e.pairAdmit /= 2
		e.pairCalm = e.now
	case e.pairPress > 0:
		e.pairCalm = e.now
	case e.pairAdmit < pairAdmitAll && e.now-e.pairCalm >= pairRecentMs:
		e.pairAdmit *= 2
		e.pairCalm = e.now
	}
	e.pairPress = 0
}

// tick scores the pairs and endpoints touched since the last tick and returns the candidates
// due for an alert. The caller holds e.mu.
func (e *Engine) tick() []Candidate {
	e.lastTick = e.now
	e.activeEst = e.active.estimate()
	e.adaptPairs()
	span := e.now - e.firstMs
	for _, slot := range e.dirtyPairs {
		p := &e.pairs[slot]
		if int(p.total) < e.cfg.MinPairContacts {
			continue // evicted, and its slot taken by a younger pair, since
		}
		k := p.key
		idx := e.find(k.ep, k.ep.hash())
		if idx < 0 || e.endpoints[idx].detail < 0 {
			continue
		}
		var bc Beacon
		bc, e.scratch = beaconScore(p, span, e.scratch)
		d := &e.details[e.endpoints[idx].detail]
		if d.beacon == nil || bc.Score > d.beacon.Score || d.beaconKey == k.client {
			bc.Client = k.client.addr().String()
			d.beacon, d.beaconKey = &bc, k.client
		}
		if !e.endpoints[idx].dirty {
			e.endpoints[idx].dirty = true
			e.dirty = append(e.dirty, idx)
		}
	}
	e.dirtyPairs = e.dirtyPairs[:0]
	var due []Candidate
	for _, idx := range e.dirty {
		ep := &e.endpoints[idx]
		if !ep.dirty {
			continue
		}
		ep.dirty = false
		if ep.detail < 0 && e.bound(ep) < e.cfg.AlertScore {
			continue // one client so far, and it cannot reach the alert score
		}
		score, _ := e.score(ep, nil)
		if ep.detail >= 0 {
			e.details[ep.detail].score = float32(score)
			e.setWorth(ep.detail)
		}
		if score >= e.cfg.ListScore && ep.detail >= 0 {
			d := &e.details[ep.detail]
			if d.list == nil && e.listed < e.cfg.MaxListed {
				d.list = make(map[addrKey]*clientStat)
				e.listed++
				for _, c := range d.exact[:d.nExact] {
					d.list[c] = &clientStat{}
				}
				if d.nExact == 1 && d.hll == nil {
					// One client so far: every contact was its own.
					d.list[d.exact[0]] = &clientStat{first: ep.first, last: ep.last, contacts: ep.contacts}
				}
			}
		}
		if score >= e.cfg.AlertScore {
			if !ep.alerted {
				e.stats.alerts++
			}
			ep.alerted = true
			if ep.detail >= 0 {
				e.dmeta[ep.detail].worth = float32(math.Inf(1)) // never evicted
			}
			if e.alr != nil {
				due = append(due, e.candidate(idx))
			}
		}
	}
	e.dirty = e.dirty[:0]
	return due
}
