package ddos

import (
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
	sketchEvery = 8
)

// sizeBuckets are the upper bounds of the packet-size profile (average bytes per packet).
func sizeBuckets() [7]int { return [7]int{64, 128, 256, 512, 1024, 1500, 65535} }

const cells = int(enrich.NumKinds) * int(enrich.NumMetrics)

// detail is the state of a host or prefix near a threshold: volumes by second, kind and metric
// over the ring, sketches of who sends it, and the attack under way if any. About 16 KB.
type detail struct {
	inUse   bool
	key     key
	group   uint16
	pslot   uint32 // its slot in the first stage
	lastSec uint32 // unix second of its last flow
	since   uint32
	// sketchSince is when the sketches were last reset.
	sketchSince uint32
	ring        []float32 // [second % w][kind][metric]; bits, packets, flows
	ringSec     []uint32  // which second each slot holds

	peers, sports, dports, asns, exporters, ifaces, members topK
	peerHLL, memberHLL                                      hll
	sizes                                                   [7]float64
	samples                                                 [sampleFlows]flow.Record
	nSamples                                                int
	seen                                                    uint64
	pkts, bytes                                             float64

	attacking    bool
	overNow      bool // over a threshold in the last seconds
	alertKey     string
	vector       enrich.Kind // the attack's, as last judged
	firstOver    uint32
	lastOver     uint32
	endedAt      uint32 // last over second of the previous attack: a new one starts after it
	lastReported uint32
}

func newDetail(w uint32) *detail {
	return &detail{
		ring: make([]float32, int(w)*cells), ringSec: make([]uint32, w),
		peers: newTopK(topPeers), sports: newTopK(topPorts), dports: newTopK(topPorts),
		asns: newTopK(topPorts), exporters: newTopK(topSmall), ifaces: newTopK(topSmall),
		members: newTopK(2 * topPeers), peerHLL: newHLL(hllPeers), memberHLL: newHLL(hllMembers),
	}
}

func (dt *detail) reset(nowSec uint32) {
	dt.inUse, dt.since = true, nowSec
	clear(dt.ring)
	clear(dt.ringSec)
	dt.resetSketches(nowSec)
	dt.attacking, dt.alertKey, dt.vector = false, "", enrich.KindTotal
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
	dt.nSamples, dt.seen, dt.pkts, dt.bytes = 0, 0, 0, 0
}

// slot returns the ring cells of second s, clearing a slot that held an older second; nil when the
// slot holds a newer second (s is too old).
func (dt *detail) slot(s, w uint32) []float32 {
	i := s % w
	switch held := dt.ringSec[i]; {
	case held == s:
	case held < s:
		dt.ringSec[i] = s
		clear(dt.ring[int(i)*cells : int(i+1)*cells])
	default:
		return nil
	}
	return dt.ring[int(i)*cells : int(i+1)*cells]
}

// cell reads second s's value of kind k and metric m, 0 if the ring no longer holds it.
func (dt *detail) cell(s, w uint32, k enrich.Kind, m enrich.Metric) float64 {
	i := s % w
	if dt.ringSec[i] != s {
		return 0
	}
	return float64(dt.ring[int(i)*cells+int(k)*int(enrich.NumMetrics)+int(m)])
}

// add counts one flow: its volume spread evenly over the seconds it lasted, then the sketches.
// peer is the other side (the source of incoming traffic, the target of outgoing); member is our
// host (for a prefix: which of its hosts).
func (dt *detail) add(b *flow.Batch, f *flowVol, w uint32, tag uint8, peer, member netip.Addr) {
	span := float32(f.s1 - f.s0 + 1)
	bitsPer, pktsPer, flowsPer := float32(f.bits)/span, float32(f.pkts)/span, float32(f.flows)/span
	first := f.s0
	if f.s1 >= w && first < f.s1-w+1 {
		first = f.s1 - w + 1
	}
	for s := first; s <= f.s1; s++ {
		c := dt.slot(s, w)
		if c == nil {
			continue
		}
		for m := f.mask; m != 0; m &= m - 1 {
			k := int(trailingZeros(m)) * int(enrich.NumMetrics)
			c[k] += bitsPer
			c[k+1] += pktsPer
			c[k+2] += flowsPer
		}
	}
	i := f.i
	bytes := f.bits / 8
	dt.pkts += f.pkts
	dt.bytes += bytes
	ph, pl := addrWords(peer)
	dt.peerHLL.add(hash128(ph, pl))
	if tag&(tagPrefix|tagTarget) != 0 {
		mh, ml := addrWords(member)
		dt.memberHLL.add(hash128(mh, ml))
	}
	dt.seen++
	// The top-K sketches see every flow during an attack, one in sketchEvery (weighed as many)
	// before: heavy hitters stay heavy, at a fraction of the cost for busy hosts never attacked.
	weight := 1.0
	if !dt.attacking {
		if dt.seen%sketchEvery != 1 {
			return
		}
		weight = sketchEvery
	}
	wp, wb := f.pkts*weight, bytes*weight
	dt.peers.add(ph, pl, 0, wp, wb)
	dt.sports.add(uint64(b.SrcPort[i]), 0, 0, wp, wb)
	dt.dports.add(uint64(b.DstPort[i]), 0, 0, wp, wb)
	as := b.SrcAS[i]
	if tag&tagOutgoing != 0 {
		as = b.DstAS[i]
	}
	dt.asns.add(uint64(as), 0, 0, wp, wb)
	eh, el := addrWords(b.Exporter[i])
	dt.exporters.add(eh, el, 0, wp, wb)
	dt.ifaces.add(eh, el, b.InIf[i], wp, wb)
	if tag&(tagPrefix|tagTarget) != 0 {
		mh, ml := addrWords(member)
		dt.members.add(mh, ml, 0, wp, wb)
	}
	avg := int(b.Bytes[i] / b.Packets[i])
	for j, up := range sizeBuckets() {
		if avg <= up || j == len(dt.sizes)-1 {
			dt.sizes[j] += wp
			break
		}
	}
	// Sample flows: the first ones, then one in 32 sketched, so that a flood costs few copies.
	if dt.nSamples < sampleFlows || dt.seen%(32*sketchEvery) == 1 {
		dt.samples[dt.nSamples%sampleFlows] = b.Record(i)
		dt.nSamples++
	}
}

func trailingZeros(m kindMask) uint {
	n := uint(0)
	for m&1 == 0 {
		m >>= 1
		n++
	}
	return n
}

func addrWords(a netip.Addr) (hi, lo uint64) {
	k := makeKey(a.Unmap(), 0)
	return k.hi, k.lo
}

func wordsAddr(hi, lo uint64) netip.Addr { return key{hi: hi, lo: lo}.addr() }
