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
	"log/slog"
	"math"
	"math/bits"
	"net/netip"
	"sync"
	"time"

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
	inv  [][2]enrich.Thresholds
	sink Sink
	log  *slog.Logger
	now  func() time.Time
	w    uint32 // ring length in seconds

	mu sync.Mutex
	// press is the first stage, one slot per hashed host or prefix (several may share one, which
	// can only raise their pressure): the pressure of the current second, and the detailed state
	// of the host that holds the slot, if any. Fixed size whatever the traffic.
	press    []pslot
	pmask    uint64
	byKey    map[key]int32 // every detailed host or prefix
	dets     []*detail
	freeDets []int32
	// fullSec is the last second a promotion found every detailed state busy: no other is tried
	// in that second, so that a flood of candidates costs no scan each.
	fullSec uint32
	// flowSec is the newest flow end seen, in unix seconds (FlowClock).
	flowSec uint32
	// learnedSec is the last second learned into the baselines.
	learnedSec uint32
	base       []baseline

	ticker detect.Ticker

	flows     prometheus.Counter
	dropped   *prometheus.CounterVec
	tracked   prometheus.GaugeFunc
	detailed  prometheus.GaugeFunc
	attacks   prometheus.GaugeFunc
	evalDur   prometheus.Histogram
	promotion prometheus.Counter
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

// pslot is one slot of the first stage (12 bytes).
type pslot struct {
	secRec   uint32 // low 24 bits: the second counted (mod 2^24); high 8 bits: records in it
	pressure float32
	det      int32 // index+1 of the detailed state holding this slot; 0: none
}

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
			Help: "Flows or parts of flows the DDoS detector could not count, by reason (late, no-packets, host-cap, detail-cap).",
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
	if reg != nil {
		reg.MustRegister(d.flows, d.dropped, d.tracked, d.detailed, d.attacks, d.evalDur, d.promotion)
	}
	slots := uint64(1)
	for slots < uint64(cfg.MaxHosts) {
		slots <<= 1
	}
	d.press, d.pmask = make([]pslot, slots), slots-1
	d.inv = make([][2]enrich.Thresholds, len(d.groups))
	d.base = make([]baseline, len(d.groups))
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

// Start evaluates every tracked host on a wall-clock ticker until ctx ends or Stop.
func (d *Detector) Start(ctx context.Context) error {
	d.ticker.Start(ctx, d.cfg.EvaluateEvery, d.Evaluate)
	return nil
}

// Stop ends the ticker.
func (d *Detector) Stop() { d.ticker.Stop() }

// Consume counts a batch's flows. It keeps nothing of the batch.
func (d *Detector) Consume(b *flow.Batch) {
	n := b.Len()
	if n == 0 {
		return
	}
	late := 0
	d.mu.Lock()
	nowSec := d.clockLocked(b)
	for i := 0; i < n; i++ {
		if b.Packets[i] == 0 {
			d.dropped.WithLabelValues("no-packets").Inc()
			continue
		}
		dstG := d.nets.Lookup(b.DstAddr[i])
		var srcG *enrich.Hostgroup
		if d.cfg.Outgoing {
			srcG = d.nets.Lookup(b.SrcAddr[i])
		}
		if dstG == nil && srcG == nil {
			continue
		}
		s0, s1, ok := d.seconds(b.StartMs[i], b.EndMs[i], b.ReceivedMs[i], nowSec)
		if !ok {
			late++
			continue
		}
		rate := uint64(b.SamplingRate[i])
		if rate == 0 {
			rate = 1
		}
		f := flowVol{
			i: i, s0: s0, s1: s1,
			mask:  classify(b.Proto[i], b.TCPFlags[i], b.SrcPort[i], b.DstPort[i]),
			bits:  float64(b.Bytes[i]*rate) * 8,
			pkts:  float64(b.Packets[i] * rate),
			flows: max(1, float64(rate)/float64(b.Packets[i])),
		}
		if dstG != nil {
			dst := b.DstAddr[i].Unmap()
			d.track(b, &f, dst, 0, dstG.Index, b.SrcAddr[i], dst, nowSec)
			d.track(b, &f, d.carpet(dst), tagPrefix, dstG.Index, b.SrcAddr[i], dst, nowSec)
		}
		if srcG != nil {
			src := b.SrcAddr[i].Unmap()
			// Outgoing traffic is watched per outside target: a busy server of ours sending to
			// many clients is not an attack; one or many of our hosts flooding one target is.
			if dstG == nil {
				d.track(b, &f, b.DstAddr[i].Unmap(), tagOutgoing|tagTarget, srcG.Index, src, src, nowSec)
			}
		}
	}
	d.mu.Unlock()
	d.flows.Add(float64(n))
	if late > 0 {
		d.dropped.WithLabelValues("late").Add(float64(late))
	}
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
	mask              kindMask
	bits, pkts, flows float64
}

