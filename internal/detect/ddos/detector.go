// Package ddos is the DDoS detector. It consumes flow batches (it is a flow.Consumer), keeps per
// host and per /24 (/64) counters of our networks' traffic in 1-second steps, in both directions,
// and reports each attack to an alert sink (the alert.Manager): started, updated every second
// while it lasts, and ended after a quiet period.
//
// State is bounded whatever the traffic: every tracked host or prefix costs under 200 bytes; only
// those whose traffic comes near a threshold get a detailed state (per-second ring by kind of
// traffic, Space-Saving top-K sketches of sources, ports, AS numbers, exporters and interfaces,
// HyperLogLog distinct counts, sample flows), and both are capped, idle entries evicted first.
package ddos

import (
	"context"
	"encoding/binary"
	"log/slog"
	"math"
	"math/bits"
	"net/netip"
	"sync"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/alert"
	"yocho/internal/config"
	"yocho/internal/detect"
	"yocho/internal/enrich"
	"yocho/internal/flow"
)

// Config is the detector's configuration.
type Config struct {
	MinDuration    time.Duration // consecutive seconds over a threshold before an alert
	MinSources     int           // distinct sources an incoming attack needs
	QuietPeriod    time.Duration // seconds under every threshold before an alert ends
	Outgoing       bool          // also watch our hosts attacking others
	CarpetBitsV4   int           // prefix length of carpet-bombing aggregates, IPv4
	CarpetBitsV6   int           // and IPv6
	CarpetMinHosts int           // distinct hosts a carpet-bombing alert needs
	LateWindow     time.Duration // how late a flow may be and still be counted
	MaxHosts       int           // cap on tracked hosts and prefixes
	MaxDetailed    int           // cap on hosts and prefixes tracked in detail
	// PreFactor is the share of a threshold that a host's traffic arriving in one second must
	// reach to be tracked in detail.
	PreFactor float64
	Baseline  config.Baseline
	// EvaluateEvery is the period of the evaluation ticker: an attack is reported at most this
	// long after the records that make it one arrive.
	EvaluateEvery time.Duration
	// FlowClock takes the time from the newest flow's end instead of the wall clock: for
	// traffic replayed faster than real time.
	FlowClock bool
	// ReplayLag: with the wall clock, when most records that carry their own time end more than
	// this before now, the collector is receiving the past (a replay, a backlog): records stamped
	// on arrival (sFlow) are then not counted. 0: 5 minutes.
	ReplayLag time.Duration
}

// ConfigFrom takes the detector's settings from the configuration file's section.
func ConfigFrom(c config.DDoS) Config {
	return Config{
		MinDuration: c.MinDuration.D(), MinSources: c.MinSources, QuietPeriod: c.QuietPeriod.D(),
		Outgoing: c.Outgoing, CarpetBitsV4: c.CarpetPrefixV4, CarpetBitsV6: c.CarpetPrefixV6,
		CarpetMinHosts: c.CarpetMinHosts, LateWindow: c.LateWindow.D(), MaxHosts: c.MaxHosts,
		MaxDetailed: c.MaxDetailed, PreFactor: 0.2, Baseline: c.Baseline, EvaluateEvery: 250 * time.Millisecond,
		FlowClock: c.Clock == "flow",
	}
}

// Sink receives the detector's attacks: the alert.Manager.
type Sink interface {
	Raise(r alert.Report) string
	End(key string, at time.Time)
}

