package ddos

import (
	"encoding/binary"
	"math/bits"
	"net/netip"

	"yocho/internal/enrich"
	"yocho/internal/flow"
)

// Sizes of the sketches of a detailed host.
const (
	topPeers    = 32
	topPorts    = 16
	topSmall    = 8
	hllPeers    = 10 // 1024 registers: ±3 %
	hllMembers  = 8
	sampleFlows = 8
	sketchEvery = 8  // one flow in this many feeds the top-K sketches of a host near a threshold or attacked
	sketchIdle  = 64 // and of one far below its thresholds (most detailed states, most of the time)
)

// sizeBuckets are the upper bounds of the packet-size profile (average bytes per packet).
func sizeBuckets() [7]int { return [7]int{64, 128, 256, 512, 1024, 1500, 65535} }

const cells = int(enrich.NumKinds) * int(enrich.NumMetrics)

// detail is the state of a host or prefix near a threshold: volumes by second, kind and metric
// over the ring, sketches of who sends it, and the attack under way if any. About 16 KB, most of
// it in its block (see detBlock).
type detail struct {
	// What every flow touches, first (two cache lines).
	key       key
	lastSec   uint32 // unix second of its last flow
	attacking bool
	hot       bool // near a threshold and not attacked: its flows call for an evaluation
	inUse     bool
	group     uint16
	seen      uint64
	ring      []second // its rows in its block: that of second % w at ring[second%w*blockDets]
	peerHLL   hll
	memberHLL hll

	pslot uint32 // its slot in the first stage
	since uint32
	// sketchSince is when the sketches were last reset.
	sketchSince uint32

	raised       bool // its alert was raised (not folded into its prefix's carpet alert)
	overNow      bool // over a threshold in the last seconds
	alertKey     string
	vector       enrich.Kind // the attack's, as last judged
	firstOver    uint32
	lastOver     uint32
	endedAt      uint32 // last over second of the previous attack: a new one starts after it
	lastReported uint32

	*sketches // what one flow in sketchEvery (far below the thresholds: sketchIdle) touches
}

// sketches are who sends a detailed host or prefix what.
type sketches struct {
	pend                                                    [sketchBatch]sketchItem
	nPend                                                   int
	peers, sports, dports, asns, exporters, ifaces, members topK
	sizes                                                   [7]float64
	sketched                                                float64 // packets, weighed, the sketches counted
	samples                                                 [sampleFlows]flow.Record
	nSamples                                                int
}

// blockDets is how many detailed states a detBlock holds.
const blockDets = 64

// detBlock is the memory of blockDets detailed states, laid out so that what the flows of one
// second touch sits in few pages (a miss in the TLB costs as much as one in the cache): the
// states' heads side by side, the ring rows of one second of every state side by side, the
// distinct counts' registers side by side; the sketches, touched by one flow in sketchEvery or
// sketchIdle, apart.
type detBlock struct {
	dets  [blockDets]detail
	rows  []second // [second % w][state]
	peers []uint8  // [state][1 << hllPeers]
	membs []uint8  // [state][1 << hllMembers]
	sk    [blockDets]sketches
}

// newDetail returns the next detailed state of blocks (the n-th made), adding a block when the
// last one is full.
func newDetail(blocks *[]*detBlock, n int, w uint32) *detail {
	k := n % blockDets
	if k == 0 {
		*blocks = append(*blocks, &detBlock{rows: make([]second, int(w)*blockDets),
			peers: make([]uint8, blockDets<<hllPeers), membs: make([]uint8, blockDets<<hllMembers)})
	}
	blk := (*blocks)[len(*blocks)-1]
	dt, sk := &blk.dets[k], &blk.sk[k]
	*sk = sketches{peers: newTopK(topPeers), sports: newTopK(topPorts), dports: newTopK(topPorts),
		asns: newTopK(topPorts), exporters: newTopK(topSmall), ifaces: newTopK(topSmall), members: newTopK(2 * topPeers)}
	*dt = detail{ring: blk.rows[k:], sketches: sk,
		peerHLL:   hll{p: hllPeers, reg: blk.peers[k<<hllPeers : (k+1)<<hllPeers]},
		memberHLL: hll{p: hllMembers, reg: blk.membs[k<<hllMembers : (k+1)<<hllMembers]}}
	return dt
}