// seconds is the span of unix seconds a flow covers, clipped to what the ring holds; a flow
// stamped in the future (a skewed exporter clock) is moved back to its arrival; ok is false for a
// flow wholly older than the ring.
func (d *Detector) seconds(startMs, endMs, recvMs int64, nowSec uint32) (s0, s1 uint32, ok bool) {
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
	a, z := uint32(startMs/1000), uint32(endMs/1000)
	if z > nowSec+1 {
		z = nowSec + 1
		if a > z {
			a = z
		}
	}
	if z+d.w <= nowSec {
		return 0, 0, false
	}
	return a, z, true
}

// carpet is the carpet-bombing aggregate holding a.
func (d *Detector) carpet(a netip.Addr) netip.Addr {
	bits := d.cfg.CarpetBitsV6
	if a.Is4() {
		bits = d.cfg.CarpetBitsV4
	}
	p, _ := a.Prefix(bits)
	return p.Addr()
}

func makeKey(a netip.Addr, tag uint8) key {
	b := a.As16()
	var k key
	for i := 0; i < 8; i++ {
		k.hi = k.hi<<8 | uint64(b[i])
		k.lo = k.lo<<8 | uint64(b[8+i])
	}
	k.tag = tag
	return k
}

func (k key) addr() netip.Addr {
	var b [16]byte
	for i := 0; i < 8; i++ {
		b[7-i] = byte(k.hi >> (8 * i))
		b[15-i] = byte(k.lo >> (8 * i))
	}
	return netip.AddrFrom16(b).Unmap()
}

// track counts one flow for one host or prefix: its pressure only, in a hashed slot, until it
// comes near a threshold; then its detailed state.
func (d *Detector) track(b *flow.Batch, f *flowVol, a netip.Addr, tag uint8, group int, peer, member netip.Addr, nowSec uint32) {
	k := makeKey(a, tag)
	si := hash128(k.hi, k.lo^uint64(tag)) & d.pmask
	sl := &d.press[si]
	if sl.det > 0 {
		if dt := d.dets[sl.det-1]; dt.key == k {
			dt.lastSec = nowSec
			dt.add(b, f, d.w, tag, peer, member)
			return
		}
	}
	if len(d.byKey) > 0 {
		if di, ok := d.byKey[k]; ok { // detailed, but another holds the slot
			dt := d.dets[di]
			dt.lastSec = nowSec
			dt.add(b, f, d.w, tag, peer, member)
			return
		}
	}
	sec := nowSec & 0xFFFFFF
	if sl.secRec&0xFFFFFF != sec {
		sl.secRec, sl.pressure = sec, 0
	}
	if sl.secRec>>24 < 255 {
		sl.secRec += 1 << 24
	}
	inv := &d.inv[group][(tag&tagPrefix)>>1]
	p := 0.0
	for m := f.mask; m != 0; m &= m - 1 {
		t := &inv[bits.TrailingZeros16(uint16(m))]
		p = max(p, f.bits*t[enrich.MetricBps], f.pkts*t[enrich.MetricPps], f.flows*t[enrich.MetricFlows])
	}
	sl.pressure += float32(p / float64(f.s1-f.s0+1))
	if float64(sl.pressure) < d.cfg.PreFactor || sl.secRec>>24 < minRecords {
		return
	}
	di, ok := d.promote(k, group, uint32(si), nowSec)
	if !ok {
		return
	}
	if sl.det == 0 {
		sl.det = di + 1
	}
	sl.pressure = 0
	d.dets[di].add(b, f, d.w, tag, peer, member)
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
		d.dets = append(d.dets, newDetail(d.w))
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
	if sl := &d.press[dt.pslot]; sl.det == di+1 {
		sl.det = 0
	}
	delete(d.byKey, dt.key)
	dt.inUse = false
}