// Detector finds DDoS attacks in flow batches. It is safe for concurrent use.
type Detector struct {
	cfg    Config
	nets   *enrich.Networks
	groups []*enrich.Hostgroup
	// inv holds each group's reciprocal thresholds (0: none), host then carpet, for the pressure
	// test on the hot path.
	inv   [][2]enrich.Thresholds
	table *netTable
	// Masks of the carpet-bombing aggregates on key words.
	maskV4, maskV6hi, maskV6lo uint64
	sink                       Sink
	preUnits                   uint32 // PreFactor in pressure units
	log                        *slog.Logger
	now                        func() time.Time
	w                          uint32 // ring length in seconds

	mu sync.Mutex
	// press is the first stage, one slot per hashed host or prefix (several may share one, which
	// can only raise their pressure): the pressure of the current second, or the detailed state
	// that holds the slot (see slotHeld). Fixed size whatever the traffic.
	press    []uint32
	pmask    uint64
	byKey    map[key]int32 // every detailed host or prefix
	dets     []*detail
	blocks   []*detBlock // the memory of dets
	freeDets []int32
	// fullSec is the last second a promotion found every detailed state busy: no other is tried
	// in that second, so that a flood of candidates costs no scan each.
	fullSec uint32
	// flowSec is the newest flow end seen, in unix seconds (FlowClock).
	flowSec uint32
	// learnedSec is the last second learned into the baselines.
	learnedSec uint32
	base       []baseline // by baseOf
	sc         scratch
	// hotFlows is set when the batch being counted holds flows of a hot host (see hotShare).
	hotFlows bool
	// batchSlots are the first-stage slots of the batch being counted, record by record, for a
	// promotion to find the records before it (see recount); batchReplay is catchUpLocked's answer for it.
	batchSlots  [][2]uint32
	batchReplay bool
	// Catch-up: decayed counts of records far in the past and live, as of catchSec.
	catchSec             uint32
	pastScore, liveScore float64

	ticker detect.Ticker
	// lastFull is when the ticker last evaluated every host, lastOnset the hot ones only (its
	// goroutine's only).
	lastFull, lastOnset time.Time

	flows      prometheus.Counter
	dropped    *prometheus.CounterVec
	dropLate   prometheus.Counter
	dropNoPkts prometheus.Counter
	dropReplay prometheus.Counter
	catchingUp prometheus.GaugeFunc
	tracked    prometheus.GaugeFunc
	detailed   prometheus.GaugeFunc
	attacks    prometheus.GaugeFunc
	evalDur    prometheus.Histogram
	promotion  prometheus.Counter
}

// key identifies a tracked host or prefix, and the direction of its traffic.
type key struct {
	hi, lo uint64
	tag    uint8 // tagOutgoing | tagPrefix
}

const (
	tagOutgoing = 1 // traffic from our hosts out
	tagPrefix   = 2 // a /24 or /64 of ours: carpet bombing
	tagTarget   = 4 // with tagOutgoing: an outside address our hosts send to
)

// A first-stage slot is 4 bytes. Held by a detailed state (slotHeld set): the index+1 of the
// holder in the low 24 bits (0: none) and in the 7 above how many other detailed states hash to it
// (saturating; they are found in byKey; with none, a key that is not the holder's is not
// detailed, and no map is read); the pressure of the keys that hash to it and are not detailed
// then goes to a slot beside it, in the same cache line (besideHeld). Else the second counted (mod
// 128), the records in it (0 to 3, saturating) and the pressure, in units of 2^-17 of a threshold,
// saturating near 32. A stale second 128 s back read as current can only add pressure: a
// promotion, never an alert.
const (
	slotHeld      = 1 << 31
	ownerMask     = 1<<24 - 1
	extraShift    = 24
	extraMax      = 127
	pressSecShift = 24
	pressSecMask  = 127
	pressRecShift = 22
	pressMax      = 1<<pressRecShift - 1
	pressUnit     = 1 << 17
)

