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
	index       map[epKey]int32
	endpoints   []endpoint
	details     []detail
	freeDetails []int32
	listed      int
	pairs       map[pairKey]*pair
	dirtyPairs  []pairKey
	iot         map[addrKey]struct{}
	active      hll4k // distinct subscribers seen contacting anything
	dirty       []int32
	rng         uint64
	activeEst   float64 // e.active's estimate as of the last tick
	firstMs     int64   // first flow time seen
	now         int64   // latest flow time seen
	lastTick    int64
	scratch     []float64
	stats       counters

	ticker detect.Ticker
}

// counters are the engine's figures, read by its Prometheus collector.
type counters struct {
	contacts, replies, skipped, notExternal, iotMarked, badTime uint64
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
		cfg:   cfg,
		subs:  deps.Subscribers,
		ind:   deps.Indicators,
		alr:   deps.Alerter,
		log:   deps.Logger,
		index: make(map[epKey]int32),
		pairs: make(map[pairKey]*pair),
		iot:   make(map[addrKey]struct{}),
		rng:   0x5eed,
	}
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
	// maxFlowMs is the latest flow time accepted (year 2500): later ones are corrupt.
	maxFlowMs = 16725225600000
)

// Consume implements flow.Consumer.
func (e *Engine) Consume(b *flow.Batch) {
	e.mu.Lock()
	n := b.Len()
	for i := 0; i < n; i++ {
		e.record(b, i)
	}
	var due []Candidate
	if e.now-e.lastTick >= e.cfg.Tick.Milliseconds() {
		due = e.tick()
	}
	e.mu.Unlock()
	e.raise(due)
}