// row is the ring row at index i (a second mod the ring's length).
func (dt *detail) row(i uint32) *second { return &dt.ring[int(i)*blockDets] }

func (dt *detail) reset(nowSec uint32) {
	dt.inUse, dt.since = true, nowSec
	for i := 0; i < len(dt.ring); i += blockDets {
		dt.ring[i] = second{}
	}
	dt.resetSketches(nowSec)
	dt.attacking, dt.hot, dt.raised, dt.alertKey, dt.vector = false, false, false, "", enrich.KindTotal
	dt.firstOver, dt.lastOver, dt.endedAt, dt.lastReported = 0, 0, 0, 0
}

// resetSketches forgets who sent what: at promotion, and periodically while not attacked.
func (dt *detail) resetSketches(nowSec uint32) {
	dt.sketchSince = nowSec
	for _, t := range []*topK{&dt.peers, &dt.sports, &dt.dports, &dt.asns, &dt.exporters, &dt.ifaces, &dt.members} {
		t.reset()
	}
	dt.peerHLL.reset()
	dt.memberHLL.reset()
	dt.sizes = [7]float64{}
	dt.nPend = 0
	dt.nSamples, dt.seen, dt.sketched = 0, 0, 0
}

// second is a ring row: the volumes of one second by kind and metric (bits, packets, flows),
// and which second it holds, in the same cache lines.
type second struct {
	at uint32
	v  [cells]float32
}

// slotAt returns the ring cells of second s, at index i (s mod the ring's length), clearing a
// slot that held an older second; nil when the slot holds a newer second (s is too old).
func (dt *detail) slotAt(s, i uint32) *[cells]float32 {
	r := dt.row(i)
	switch {
	case r.at == s:
	case r.at < s:
		*r = second{at: s}
	default:
		return nil
	}
	return &r.v
}

// cell reads second s's value of kind k and metric m, 0 if the ring no longer holds it.
func (dt *detail) cell(s, w uint32, k enrich.Kind, m enrich.Metric) float64 {
	r := dt.row(s % w)
	if r.at != s {
		return 0
	}
	return float64(r.v[int(k)*int(enrich.NumMetrics)+int(m)])
}