// New returns a detector over the given networks, reporting to sink. It does no I/O.
func New(cfg Config, nets *enrich.Networks, sink Sink, reg prometheus.Registerer, log *slog.Logger) *Detector {
	if cfg.MinDuration < time.Second {
		cfg.MinDuration = time.Second
	}
	if cfg.QuietPeriod < time.Second {
		cfg.QuietPeriod = time.Second
	}
	if cfg.LateWindow < 4*time.Second {
		cfg.LateWindow = 60 * time.Second
	}
	if cfg.MaxHosts <= 0 {
		cfg.MaxHosts = 1 << 20
	}
	if cfg.MaxDetailed <= 0 {
		cfg.MaxDetailed = 2048
	}
	cfg.MaxDetailed = min(cfg.MaxDetailed, ownerMask-1)
	if cfg.ReplayLag <= 0 {
		cfg.ReplayLag = 5 * time.Minute
	}
	if cfg.PreFactor <= 0 {
		cfg.PreFactor = 0.2
	}
	if cfg.EvaluateEvery <= 0 {
		cfg.EvaluateEvery = time.Second
	}
	if cfg.CarpetBitsV4 == 0 {
		cfg.CarpetBitsV4 = 24
	}
	if cfg.CarpetBitsV6 == 0 {
		cfg.CarpetBitsV6 = 64
	}
	if cfg.CarpetMinHosts < 2 {
		cfg.CarpetMinHosts = 8
	}
	if log == nil {
		log = slog.Default()
	}
	d := &Detector{
		cfg: cfg, nets: nets, groups: nets.Groups(), sink: sink, log: log, now: time.Now,
		w:     uint32(cfg.LateWindow / time.Second),
		byKey: map[key]int32{},
		flows: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "yocho", Subsystem: "ddos", Name: "flows_total", Help: "Flows the DDoS detector read.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "yocho", Subsystem: "ddos", Name: "dropped_total",
			Help: "Flows or parts of flows the DDoS detector could not count, by reason (late, no-packets, replay, detail-cap).",
		}, []string{"reason"}),
		evalDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "yocho", Subsystem: "ddos", Name: "evaluate_seconds", Help: "Time of one evaluation of every detailed host.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 8),
		}),
		promotion: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "yocho", Subsystem: "ddos", Name: "detailed_total", Help: "Hosts and prefixes that came near a threshold and were tracked in detail.",
		}),
	}
	d.tracked = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "yocho", Subsystem: "ddos", Name: "pressure_slots", Help: "Slots of the first stage (hashed hosts and prefixes).",
	}, func() float64 { return float64(len(d.press)) })
	d.detailed = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "yocho", Subsystem: "ddos", Name: "detailed", Help: "Hosts and prefixes tracked in detail.",
	}, func() float64 { d.mu.Lock(); defer d.mu.Unlock(); return float64(len(d.dets) - len(d.freeDets)) })
	d.attacks = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "yocho", Subsystem: "ddos", Name: "attacks", Help: "Attacks ongoing.",
	}, func() float64 {
		d.mu.Lock()
		defer d.mu.Unlock()
		n := 0
		for _, dt := range d.dets {
			if dt != nil && dt.attacking {
				n++
			}
		}
		return float64(n)
	})
	d.catchingUp = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "yocho", Subsystem: "ddos", Name: "catching_up",
		Help: "1 while most timed flows arrive more than 5 minutes after they ended (a replay or a backlog): flows stamped on arrival are not counted.",
	}, func() float64 {
		d.mu.Lock()
		defer d.mu.Unlock()
		if !d.cfg.FlowClock {
			d.decayCatchUpLocked(d.clockLocked(nil))
		}
		if d.pastScore > d.liveScore && d.pastScore >= catchUpMin {
			return 1
		}
		return 0
	})
	d.dropLate, d.dropNoPkts = d.dropped.WithLabelValues("late"), d.dropped.WithLabelValues("no-packets")
	d.dropReplay = d.dropped.WithLabelValues("replay")
	if reg != nil {
		reg.MustRegister(d.flows, d.dropped, d.tracked, d.detailed, d.attacks, d.evalDur, d.promotion, d.catchingUp)
	}
	d.table = newNetTable(nets)
	d.preUnits = uint32(min(cfg.PreFactor*pressUnit, pressMax))
	d.maskV4 = 0xFFFFFFFF<<32 | uint64(uint32(0xFFFFFFFF)<<(32-cfg.CarpetBitsV4))
	if b := cfg.CarpetBitsV6; b >= 64 {
		d.maskV6hi, d.maskV6lo = ^uint64(0), ^uint64(0)<<(128-b)
	} else {
		d.maskV6hi = ^uint64(0) << (64 - b)
	}
	slots := uint64(1)
	for slots < uint64(cfg.MaxHosts) {
		slots <<= 1
	}
	d.press, d.pmask = make([]uint32, slots), slots-1
	d.inv = make([][2]enrich.Thresholds, len(d.groups))
	d.base = make([]baseline, 2*len(d.groups)) // hosts', prefixes'
	for i, g := range d.groups {
		for k := range enrich.NumKinds {
			for m := range enrich.NumMetrics {
				if t := g.Host[k][m]; t > 0 {
					d.inv[i][0][k][m] = 1 / t
				}
				if t := g.Carpet[k][m]; t > 0 {
					d.inv[i][1][k][m] = 1 / t
				}
			}
		}
	}
	return d
}

// Start evaluates every tracked host on a wall-clock ticker until ctx ends or Stop, and at once
// after a batch that brought flows to a host near a threshold.
func (d *Detector) Start(ctx context.Context) error {
	d.ticker.Start(ctx, d.cfg.EvaluateEvery, d.tick)
	return nil
}

// Stop ends the ticker.
func (d *Detector) Stop() { d.ticker.Stop() }

// notFlood are the kinds an outgoing attack is never judged on.
const notFlood = 1<<enrich.KindTotal | 1<<enrich.KindTCP

// chunk is how many records Consume prepares at once: their hostgroups, keys and first-stage
// slots first (the slots' cache misses overlap), then the counting.
const chunk = 256

// scratch holds a chunk's prepared columns.
type scratch struct {
	dstG, srcG [chunk]int32     // hostgroup index, -1 when not ours
	dh, dl     [chunk]uint64    // destination, as key words
	sh, sl     [chunk]uint64    // source: our host, of outgoing records only
	slot       [chunk][2]uint32 // first-stage slots: host and prefix (incoming), or target (outgoing)
	hash       [chunk]uint64    // incoming: the destination's hash (its slot's, and a prefix's member)
	todo       [chunk]uint16    // the records that have slots
	ph, pl     [chunk]uint64    // of records to a detailed state (hasPeer): the source, as key words,
	peer       [chunk]uint64    // and its hash
	hasPeer    [chunk]bool
	sink       uint8 // what touch read, kept so that the reads are made
}

