package simulate

import (
	"container/heap"
	"math"
	"net/netip"
	"time"

	"yocho/internal/flow"
)

func (g *Generator) at(d time.Duration) int64 { return g.startMs + d.Milliseconds() }

func (g *Generator) exporterIndexes(names []string) []int {
	if len(names) == 0 {
		all := make([]int, len(g.exps))
		for i := range all {
			all[i] = i
		}
		return all
	}
	var out []int
	for _, n := range names {
		for i, e := range g.sc.Exporters {
			if e.Name == n {
				out = append(out, i)
			}
		}
	}
	return out
}

func (g *Generator) exporterNames(idx []int) []string {
	out := make([]string, len(idx))
	for i, x := range idx {
		out[i] = g.sc.Exporters[x].Name
	}
	return out
}

// subscriberSet is n distinct subscriber host numbers, picked by a stride walk from a random
// offset: the same seed gives the same hosts.
func (g *Generator) subscriberSet(n int) []int {
	total := g.sc.Carrier.SubscriberHosts
	stride := 7919
	for gcd(stride, total) != 1 {
		stride += 2
	}
	off := g.r.intn(total)
	out := make([]int, n)
	for i := range out {
		out[i] = (off + i*stride) % total
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func (g *Generator) initEvents() error {
	for i := range g.sc.Benign.FlashCrowds {
		f := &g.sc.Benign.FlashCrowds[i]
		st := &flashState{cfg: f, startMs: g.at(f.Start.D()), endMs: g.at(f.Start.D() + f.Duration.D())}
		st.server = f.Server.Addr
		st.serverIdx = 0
		if !st.server.IsValid() {
			st.server = g.plan.srv[0].addr(0) // the most popular hosted server
		}
		st.exp = g.exporterOf(0, true)
		st.ti = len(g.truth)
		g.truth = append(g.truth, Truth{
			ID: f.Name, Kind: "benign", Vector: "flash-crowd", Direction: "incoming",
			Targets: []netip.Addr{st.server}, Sources: f.Clients, Ports: []uint16{f.Port},
			Start: time.UnixMilli(st.startMs).UTC(), End: time.UnixMilli(st.endMs).UTC(), BPS: float64(f.BPS),
			Exporters: g.exporterNames([]int{st.exp}),
		})
		g.flash = append(g.flash, st)
	}
	for i := range g.sc.Attacks {
		g.attacks = append(g.attacks, g.newAttack(&g.sc.Attacks[i]))
	}
	bots := map[string][]int{}
	for i := range g.sc.Botnets {
		b := g.newBotnet(&g.sc.Botnets[i])
		bots[b.cfg.Name] = b.bots
		g.botnets = append(g.botnets, b)
	}
	for i := range g.sc.Scans {
		g.scans = append(g.scans, g.newScan(&g.sc.Scans[i], bots))
	}
	return nil
}

// flashState is a flash crowd under way: connections of 6 request and 8 response packets.
type flashState struct {
	cfg       *FlashCrowd
	startMs   int64
	endMs     int64
	server    netip.Addr
	serverIdx int
	exp       int
	ti        int
	acc       float64
}

const (
	flashReqPkts, flashReqSize   = 6, 80
	flashRespPkts, flashRespSize = 8, 1400
)

func (f *flashState) step(g *Generator, from, to int64, out Emitter) {
	lo, hi := max(from, f.startMs), min(to, f.endMs)
	if lo >= hi {
		return
	}
	connBytes := float64(flashReqPkts*flashReqSize + flashRespPkts*flashRespSize)
	f.acc += float64(f.cfg.BPS) / 8 / connBytes * float64(hi-lo) / 1000
	n := int(f.acc)
	f.acc -= float64(n)
	x := &g.exps[f.exp]
	fam := 0
	if f.server.Is6() {
		fam = 1
	}
	for range n {
		client := g.r.intn(f.cfg.Clients)
		caddr := g.plan.net[fam].addr(client * 7)
		cport := g.r.highPort()
		end := hi - int64(g.r.intn(int(hi-lo)))
		for _, side := range [2]bool{false, true} {
			p, size := flashReqPkts, flashReqSize
			if side {
				p, size = flashRespPkts, flashRespSize
			}
			k := g.r.round(float64(p) / x.rate)
			if x.rate <= 1 {
				k = p
			}
			if k == 0 {
				continue
			}
			r := g.base(f.exp)
			g.setAddrs(r, f.server, caddr, client, !side)
			r.Proto = 6
			if side {
				r.SrcPort, r.DstPort = f.cfg.Port, cport
			} else {
				r.SrcPort, r.DstPort = cport, f.cfg.Port
			}
			r.TCPFlags = g.tcpFlags(k, p, side)
			r.Packets, r.Bytes = uint64(k), uint64(k*size)
			r.EndMs, r.StartMs, r.ReceivedMs = end, end, end
			if k > 1 {
				r.StartMs = end - 150
			}
			out.Emit(f.exp, r, f.ti)
		}
	}
}

// attackState is one attack under way.
type attackState struct {
	cfg     *Attack
	v       vector
	ti      int
	startMs int64
	endMs   int64
	pps     float64
	targets []netip.Addr
	prefix  netip.Prefix
	spoofed bool
	v6      bool
	// sources: remote hosts (reflectors, bots) or our subscribers (outgoing)
	srcBase  int
	srcOurs  []int
	nSources int
	exps     []attackExp
	done     bool
}

// attackExp is what one exporter's cache holds of an attack. In packet mode each sampled packet
// is a flow of its own (spoofed sources, or too few samples per source), exported after the
// inactive timeout; in pooled mode each source is a flow, cut every active timeout.
type attackExp struct {
	exp     int
	acc     float64 // sampled packets not yet placed
	pooled  bool
	cache   []float64 // pooled: sampled packets per source
	weight  []float64 // pooled: share of each source
	cutAcc  float64
	cursor  int
	pending []pendingPackets // packet mode: waiting for the inactive timeout
}

type pendingPackets struct {
	release int64
	from    int64
	to      int64
	n       int
}

func (g *Generator) newAttack(a *Attack) *attackState {
	st := &attackState{
		cfg: a, v: vectors[a.Vector], startMs: g.at(a.Start.D()), endMs: g.at(a.Start.D() + a.Duration.D()),
		spoofed: *a.Spoofed && a.Direction == "incoming",
	}
	size := float64(a.PacketSize)
	st.pps = float64(a.PPS)
	if st.pps == 0 {
		st.pps = float64(a.BPS) / 8 / size
	}
	for _, t := range a.Targets {
		st.targets = append(st.targets, t.Addr)
	}
	if a.Prefix.IsValid() {
		st.prefix = a.Prefix.Prefix
		st.v6 = st.prefix.Addr().Is6()
	} else {
		st.v6 = st.targets[0].Is6()
	}
	st.nSources = max(a.Sources, 1)
	if a.Direction == "outgoing" {
		st.srcOurs = g.subscriberSet(st.nSources)
	} else {
		st.srcBase = g.r.intn(1 << 20)
	}
	exps := g.exporterIndexes(a.Exporters)
	share := 1 / float64(len(exps))
	for _, e := range exps {
		x := &g.exps[e]
		ae := attackExp{exp: e}
		perWindow := st.pps * share / x.rate * float64(x.activeMs) / 1000 / float64(st.nSources)
		if !st.spoofed && !x.sflow && perWindow >= 1.5 {
			ae.pooled = true
			ae.cache = make([]float64, st.nSources)
			ae.weight = make([]float64, st.nSources)
			var sum float64
			for i := range ae.weight {
				ae.weight[i] = g.r.pareto(1, 2)
				sum += ae.weight[i]
			}
			for i := range ae.weight {
				ae.weight[i] /= sum
			}
		}
		st.exps = append(st.exps, ae)
	}
	t := Truth{
		ID: a.Name, Kind: "ddos", Vector: a.Vector, Direction: a.Direction,
		Start: time.UnixMilli(st.startMs).UTC(), End: time.UnixMilli(st.endMs).UTC(),
		PPS: math.Round(st.pps), BPS: math.Round(st.pps * size * 8), Spoofed: st.spoofed, Exporters: g.exporterNames(exps),
	}
	if !st.spoofed {
		t.Sources = st.nSources
	}
	t.Targets = st.targets
	if st.prefix.IsValid() {
		t.Prefix = st.prefix.String()
	}
	if st.v.sport != 0 {
		t.Ports = []uint16{st.v.sport}
	} else if a.Port != 0 {
		t.Ports = []uint16{a.Port}
	}
	for _, s := range st.srcOurs {
		t.Bots = append(t.Bots, g.plan.subs[0].addr(s))
	}
	st.ti = len(g.truth)
	g.truth = append(g.truth, t)
	return st
}

// onMs is how long the attack sends within [from, to).
func (a *attackState) onMs(from, to int64) int64 {
	lo, hi := max(from, a.startMs), min(to, a.endMs)
	if lo >= hi {
		return 0
	}
	p := a.cfg.Pulse
	if p == nil {
		return hi - lo
	}
	on, period := p.On.D().Milliseconds(), p.On.D().Milliseconds()+p.Off.D().Milliseconds()
	var total int64
	for t := lo; t < hi; {
		ph := (t - a.startMs) % period
		var next int64
		if ph < on {
			next = min(hi, t+on-ph)
			total += next - t
		} else {
			next = min(hi, t+period-ph)
		}
		t = next
	}
	return total
}

func (a *attackState) step(g *Generator, from, to int64, final bool, out Emitter) {
	if a.done {
		return
	}
	on := a.onMs(from, to)
	share := 1 / float64(len(a.exps))
	busy := false
	for i := range a.exps {
		ae := &a.exps[i]
		x := &g.exps[ae.exp]
		ae.acc += a.pps * share * float64(on) / 1000 / x.rate
		if ae.pooled {
			busy = a.stepPooled(g, ae, from, to, final, out) || busy
		} else {
			busy = a.stepPackets(g, ae, from, to, final, out) || busy
		}
	}
	if !busy && to >= a.endMs {
		a.done = true
	}
}

// stepPackets places the step's sampled packets, one record each, and releases those whose
// inactive timeout has passed. It reports whether packets are still held.
func (a *attackState) stepPackets(g *Generator, ae *attackExp, from, to int64, final bool, out Emitter) bool {
	x := &g.exps[ae.exp]
	if n := int(ae.acc); n > 0 {
		ae.acc -= float64(n)
		lo, hi := max(from, a.startMs), min(to, a.endMs)
		ae.pending = append(ae.pending, pendingPackets{release: hi + x.idleMs, from: lo, to: hi, n: n})
	}
	k := 0
	for ; k < len(ae.pending) && (ae.pending[k].release <= to || final); k++ {
		p := ae.pending[k]
		for range p.n {
			r := a.record(g, ae.exp, g.r.intn(a.nSources), 1)
			r.EndMs = p.to - int64(g.r.intn(int(max(p.to-p.from, 1))))
			r.StartMs, r.ReceivedMs = r.EndMs, r.EndMs
			out.Emit(ae.exp, r, a.ti)
		}
	}
	ae.pending = ae.pending[:copy(ae.pending, ae.pending[k:])]
	return len(ae.pending) > 0 || to < a.endMs
}

// stepPooled spreads the step's sampled packets over the sources' flows and exports the flows
// whose active timeout comes in this step, or, after the attack, whose inactive timeout passed.
func (a *attackState) stepPooled(g *Generator, ae *attackExp, from, to int64, final bool, out Emitter) bool {
	x := &g.exps[ae.exp]
	if ae.acc > 0 {
		for i, w := range ae.weight {
			ae.cache[i] += ae.acc * w
		}
		ae.acc = 0
	}
	cut := func(i int, start int64) {
		k := int(ae.cache[i])
		if k == 0 {
			return
		}
		ae.cache[i] -= float64(k)
		r := a.record(g, ae.exp, i, k)
		end := min(to, a.endMs)
		r.StartMs, r.EndMs, r.ReceivedMs = min(max(start, a.startMs), end), end, end
		out.Emit(ae.exp, r, a.ti)
	}
	if to > a.endMs+x.idleMs || final { // idle: everything left goes out
		// The remainders' sum, rounded, goes to the sources holding the largest ones, so that
		// the attack's sampled total stays exact.
		var frac float64
		for _, c := range ae.cache {
			frac += c - math.Floor(c)
		}
		extra := int(math.Round(frac))
		for i := range ae.cache {
			if extra > 0 && ae.cache[i]-math.Floor(ae.cache[i]) >= 0.5 {
				ae.cache[i] = math.Floor(ae.cache[i]) + 1
				extra--
			}
		}
		for i := range ae.cache {
			if extra > 0 && ae.cache[i]-math.Floor(ae.cache[i]) > 0 {
				ae.cache[i] = math.Floor(ae.cache[i]) + 1
				extra--
			}
			cut(i, min(to, a.endMs)-x.activeMs)
		}
		return false
	}
	if from >= a.endMs {
		return true
	}
	ae.cutAcc += float64(a.nSources) * float64(to-from) / float64(x.activeMs)
	n := int(ae.cutAcc)
	ae.cutAcc -= float64(n)
	for range n {
		cut(ae.cursor, to-x.activeMs)
		ae.cursor = (ae.cursor + 1) % a.nSources
	}
	return true
}

// record is one attack record of k packets from source i.
func (a *attackState) record(g *Generator, e, i, k int) *flow.Record {
	r := g.base(e)
	fam := 0
	if a.v6 {
		fam = g.plan.family(true)
	}
	var dst, src netip.Addr
	switch {
	case a.prefix.IsValid():
		dst = hostOf(a.prefix, uint64(g.r.intn(254)))
	case len(a.targets) == 1:
		dst = a.targets[0]
	default:
		dst = a.targets[g.r.intn(len(a.targets))]
	}
	switch {
	case a.srcOurs != nil:
		src = g.plan.subs[fam].addr(a.srcOurs[i])
	case a.spoofed:
		src = g.plan.spoof(g.r, a.v6)
	default:
		src = g.plan.net[fam].addr(a.srcBase + i*13)
	}
	if a.srcOurs != nil {
		g.setAddrs(r, src, dst, i, false)
	} else {
		g.setAddrs(r, dst, src, a.srcBase+i, true)
	}
	r.Proto = a.v.proto
	switch r.Proto {
	case 1:
		r.ICMPType = a.v.icmpType
	default:
		r.SrcPort = a.v.sport
		if r.SrcPort == 0 {
			r.SrcPort = g.r.highPort()
		}
		r.DstPort = a.cfg.Port
		if r.DstPort == 0 {
			r.DstPort = g.r.highPort()
		}
		r.TCPFlags = a.v.flags
	}
	r.Packets = uint64(k)
	r.Bytes = uint64(k * a.cfg.PacketSize)
	return r
}

// botnetState is a botnet's beacons, kept in a heap by time of the next beacon.
type botnetState struct {
	cfg     *Botnet
	ti      int
	bots    []int
	addrs   []netip.Addr
	exps    []int
	startMs int64
	endMs   int64
	next    beaconHeap
}

type beacon struct {
	at  int64
	bot int32
}

type beaconHeap []beacon

func (h beaconHeap) Len() int           { return len(h) }
func (h beaconHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h beaconHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *beaconHeap) Push(x any)        { *h = append(*h, x.(beacon)) }
func (h *beaconHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (g *Generator) newBotnet(b *Botnet) *botnetState {
	st := &botnetState{cfg: b, bots: g.subscriberSet(b.Bots), startMs: g.at(b.Start.D())}
	st.endMs = g.endMs
	if b.Duration > 0 {
		st.endMs = min(g.endMs, g.at(b.Start.D()+b.Duration.D()))
	}
	fam := 0
	if b.Server.Is6() {
		fam = g.plan.family(true)
	}
	named := g.exporterIndexes(b.Exporters)
	for i, s := range st.bots {
		st.addrs = append(st.addrs, g.plan.subs[fam].addr(s))
		e := g.exporterOf(s, false)
		if len(b.Exporters) > 0 {
			e = named[i%len(named)]
		}
		st.exps = append(st.exps, e)
	}
	period := b.Period.D().Milliseconds()
	st.next = make(beaconHeap, 0, len(st.bots))
	for i := range st.bots {
		st.next = append(st.next, beacon{at: st.startMs + int64(g.r.float()*float64(period)), bot: int32(i)})
	}
	heap.Init(&st.next)
	st.ti = len(g.truth)
	per := float64(b.Bots) / b.Period.D().Seconds()
	g.truth = append(g.truth, Truth{
		ID: b.Name, Kind: "cnc", Vector: b.Family, Direction: "outgoing",
		Servers: []Endpoint{{Address: b.Server.Addr, Port: b.Port, Proto: b.Proto}},
		Bots:    st.addrs, Sources: b.Bots, Ports: []uint16{b.Port},
		Start: time.UnixMilli(st.startMs).UTC(), End: time.UnixMilli(st.endMs).UTC(),
		PPS: per * float64(b.Packets), BPS: per * float64(b.Bytes) * 8,
		Exporters: g.exporterNames(uniq(st.exps)),
	})
	return st
}

func uniq(xs []int) []int {
	seen := map[int]bool{}
	var out []int
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func (b *botnetState) step(g *Generator, from, to int64, out Emitter) {
	period := float64(b.cfg.Period.D().Milliseconds())
	proto := uint8(6)
	if b.cfg.Proto == "udp" {
		proto = 17
	}
	for len(b.next) > 0 && b.next[0].at < to {
		bc := b.next[0]
		if bc.at >= b.endMs {
			heap.Pop(&b.next)
			continue
		}
		e := b.exps[bc.bot]
		x := &g.exps[e]
		answered := g.r.float() < *b.cfg.AnswerRatio
		sport := g.r.highPort()
		for _, side := range [2]bool{false, true} {
			p, size := b.cfg.Packets, b.cfg.Bytes/b.cfg.Packets
			if side {
				if !answered {
					break
				}
				p, size = max(p-1, 1), size+60
			} else if !answered && proto == 6 {
				p, size = 3, 60 // SYN and its retries
			}
			k := p
			if x.rate > 1 {
				k = g.r.round(float64(p) / x.rate)
			}
			if k == 0 {
				continue
			}
			r := g.base(e)
			g.setAddrs(r, b.addrs[bc.bot], b.cfg.Server.Addr, int(bc.bot), side)
			r.Proto = proto
			if side {
				r.SrcPort, r.DstPort = b.cfg.Port, sport
			} else {
				r.SrcPort, r.DstPort = sport, b.cfg.Port
			}
			if proto == 6 {
				if answered {
					r.TCPFlags = g.tcpFlags(k, p, side)
				} else {
					r.TCPFlags = 0x02
				}
			}
			r.Packets, r.Bytes = uint64(k), uint64(k*size)
			r.StartMs = max(bc.at, from)
			r.EndMs = r.StartMs
			if k > 1 {
				r.EndMs += 80
			}
			r.ReceivedMs = r.EndMs
			out.Emit(e, r, b.ti)
		}
		jit := 1 + b.cfg.Jitter*(2*g.r.float()-1)
		b.next[0].at = bc.at + int64(period*jit)
		heap.Fix(&b.next, 0)
	}
}

// scanState is a horizontal scan: each scanner sends SYNs to random internet addresses.
type scanState struct {
	cfg     *Scan
	ti      int
	addrs   []netip.Addr
	exps    []int
	acc     []float64
	startMs int64
	endMs   int64
}

func (g *Generator) newScan(s *Scan, bots map[string][]int) *scanState {
	st := &scanState{cfg: s, startMs: g.at(s.Start.D()), endMs: g.at(s.Start.D() + s.Duration.D())}
	hosts := bots[s.Botnet]
	if len(hosts) > s.Scanners {
		hosts = hosts[:s.Scanners]
	}
	if len(hosts) == 0 {
		hosts = g.subscriberSet(s.Scanners)
	}
	for _, h := range hosts {
		st.addrs = append(st.addrs, g.plan.subs[0].addr(h))
		st.exps = append(st.exps, g.exporterOf(h, false))
	}
	st.acc = make([]float64, len(hosts))
	st.ti = len(g.truth)
	g.truth = append(g.truth, Truth{
		ID: s.Name, Kind: "scan", Vector: "telnet-scan", Direction: "outgoing",
		Bots: st.addrs, Sources: len(hosts), Ports: s.Ports,
		Start: time.UnixMilli(st.startMs).UTC(), End: time.UnixMilli(st.endMs).UTC(),
		PPS: s.Rate * float64(len(hosts)), BPS: s.Rate * float64(len(hosts)) * 40 * 8,
		Exporters: g.exporterNames(uniq(st.exps)),
	})
	return st
}

func (s *scanState) step(g *Generator, from, to int64, out Emitter) {
	lo, hi := max(from, s.startMs), min(to, s.endMs)
	if lo >= hi {
		return
	}
	for i := range s.addrs {
		e := s.exps[i]
		s.acc[i] += s.cfg.Rate * float64(hi-lo) / 1000 / g.exps[e].rate
		n := int(s.acc[i])
		s.acc[i] -= float64(n)
		for range n {
			dport := s.cfg.Ports[0]
			if len(s.cfg.Ports) > 1 && g.r.intn(10) == 0 {
				dport = s.cfg.Ports[1+g.r.intn(len(s.cfg.Ports)-1)]
			}
			r := g.base(e)
			remote := g.r.intn(1 << 17)
			g.setAddrs(r, s.addrs[i], hostOf(g.plan.net[0].prefixes[0], uint64(remote)), remote, false)
			r.Proto, r.TCPFlags = 6, 0x02
			r.SrcPort, r.DstPort = g.r.highPort(), dport
			r.Packets, r.Bytes = 1, 40
			r.EndMs = hi - int64(g.r.intn(int(hi-lo)))
			r.StartMs, r.ReceivedMs = r.EndMs, r.EndMs
			out.Emit(e, r, s.ti)
		}
	}
}