// add counts one flow: its volume spread over the seconds it lasted, then the sketches. The
// peer is the flow's source (the sender of incoming traffic; of outgoing traffic, our host that
// floods the target); mh, ml is our host (for a prefix: which of its hosts).
func (dt *detail) add(b *flow.Batch, f *flowVol, w uint32, tag uint8, mh, ml uint64) {
	// Per second between the first and the last; the first and last get their own shares.
	bitsPer, pktsPer, flowsPer := float32(f.bits*f.perSec), float32(f.pkts*f.perSec), float32(f.flows*f.perSec)
	// The kinds' offsets in a row, once for all the seconds (a flow is of three kinds at most).
	var ks [enrich.NumKinds]int
	nk := 0
	for m := f.mask; m != 0; m &= m - 1 {
		ks[nk] = bits.TrailingZeros16(uint16(m)) * int(enrich.NumMetrics)
		nk++
	}
	for s, i := f.first, f.row; s <= f.s1; s, i = s+1, i+1 {
		if i == w {
			i = 0
		}
		c := dt.slotAt(s, i)
		if c == nil {
			continue
		}
		bs, ps, fs := bitsPer, pktsPer, flowsPer
		if f.s0 != f.s1 && (s == f.s0 || s == f.s1) {
			sh := f.head
			if s != f.s0 {
				sh = f.tail
			}
			bs, ps, fs = float32(f.bits*sh), float32(f.pkts*sh), float32(f.flows*sh)
		}
		for _, k := range ks[:nk] {
			c := c[k : k+3]
			c[0] += bs
			c[1] += ps
			c[2] += fs
		}
	}
	i := f.i
	if !f.hasSrc { // once a flow, shared by its host and prefix
		f.ph, f.pl = addrWords(b.SrcAddr[i].Unmap())
		f.hasSrc = true
	}
	ph, pl := f.ph, f.pl
	bytes := f.bits / 8
	if !f.hashed { // once a flow, shared by its host and prefix
		f.peer, f.hashed = hashPeer(ph, pl), true
	}
	dt.peerHLL.add(f.peer)
	switch {
	case tag&tagTarget != 0: // our host is the peer
		dt.memberHLL.add(f.peer)
	case tag&tagPrefix != 0:
		dt.memberHLL.add(f.member)
	}
	dt.seen++
	// The top-K sketches see one flow in sketchEvery, weighed as many: heavy hitters stay heavy,
	// at a fraction of the cost (at the rates that make an attack, hundreds of flows a second).
	// Far below its thresholds (not hot: under hotShare of each), a host's sketches only keep "who
	// sends" roughly current, and see one flow in sketchIdle; an evaluation makes a host hot at
	// most EvaluateEvery after its traffic rises.
	every := uint64(sketchEvery)
	if !dt.hot && !dt.attacking {
		every = sketchIdle
	}
	if dt.seen%every != 1 {
		return
	}
	weight := float64(every)
	as := b.SrcAS[i]
	if tag&tagOutgoing != 0 {
		as = b.DstAS[i]
	}
	eh, el := addrWords(b.Exporter[i])
	dt.pend[dt.nPend] = sketchItem{ph: ph, pl: pl, mh: mh, ml: ml, eh: eh, el: el,
		wp: f.pkts * weight, wb: bytes * weight, sport: b.SrcPort[i], dport: b.DstPort[i], as: as, inIf: b.InIf[i],
		avg: b.Bytes[i] / b.Packets[i]}
	if dt.nPend++; dt.nPend == len(dt.pend) {
		dt.flushSketches()
	}
	// Sample flows: the first ones, then one in 32 sketched, so that a flood costs few copies.
	if dt.nSamples < sampleFlows || dt.seen%256 == 1 {
		dt.samples[dt.nSamples%sampleFlows] = b.Record(i)
		dt.nSamples++
	}
}

// sketchItem is a sampled flow waiting to be counted in the sketches.
type sketchItem struct {
	ph, pl, mh, ml, eh, el uint64 // peer, member, exporter
	wp, wb                 float64
	avg                    uint64 // bytes per packet
	as, inIf               uint32
	sport, dport           uint16
}

// sketchBatch is how many sampled flows wait before the sketches count them, each sketch for all
// of them in turn: one cache miss on a sketch for many flows, not one a flow.
const sketchBatch = 16

// flushSketches counts the waiting sampled flows in the sketches. Evaluate calls it before it
// reads them.
func (dt *detail) flushSketches() {
	items := dt.pend[:dt.nPend]
	dt.nPend = 0
	if len(items) == 0 {
		return
	}
	for k := range items {
		it := &items[k]
		dt.peers.add(it.ph, it.pl, 0, it.wp, it.wb)
		dt.sketched += it.wp
	}
	for k := range items {
		it := &items[k]
		dt.sports.add(uint64(it.sport), 0, 0, it.wp, it.wb)
	}
	for k := range items {
		it := &items[k]
		dt.dports.add(uint64(it.dport), 0, 0, it.wp, it.wb)
	}
	for k := range items {
		it := &items[k]
		dt.asns.add(uint64(it.as), 0, 0, it.wp, it.wb)
	}
	for k := range items {
		it := &items[k]
		dt.exporters.add(it.eh, it.el, 0, it.wp, it.wb)
		dt.ifaces.add(it.eh, it.el, it.inIf, it.wp, it.wb)
	}
	if dt.key.tag&(tagPrefix|tagTarget) != 0 {
		for k := range items {
			it := &items[k]
			dt.members.add(it.mh, it.ml, 0, it.wp, it.wb)
		}
	}
	for k := range items {
		it := &items[k]
		for j, up := range sizeBuckets() {
			if it.avg <= uint64(up) || j == len(dt.sizes)-1 {
				dt.sizes[j] += it.wp
				break
			}
		}
	}
}

// addrWords is an address as two big-endian words; IPv4 addresses as IPv4-mapped.
func addrWords(a netip.Addr) (hi, lo uint64) {
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

func wordsAddr(hi, lo uint64) netip.Addr { return key{hi: hi, lo: lo}.addr() }