// touch reads one byte in each cache line of the n bytes at p, so that they are in cache.
func touch(p unsafe.Pointer, n uintptr) uint8 {
	var x uint8
	for off := uintptr(0); off < n; off += 64 {
		x += *(*uint8)(unsafe.Add(p, off))
	}
	return x
}

// ringRow is the ring row of second s, given now's second and row: s mod w without a division
// when s is within two ring lengths before now (every counted flow's), with one otherwise.
func ringRow(nowIdx, s, nowSec, w uint32) uint32 {
	r := int64(nowIdx) + int64(s) - int64(nowSec)
	if r < -2*int64(w) || r >= int64(w)*2 {
		return s % w
	}
	for r < 0 {
		r += int64(w)
	}
	for r >= int64(w) {
		r -= int64(w)
	}
	return uint32(r)
}

// Consume counts a batch's flows. It keeps nothing of the batch. When the batch brought flows to
// a host or prefix near a threshold, it has them evaluated at once.
func (d *Detector) Consume(b *flow.Batch) {
	if d.consume(b) {
		d.ticker.Poke() // evaluated now, not at the next tick
	}
}

// consume counts a batch's flows, and says whether some went to a hot host or prefix.
func (d *Detector) consume(b *flow.Batch) bool {
	n := b.Len()
	if n == 0 {
		return false
	}
	late, noPkts, replayed := 0, 0, 0
	d.mu.Lock()
	nowSec := d.clockLocked(b)
	catchingUp := d.catchUpLocked(b, nowSec)
	d.batchReplay = catchingUp
	sc := &d.sc
	nowIdx := nowSec % d.w
	if cap(d.batchSlots) < n {
		d.batchSlots = make([][2]uint32, n)
	}
	d.batchSlots = d.batchSlots[:n]
	var f flowVol
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		d.prepare(b, lo, hi, nowSec, nowIdx)
		for i := lo; i < hi; i++ {
			j := i - lo
			dg, sg := sc.dstG[j], sc.srcG[j]
			if dg < 0 && sg < 0 {
				continue
			}
			if b.Packets[i] == 0 {
				noPkts++
				continue
			}
			if catchingUp && b.StartMs[i] == b.EndMs[i] && b.EndMs[i] == b.ReceivedMs[i] {
				replayed++ // stamped on arrival while the collector receives the past
				continue
			}
			if !d.volume(b, i, nowSec, nowIdx, &f) {
				late++
				continue
			}
			if sc.hasPeer[j] {
				f.ph, f.pl, f.hasSrc, f.peer, f.hashed = sc.ph[j], sc.pl[j], true, sc.peer[j], true
			}
			if dg >= 0 {
				dh, dl := sc.dh[j], sc.dl[j]
				ch, cl := d.carpetWords(dh, dl)
				f.member = sc.hash[j]
				d.track(b, &f, key{dh, dl, 0}, sc.slot[j][0], dg, dh, dl, nowSec)
				d.track(b, &f, key{ch, cl, tagPrefix}, sc.slot[j][1], dg, dh, dl, nowSec)
			} else {
				// Outgoing traffic is watched per outside target: a busy server of ours sending to
				// many clients is not an attack; one or many of our hosts flooding one target is.
				d.track(b, &f, key{sc.dh[j], sc.dl[j], tagOutgoing | tagTarget}, sc.slot[j][0], sg, sc.sh[j], sc.sl[j], nowSec)
			}
		}
	}
	hot := d.hotFlows
	d.hotFlows = false
	d.mu.Unlock()
	d.flows.Add(float64(n))
	if late > 0 {
		d.dropLate.Add(float64(late))
	}
	if noPkts > 0 {
		d.dropNoPkts.Add(float64(noPkts))
	}
	if replayed > 0 {
		d.dropReplay.Add(float64(replayed))
	}
	return hot
}