func (e *Engine) record(b *flow.Batch, i int) {
	ms := b.StartMs[i]
	if ms == 0 {
		ms = b.ReceivedMs[i]
	}
	end := b.EndMs[i]
	if end < ms {
		end = ms
	}
	if ms < 0 || end > maxFlowMs {
		e.stats.badTime++
		return
	}
	if e.firstMs == 0 || ms < e.firstMs {
		e.firstMs = ms
	}
	if end > e.now {
		e.now = end
	}
	src, dst := b.SrcAddr[i], b.DstAddr[i]
	_, srcSub := e.subs.Subscriber(src)
	_, dstSub := e.subs.Subscriber(dst)
	proto, flags := b.Proto[i], b.TCPFlags[i]
	sp, dp := b.SrcPort[i], b.DstPort[i]
	if proto != 6 && proto != 17 {
		sp, dp = 0, 0
	}
	switch {
	case srcSub && !dstSub:
		if !external(dst) {
			e.stats.notExternal++
			return
		}
		if proto == 6 && (sp == 23 || sp == 2323) && flags&tcpACK != 0 {
			e.markIoT(keyOf(src)) // answers telnet from outside
		}
		if !serverIsExternal(dp, sp, proto, flags, false) {
			e.stats.skipped++
			return
		}
		client := keyOf(src)
		if proto == 6 && (dp == 23 || dp == 2323) {
			e.markIoT(client) // scans or uses telnet outwards
		}
		e.contact(b, i, client, epKey{addr: keyOf(dst), port: dp, proto: proto}, ms, end)
	case dstSub && !srcSub:
		if !external(src) {
			e.stats.notExternal++
			return
		}
		if !serverIsExternal(sp, dp, proto, flags, true) {
			e.stats.skipped++
			return
		}
		e.stats.replies++
		if idx, ok := e.index[epKey{addr: keyOf(src), port: sp, proto: proto}]; ok {
			ep := &e.endpoints[idx]
			ep.replies++
			if p := b.Packets[i]; p > 0 {
				ep.replySizes.add(uint16(min(b.Bytes[i]/p, 0xffff)))
			}
			if end > ep.last {
				ep.last = end
			}
		}
	default:
		e.stats.skipped++
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

func (e *Engine) contact(b *flow.Batch, i int, client addrKey, k epKey, ms, end int64) {
	e.stats.contacts++
	idx := e.lookup(k, ms)
	ep := &e.endpoints[idx]
	ep.contacts++
	if ms < ep.first {
		ep.first = ms
	}
	if end > ep.last {
		ep.last = end
	}
	pkts, bytes, rate := b.Packets[i], b.Bytes[i], b.SamplingRate[i]
	if k.proto == 6 {
		ep.tcpContacts++
		f := b.TCPFlags[i]
		if f&tcpSYN != 0 && f&tcpACK == 0 && (rate <= 1 || pkts >= 2) {
			ep.unanswered++
		}
	}
	if pkts > 0 {
		ep.sizes.add(uint16(min(bytes/pkts, 0xffff)))
	}
	if rate > 1 {
		ep.sampled = true
	}
	if _, ok := e.iot[client]; ok {
		ep.iotContacts++
	}
	e.active.add(client.hash())
	switch {
	case ep.contacts == 1:
		ep.client1 = client
	case ep.detail < 0 && ep.contacts == 2 && client == ep.client1:
		// A second contact from the same client: not worth a detail yet (one-off endpoints
		// are most of them); the third contact makes one.
	default:
		fresh := ep.detail < 0
		if d := e.detailOf(idx); d != nil {
			if fresh {
				d.addContact(ep.first, d.addClient(ep.client1))
			}
			d.addContact(ms, d.addClient(client))
			d.last = ms
			d.n++
			if d.list != nil {
				e.listClient(d, client, ms, end)
			}
		}
	}
	if !ep.dirty {
		ep.dirty = true
		e.dirty = append(e.dirty, idx)
	}
	if rate <= e.cfg.PairMaxSamplingRate {
		e.pairContact(pairKey{client, k}, ms, uint32(min(bytes, math.MaxUint32)))
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

func (e *Engine) markIoT(c addrKey) {
	if _, ok := e.iot[c]; ok {
		return
	}
	if len(e.iot) >= e.cfg.MaxIoTHosts {
		// Forget an arbitrary eighth: the hosts still doing it are marked again soon.
		n := len(e.iot) / 8
		for k := range e.iot {
			if n == 0 {
				break
			}
			delete(e.iot, k)
			n--
		}
		e.stats.iotReset++
	}
	e.iot[c] = struct{}{}
	e.stats.iotMarked++
}

func (e *Engine) pairContact(k pairKey, ms int64, size uint32) {
	p := e.pairs[k]
	if p == nil {
		if len(e.pairs) >= e.cfg.MaxPairs {
			e.evictPair()
		}
		p = &pair{}
		e.pairs[k] = p
	}
	before := int(p.total)
	p.add(ms, size, e.cfg.PairSamples)
	if int(p.total) >= e.cfg.MinPairContacts && (before < e.cfg.MinPairContacts || p.total%8 == 0) {
		e.dirtyPairs = append(e.dirtyPairs, k)
	}
}

// evictPair drops the least recent of eight pairs that map iteration happens to start with.
func (e *Engine) evictPair() {
	var victim pairKey
	oldest := int64(math.MaxInt64)
	n := 0
	for k, p := range e.pairs {
		if p.last < oldest {
			victim, oldest = k, p.last
		}
		if n++; n == 8 {
			break
		}
	}
	delete(e.pairs, victim)
	e.stats.pairsEvicted++
}

// tick scores the pairs and endpoints touched since the last tick and returns the candidates
// due for an alert. The caller holds e.mu.
func (e *Engine) tick() []Candidate {
	e.lastTick = e.now
	e.activeEst = e.active.estimate()
	span := e.now - e.firstMs
	for _, k := range e.dirtyPairs {
		p := e.pairs[k]
		if p == nil {
			continue
		}
		idx, ok := e.index[k.ep]
		if !ok || e.endpoints[idx].detail < 0 {
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
		score, _ := e.score(ep, nil)
		if ep.detail >= 0 {
			e.details[ep.detail].score = float32(score)
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
			if e.alr != nil {
				due = append(due, e.candidate(idx))
			}
		}
	}
	e.dirty = e.dirty[:0]
	return due
}