// prepare fills the scratch columns for records lo to hi of b: hostgroups, address words and
// first-stage slots, each slot read once so that the misses of the whole chunk overlap.
func (d *Detector) prepare(b *flow.Batch, lo, hi int, nowSec, nowIdx uint32) {
	sc := &d.sc
	nd := 0
	// The columns only sketched flows read (one in sketchEvery of a detailed host's), here and
	// there in the chunk: read through in order, they stream in, instead of a miss each later.
	sc.sink += touch(unsafe.Pointer(&b.Exporter[lo]), uintptr(hi-lo)*unsafe.Sizeof(b.Exporter[0])) +
		touch(unsafe.Pointer(&b.SrcAS[lo]), uintptr(hi-lo)*4) + touch(unsafe.Pointer(&b.DstAS[lo]), uintptr(hi-lo)*4) +
		touch(unsafe.Pointer(&b.InIf[lo]), uintptr(hi-lo)*4)
	// The hostgroups: found by the enricher before (the same networks), or here.
	enriched := b.Groups == any(d.nets) && len(b.DstGroup) == b.Len() && len(b.SrcGroup) == b.Len()
	for i := lo; i < hi; i++ {
		j := i - lo
		dst := b.DstAddr[i].Unmap()
		var dg int32
		if enriched {
			dg = b.DstGroup[i] - 1
		} else {
			dg = d.table.lookup(dst)
		}
		sg := int32(-1)
		if d.cfg.Outgoing && dg < 0 && classify(b.Proto[i], b.TCPFlags[i], b.SrcPort[i], b.DstPort[i])&^notFlood != 0 {
			// Internal traffic (both ends ours) is watched as incoming only; outgoing traffic
			// only when flood-like (see enoughSpread): our users' TCP sessions are not counted.
			if enriched {
				sg = b.SrcGroup[i] - 1
			} else {
				sg = d.table.lookup(b.SrcAddr[i].Unmap())
			}
		}
		sc.dstG[j], sc.srcG[j] = dg, sg
		if dg < 0 && sg < 0 {
			d.batchSlots[i] = [2]uint32{noSlot, noSlot}
			continue
		}
		dh, dl := addrWords(dst)
		sc.dh[j], sc.dl[j] = dh, dl
		var s0, s1 uint32
		if dg >= 0 {
			ch, cl := d.carpetWords(dh, dl)
			h := hash128(dh, dl)
			sc.hash[j] = h
			s0 = uint32(h & d.pmask)
			s1 = uint32(hash128(ch, cl^tagPrefix) & d.pmask)
			prefetch(unsafe.Pointer(&d.press[s1]))
		} else {
			s0, s1 = uint32(hash128(dh, dl^(tagOutgoing|tagTarget))&d.pmask), noSlot
			sc.sh[j], sc.sl[j] = addrWords(b.SrcAddr[i].Unmap()) // our host
		}
		sc.slot[j] = [2]uint32{s0, s1}
		d.batchSlots[i] = sc.slot[j]
		prefetch(unsafe.Pointer(&d.press[s0]))
		sc.todo[nd] = uint16(j)
		nd++
	}
	// The slots have come in meanwhile: prefetch the detailed states they lead to, the ring row
	// of the second the record ends in, and the register of its source's distinct count.
	for _, j := range sc.todo[:nd] {
		sc.hasPeer[j] = false
		for _, s := range sc.slot[j] {
			if s == noSlot {
				continue
			}
			if v := d.press[s]; v&slotHeld != 0 && v&ownerMask != 0 {
				i := lo + int(j)
				dt := d.dets[v&ownerMask-1]
				prefetch(unsafe.Pointer(dt))
				if row := ringRow(nowIdx, uint32(b.EndMs[i]/1000), nowSec, d.w); row < d.w {
					prefetch(unsafe.Pointer(dt.row(row)))
				}
				// The source's register of the distinct count, hashed once for both states.
				if !sc.hasPeer[j] {
					sc.ph[j], sc.pl[j] = addrWords(b.SrcAddr[i].Unmap())
					sc.peer[j], sc.hasPeer[j] = hashPeer(sc.ph[j], sc.pl[j]), true
				}
				prefetch(unsafe.Pointer(dt.peerHLL.at(sc.peer[j])))
			}
		}
	}
}

// catchUpLocked tells whether the collector is receiving the past (a replay at full speed, a
// backlog read after an outage): the records that carry their own time (NetFlow, IPFIX) have
// been, over the last seconds, mostly more than replayLag behind the clock. Records stamped on
// arrival (sFlow: start = end = received) are then set apart: their time is not theirs.
func (d *Detector) catchUpLocked(b *flow.Batch, nowSec uint32) bool {
	if d.cfg.FlowClock {
		return false
	}
	d.decayCatchUpLocked(nowSec)
	bound := int64(nowSec)*1000 - d.cfg.ReplayLag.Milliseconds()
	past, live := 0, 0
	for i, e := range b.EndMs {
		if b.StartMs[i] == e && e == b.ReceivedMs[i] {
			continue
		}
		if e < bound {
			past++
		} else {
			live++
		}
	}
	d.pastScore += float64(past)
	d.liveScore += float64(live)
	return d.pastScore > d.liveScore && d.pastScore >= catchUpMin
}

// decayCatchUpLocked ages the catch-up counts to nowSec (half-life 2 s).
func (d *Detector) decayCatchUpLocked(nowSec uint32) {
	if nowSec <= d.catchSec {
		return
	}
	decay := math.Pow(0.5, float64(nowSec-d.catchSec)/2)
	d.pastScore *= decay
	d.liveScore *= decay
	d.catchSec = nowSec
}

// catchUpMin is how many records far in the past (decayed) make a catch-up: a stray one is not.
const catchUpMin = 100

// carpetWords is the carpet-bombing aggregate (the /24 or /64) holding the address of key words
// hi, lo.
func (d *Detector) carpetWords(hi, lo uint64) (uint64, uint64) {
	if hi == 0 && lo>>32 == 0xffff { // IPv4, mapped
		return hi, lo & d.maskV4
	}
	return hi & d.maskV6hi, lo & d.maskV6lo
}

// clockLocked is the current unix second: the wall clock's, or with FlowClock the newest flow
// end seen (b's included when b is not nil).
func (d *Detector) clockLocked(b *flow.Batch) uint32 {
	if !d.cfg.FlowClock {
		return uint32(d.now().Unix())
	}
	if b != nil {
		newest := int64(0)
		for _, e := range b.EndMs {
			newest = max(newest, e)
		}
		if s := uint32(newest / 1000); s > d.flowSec {
			d.flowSec = s
		}
	}
	return d.flowSec
}

// flowVol is one flow's volume, whole, and the seconds it covers.
type flowVol struct {
	i                 int
	s0, s1            uint32
	first, row        uint32 // the first second the ring holds (s0, or later for long flows), its row
	mask              kindMask
	hashed            bool
	bits, pkts, flows float64
	// The share of its volume in each second it covers, by the time it spent there: head in
	// s0, tail in s1, perSec in each second between (and at least head and tail: the pressure
	// test's per-second figure).
	perSec, head, tail float64
	// Hashes for the distinct counts: the peer's (once hashed), and our host's.
	peer, member uint64
	// The source's address words (the peer of incoming and outgoing traffic alike), once read.
	ph, pl uint64
	hasSrc bool
}

// seconds is the span of unix seconds a flow covers, and its start and end in milliseconds,
// clipped to what the ring holds; a flow stamped in the future (a skewed exporter clock) is moved
// back to its arrival; a flow ending on a second's first millisecond spent no time in it (unless
// it lasted no time at all); ok is false for a flow wholly older than the ring.
func (d *Detector) seconds(startMs, endMs, recvMs int64, nowSec uint32) (s0, s1 uint32, fromMs, toMs int64, ok bool) {
	if endMs < startMs {
		startMs, endMs = endMs, startMs
	}
	if !d.cfg.FlowClock && recvMs > 0 && endMs > recvMs+2000 {
		shift := endMs - recvMs
		startMs, endMs = startMs-shift, endMs-shift
	}
	if startMs < 0 {
		startMs = 0
	}
	if endMs < 0 {
		endMs = 0
	}
	if endMs > startMs && endMs%1000 == 0 && endMs-1000 >= startMs {
		endMs-- // its last second is the one before
	}
	a, z := uint32(startMs/1000), uint32(endMs/1000)
	if z > nowSec+1 {
		z = nowSec + 1
		endMs = int64(z)*1000 + 999
		if a > z {
			a, startMs = z, int64(z)*1000
		}
	}
	if z+d.w <= nowSec {
		return 0, 0, 0, 0, false
	}
	return a, z, startMs, endMs, true
}

// spread sets the flow's share in each second it covers (s0 < s1), from startMs to endMs: its
// volume is taken to flow evenly over that time, so a second gets the part of the flow's time
// spent in it. (Spread evenly over the seconds instead, a 2-second flow from x.9 to x+2.9 would
// show two thirds of its rate in each of three seconds.)
func (f *flowVol) spread(startMs, endMs int64) {
	span := float64(endMs - startMs)
	if span <= 0 { // cannot happen with s0 < s1; evenly, then
		f.perSec = 1 / float64(f.s1-f.s0+1)
		f.head, f.tail = f.perSec, f.perSec
		return
	}
	f.head = float64(int64(f.s0+1)*1000-startMs) / span
	f.tail = float64(endMs-int64(f.s1)*1000) / span
	f.perSec = max(1000/span, f.head, f.tail)
	if f.s1 == f.s0+1 {
		f.perSec = max(f.head, f.tail)
	}
}

func (k key) addr() netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], k.hi)
	binary.BigEndian.PutUint64(b[8:], k.lo)
	return netip.AddrFrom16(b).Unmap()
}

// track counts one flow for one host or prefix (key k, first-stage slot si): its pressure only,
// until it comes near a threshold; then its detailed state. mh, ml are our host's address words
// (the flow's source, its peer, is read only for a detailed state).
func (d *Detector) track(b *flow.Batch, f *flowVol, k key, si uint32, group int32, mh, ml uint64, nowSec uint32) {
	ps := si // the slot that holds its pressure
	if v := d.press[si]; v&slotHeld != 0 {
		if o := v & ownerMask; o != 0 {
			if dt := d.dets[o-1]; dt.key == k {
				dt.lastSec = nowSec
				d.hotFlows = d.hotFlows || dt.hot
				dt.add(b, f, d.w, k.tag, mh, ml)
				return
			}
		}
		if v>>extraShift&extraMax != 0 {
			if di, ok := d.byKey[k]; ok { // detailed, but another holds the slot
				dt := d.dets[di]
				dt.lastSec = nowSec
				d.hotFlows = d.hotFlows || dt.hot
				dt.add(b, f, d.w, k.tag, mh, ml)
				return
			}
		}
		if ps = d.besideHeld(si); ps == noSlot {
			return // its slot's whole cache line held: its pressure is not counted
		}
	}
	v := d.press[ps]
	if sec := nowSec & pressSecMask; v>>pressSecShift != sec {
		v = sec << pressSecShift
	}
	if v>>pressRecShift&3 < 3 {
		v += 1 << pressRecShift
	}
	inv := &d.inv[group][(k.tag&tagPrefix)>>1]
	p := 0.0
	for m := f.mask; m != 0; m &= m - 1 {
		t := &inv[bits.TrailingZeros16(uint16(m))]
		p = max(p, f.bits*t[enrich.MetricBps], f.pkts*t[enrich.MetricPps], f.flows*t[enrich.MetricFlows])
	}
	// Rounded up: many small records cannot add up to nothing.
	inc := uint32(min(math.Ceil(p*f.perSec*pressUnit), pressMax))
	v = v&^pressMax | min(v&pressMax+inc, pressMax)
	d.press[ps] = v
	if v&pressMax < d.preUnits || v>>pressRecShift&3 < minRecords {
		return
	}
	di, ok := d.promote(k, int(group), si, nowSec)
	if !ok {
		return
	}
	if ps != si {
		d.press[ps] = v &^ pressMax
	}
	d.recount(b, f.i, k, si, d.dets[di], nowSec)
	d.dets[di].add(b, f, d.w, k.tag, mh, ml)
}

// besideHeld is the slot that holds the pressure of the keys hashed to slot si when a detailed
// state holds si: the first of the others in its cache line not held, noSlot if none.
func (d *Detector) besideHeld(si uint32) uint32 {
	for x := uint32(1); x < 16 && uint64(x) <= d.pmask; x++ {
		if d.press[si^x]&slotHeld == 0 {
			return si ^ x
		}
	}
	return noSlot
}

// recount gives a host or prefix just promoted (key k, first-stage slot si) the records of the
// batch before record upto that went to it: they raised its pressure but were not counted in
// detail. (Those of earlier batches are lost: the first stage keeps a pressure, not volumes; they
// can only delay an alert.) A linear pass over the batch's slots, at a promotion only.
func (d *Detector) recount(b *flow.Batch, upto int, k key, si uint32, dt *detail, nowSec uint32) {
	which := 0
	if k.tag == tagPrefix {
		which = 1
	}
	nowIdx := nowSec % d.w
	for i, sl := range d.batchSlots[:upto] {
		if sl[which] != si {
			continue
		}
		dst := b.DstAddr[i].Unmap()
		dh, dl := addrWords(dst)
		mh, ml := dh, dl // our host: the destination, or of outgoing traffic the source
		switch k.tag {
		case 0:
			if dh != k.hi || dl != k.lo {
				continue
			}
		case tagPrefix:
			if ch, cl := d.carpetWords(dh, dl); ch != k.hi || cl != k.lo || d.table.lookup(dst) < 0 {
				continue
			}
		default: // an outside target of outgoing traffic; the slot says the record is outgoing
			if dh != k.hi || dl != k.lo || d.table.lookup(dst) >= 0 {
				continue
			}
			mh, ml = addrWords(b.SrcAddr[i].Unmap())
		}
		if b.Packets[i] == 0 || d.batchReplay && b.StartMs[i] == b.EndMs[i] && b.EndMs[i] == b.ReceivedMs[i] {
			continue // not counted (see consume)
		}
		var f flowVol
		if !d.volume(b, i, nowSec, nowIdx, &f) {
			continue
		}
		if k.tag&tagOutgoing == 0 {
			f.member = hash128(dh, dl)
		}
		dt.add(b, &f, d.w, k.tag, mh, ml)
	}
}

// noSlot marks, in batchSlots, a record that has no first-stage slot (or no second one).
const noSlot = ^uint32(0)

// volume sets f to record i's volume and the seconds it covers, its source not yet read (f may
// hold another record's); false when it is older than the ring.
func (d *Detector) volume(b *flow.Batch, i int, nowSec, nowIdx uint32, f *flowVol) bool {
	s0, s1, startMs, endMs, ok := d.seconds(b.StartMs[i], b.EndMs[i], b.ReceivedMs[i], nowSec)
	if !ok {
		return false
	}
	rate := uint64(b.SamplingRate[i])
	if rate == 0 {
		rate = 1
	}
	// Field by field: a composite literal is built aside and copied, which stalls on the copy.
	f.i, f.s0, f.s1 = i, s0, s1
	f.mask = classify(b.Proto[i], b.TCPFlags[i], b.SrcPort[i], b.DstPort[i])
	f.bits, f.pkts, f.flows = float64(b.Bytes[i]*rate)*8, float64(b.Packets[i]*rate), float64(rate)
	f.perSec, f.head, f.tail = 1, 1, 1
	f.hashed, f.hasSrc = false, false
	if p := b.Packets[i]; p > 1 { // flows from sampled packets: never more than the packets
		f.flows = max(1, f.flows/float64(p))
	}
	if s1 != s0 {
		f.spread(startMs, endMs)
	}
	// The first second the ring can hold, and its row, without a division.
	f.first = s0
	if s1 >= d.w && f.first < s1-d.w+1 {
		f.first = s1 - d.w + 1
	}
	f.row = ringRow(nowIdx, f.first, nowSec, d.w)
	return true
}

// minRecords is how many records a host needs in one second to be tracked in detail: one sampled
// record is weak evidence (at 1:1000, one packet counts as a thousand).
const minRecords = 2

// promote gives a host or prefix a detailed state, taking it from the idlest one not under attack
// when all are used.
func (d *Detector) promote(k key, group int, slot uint32, nowSec uint32) (int32, bool) {
	var di int32
	switch {
	case len(d.freeDets) > 0:
		di = d.freeDets[len(d.freeDets)-1]
		d.freeDets = d.freeDets[:len(d.freeDets)-1]
	case len(d.dets) < d.cfg.MaxDetailed:
		d.dets = append(d.dets, newDetail(&d.blocks, len(d.dets), d.w))
		di = int32(len(d.dets) - 1)
	case d.fullSec == nowSec:
		d.dropped.WithLabelValues("detail-cap").Inc()
		return 0, false
	default:
		di = -1
		var oldest uint32 = math.MaxUint32
		for i, dt := range d.dets {
			if dt.inUse && !dt.attacking && dt.lastSec < oldest && dt.lastSec+2 < nowSec {
				oldest, di = dt.lastSec, int32(i)
			}
		}
		if di < 0 {
			d.fullSec = nowSec
			d.dropped.WithLabelValues("detail-cap").Inc()
			return 0, false
		}
		d.release(di)
	}
	dt := d.dets[di]
	dt.reset(nowSec)
	dt.key, dt.group, dt.pslot, dt.lastSec = k, uint16(group), slot, nowSec
	d.byKey[k] = di
	switch v := &d.press[slot]; {
	case *v&slotHeld == 0: // its pressure is forgotten
		*v = slotHeld | uint32(di) + 1
	case *v&ownerMask == 0:
		*v |= uint32(di) + 1
	case *v>>extraShift&extraMax < extraMax:
		*v += 1 << extraShift
	}
	d.promotion.Inc()
	return di, true
}

// demote returns a detailed state to the free list.
func (d *Detector) demote(di int32) {
	d.release(di)
	d.freeDets = append(d.freeDets, di)
}

// release detaches a detailed state from its host.
func (d *Detector) release(di int32) {
	dt := d.dets[di]
	switch v := &d.press[dt.pslot]; {
	case *v&ownerMask == uint32(di)+1:
		*v &^= ownerMask
	case *v>>extraShift&extraMax != 0 && *v>>extraShift&extraMax < extraMax: // saturated: stays so
		*v -= 1 << extraShift
	}
	if d.press[dt.pslot] == slotHeld {
		d.press[dt.pslot] = 0
	}
	delete(d.byKey, dt.key)
	dt.inUse = false
}
