package simulate

import (
	"fmt"
	"math"
	"net/netip"
	"time"

	"yocho/internal/flow"
)

// remoteZipfQ flattens the head of remote servers' popularity (Zipf-Mandelbrot q), so that the
// most popular one stays a plausible single host.
const remoteZipfQ = 50

// GenConfig tunes a Generator beyond its scenario.
type GenConfig struct {
	Start    time.Time     // simulated clock at the start; zero: now
	Step     time.Duration // simulated time per Step; default 100 ms
	Seed     uint64        // 0: the scenario's seed (or 1)
	Rate     float64       // benign flows per second at the peak; 0: the scenario's
	Duration time.Duration // 0: the scenario's
	Protocol string        // every exporter speaks this; "": each its own
}

// Emitter receives the generator's records. origin is the index in Generator.Truth of the event
// the record belongs to, or -1 for benign traffic. r is only valid during the call.
type Emitter interface {
	Emit(exporter int, r *flow.Record, origin int)
}

// expInfo is what the generator needs of an exporter.
type expInfo struct {
	addr     netip.Addr
	rate     float64 // sampling rate N
	activeMs int64
	idleMs   int64
	sflow    bool // no flow cache: every sample is sent at once
	v4only   bool // NetFlow v5
}

// Generator turns a scenario into flow records, step by step, deterministically for its seed.
// It is not safe for concurrent use.
type Generator struct {
	sc      *Scenario
	r       *rng
	start   time.Time
	startMs int64
	nowMs   int64
	stepMs  int64
	endMs   int64
	exps    []expInfo
	expOf   [256]uint8 // benign host hash -> exporter, by share
	plan    plan

	benignRate float64
	benignAcc  float64
	subZipf    *alias
	srvZipf    *alias
	netZipf    *alias
	subSvc     serviceMix
	srvSvc     serviceMix

	long    []longFlow
	flash   []*flashState
	attacks []*attackState
	botnets []*botnetState
	scans   []*scanState
	truth   []Truth

	rec flow.Record
}

// NewGenerator prepares a generator for sc; it does no I/O.
func NewGenerator(sc *Scenario, cfg GenConfig) (*Generator, error) {
	if cfg.Step <= 0 {
		cfg.Step = 100 * time.Millisecond
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Now()
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = sc.Seed
	}
	if seed == 0 {
		seed = 1
	}
	if cfg.Protocol != "" && !validProtocol(cfg.Protocol) {
		return nil, fmt.Errorf("protocol %q is not one of %v", cfg.Protocol, Protocols)
	}
	dur := sc.Duration.D()
	if cfg.Duration > 0 {
		dur = cfg.Duration
	}
	g := &Generator{
		sc:      sc,
		r:       newRNG(seed),
		start:   cfg.Start.UTC().Truncate(time.Millisecond),
		stepMs:  cfg.Step.Milliseconds(),
		plan:    newPlan(&sc.Carrier),
		subSvc:  newServiceMix(subscriberServices),
		srvSvc:  newServiceMix(hostedServices),
		subZipf: newZipf(sc.Carrier.SubscriberHosts, 0.4, 100),
		srvZipf: newZipf(sc.Carrier.ServerHosts, sc.Benign.Zipf, 30),
		netZipf: newZipf(sc.Carrier.InternetHosts, sc.Benign.Zipf, remoteZipfQ),
	}
	if g.stepMs < 1 {
		g.stepMs = 1
	}
	g.startMs = g.start.UnixMilli()
	g.nowMs = g.startMs
	g.endMs = g.startMs + dur.Milliseconds()
	g.benignRate = sc.Benign.FlowsPerSecond
	if cfg.Rate > 0 {
		g.benignRate = cfg.Rate
	}
	var shares float64
	for _, e := range sc.Exporters {
		proto := e.Protocol
		if cfg.Protocol != "" {
			proto = cfg.Protocol
		}
		x := expInfo{
			addr:     e.Address.Addr,
			rate:     float64(e.SamplingRate),
			activeMs: max(e.ActiveTimeout.D().Milliseconds(), g.stepMs),
			idleMs:   e.InactiveTimeout.D().Milliseconds(),
			sflow:    proto == "sflow",
			v4only:   proto == "netflow5",
		}
		if x.sflow {
			x.activeMs, x.idleMs = g.stepMs, 0
		}
		g.exps = append(g.exps, x)
		shares += e.Share
	}
	// Benign hosts are spread over the exporters by share.
	acc, j := 0.0, 0
	for i := range g.expOf {
		for j < len(sc.Exporters)-1 && float64(i)+0.5 > (acc+sc.Exporters[j].Share)/shares*float64(len(g.expOf)) {
			acc += sc.Exporters[j].Share
			j++
		}
		g.expOf[i] = uint8(j)
	}
	g.initLongFlows()
	if err := g.initEvents(); err != nil {
		return nil, err
	}
	return g, nil
}

// Start is the simulated clock at the start of the run.
func (g *Generator) Start() time.Time { return g.start }

// End is the simulated clock at the end of the run.
func (g *Generator) End() time.Time { return time.UnixMilli(g.endMs).UTC() }

// Now is the simulated clock: the end of the last step.
func (g *Generator) Now() time.Time { return time.UnixMilli(g.nowMs).UTC() }

// NowMs is the simulated clock in Unix milliseconds.
func (g *Generator) NowMs() int64 { return g.nowMs }

// Truth is what the scenario injects, one entry per attack, botnet, scan and flash crowd; the
// caller fills in FirstSentAt and Records.
func (g *Generator) Truth() []Truth { return g.truth }

// Exporters is the number of exporters; records name them by index.
func (g *Generator) Exporters() int { return len(g.exps) }

// NextMs is the simulated clock at the end of the next step: no record of that step ends later.
func (g *Generator) NextMs() int64 { return min(g.nowMs+g.stepMs, g.endMs) }

// Step generates the records of the next step of simulated time and returns false, generating
// nothing, once the run is over. The last step releases every record still held in exporter
// caches.
func (g *Generator) Step(out Emitter) bool {
	if g.nowMs >= g.endMs {
		return false
	}
	from := g.nowMs
	to := min(from+g.stepMs, g.endMs)
	g.nowMs = to
	final := to >= g.endMs
	g.benign(from, to, out)
	g.longFlows(from, to, final, out)
	for _, f := range g.flash {
		f.step(g, from, to, out)
	}
	for _, a := range g.attacks {
		a.step(g, from, to, final, out)
	}
	for _, b := range g.botnets {
		b.step(g, from, to, out)
	}
	for _, s := range g.scans {
		s.step(g, from, to, out)
	}
	return true
}

// Diurnal is the benign traffic multiplier (0..1] at simulated time t.
func (g *Generator) Diurnal(t time.Time) float64 {
	d := g.sc.Benign.Diurnal
	h := float64(t.UTC().Hour()) + float64(t.UTC().Minute())/60 + float64(t.UTC().Second())/3600
	return d.TroughRatio + (1-d.TroughRatio)*(1+math.Cos(2*math.Pi*(h-d.PeakHour)/24))/2
}

// exporterOf is the exporter that sees the traffic of our host i (subscriber or server).
func (g *Generator) exporterOf(i int, hosted bool) int {
	h := uint64(i)*0x9e3779b97f4a7c15 + 0x632be59bd9b4e019
	if hosted {
		h ^= 0xff51afd7ed558ccd
	}
	return int(g.expOf[(h>>56)&0xff])
}

// base fills the fields every record of exporter e shares.
func (g *Generator) base(e int) *flow.Record {
	r := &g.rec
	*r = flow.Record{Exporter: g.exps[e].addr, SamplingRate: uint32(g.exps[e].rate), Direction: flow.DirectionIngress}
	return r
}

// setAddrs sets the addresses, masks and AS numbers of a record between one of our hosts and a
// remote one; inbound says the remote host is the source.
func (g *Generator) setAddrs(r *flow.Record, ours, remote netip.Addr, remoteIdx int, inbound bool) {
	asn := g.sc.Carrier.ASN
	ras := uint32(64512 + remoteIdx%1000)
	om, rm := uint8(24), uint8(24)
	if ours.Is6() {
		om, rm = 56, 48
	}
	if inbound {
		r.SrcAddr, r.DstAddr, r.SrcAS, r.DstAS, r.SrcMask, r.DstMask = remote, ours, ras, asn, rm, om
		r.InIf, r.OutIf = uint32(1+remoteIdx%4), uint32(10+remoteIdx%16)
	} else {
		r.SrcAddr, r.DstAddr, r.SrcAS, r.DstAS, r.SrcMask, r.DstMask = ours, remote, asn, ras, om, rm
		r.InIf, r.OutIf = uint32(10+remoteIdx%16), uint32(1+remoteIdx%4)
	}
}

// sampled is the number of sampled packets of a flow of p packets at rate n, given that it was
// sampled at all (at least 1).
func (g *Generator) sampled(p, n float64) int {
	if n <= 1 {
		return int(p)
	}
	return max(1, g.r.round(p/n))
}

// tcpFlags are the flags of a record holding k of a connection's p packets: all of them when
// every packet was kept, else those of the packets that were.
func (g *Generator) tcpFlags(k, p int, server bool) uint8 {
	if k >= p {
		return 0x1b // FIN SYN PSH ACK
	}
	x := g.r.intn(p)
	var f uint8
	switch {
	case x == 0 && server:
		f = 0x12 // SYN ACK
	case x == 0:
		f = 0x02 // SYN
	case x == 1:
		f = 0x11 // FIN ACK
	case x%2 == 0:
		f = 0x18 // PSH ACK
	default:
		f = 0x10 // ACK
	}
	if k > 1 {
		f |= 0x10
	}
	return f
}

// benign makes the short flows of one step.
func (g *Generator) benign(from, to int64, out Emitter) {
	if g.benignRate <= 0 {
		return
	}
	g.benignAcc += g.benignRate * g.Diurnal(time.UnixMilli(from)) * float64(to-from) / 1000
	n := int(g.benignAcc)
	g.benignAcc -= float64(n)
	b := &g.sc.Benign
	for range n {
		hosted := g.r.float() < b.HostedShare
		var ours, remoteIdx int
		var svc *service
		if hosted {
			ours, remoteIdx, svc = g.srvZipf.draw(g.r), g.r.intn(1<<24), g.srvSvc.draw(g.r)
		} else {
			ours, remoteIdx, svc = g.subZipf.draw(g.r), g.netZipf.draw(g.r), g.subSvc.draw(g.r)
		}
		e := g.exporterOf(ours, hosted)
		x := &g.exps[e]
		if ref := b.ReferenceSamplingRate; x.rate > ref && g.r.float()*x.rate > ref {
			continue // a coarser exporter sees fewer of the same flows
		}
		fam := 0
		if !x.v4only && g.r.float() < b.IPv6Share {
			fam = g.plan.family(true)
		}
		var oursAddr netip.Addr
		if hosted {
			oursAddr = g.plan.srv[fam].addr(ours)
		} else {
			oursAddr = g.plan.subs[fam].addr(ours)
		}
		remote := g.plan.net[fam].addr(remoteIdx)
		resp := g.r.float() < svc.respShare // the server's side of the conversation
		p := min(g.r.pareto(svc.minPkts, 1.3), 1e6)
		// A flow longer than the active timeout shows its last piece here: the packets of one
		// active timeout at the service's pace.
		p = min(p, max(float64(x.activeMs)/svc.gapMs, svc.minPkts))
		k := g.sampled(p, x.rate)
		r := g.base(e)
		// Our host is the client (subscriber) or the server (hosted); the record goes from the
		// side that sends.
		inbound := hosted != resp
		g.setAddrs(r, oursAddr, remote, remoteIdx, inbound)
		r.Proto = svc.proto
		cport, sport := g.r.highPort(), svc.port
		if sport == 0 {
			sport = g.r.highPort()
		}
		if resp {
			r.SrcPort, r.DstPort = sport, cport
		} else {
			r.SrcPort, r.DstPort = cport, sport
		}
		size := svc.reqSize
		if resp {
			size = svc.respSize
		}
		size = size * (0.8 + 0.4*g.r.float())
		if r.Proto == 6 {
			r.TCPFlags = g.tcpFlags(k, int(p), resp)
		}
		r.Packets = uint64(k)
		r.Bytes = uint64(float64(k) * size)
		r.EndMs = to - int64(g.r.intn(int(to-from)))
		r.StartMs = r.EndMs
		if k > 1 || x.rate <= 1 {
			r.StartMs -= min(int64(p*svc.gapMs), x.activeMs)
		}
		r.ReceivedMs = r.EndMs
		out.Emit(e, r, -1)
	}
}

// longFlow is a flow lasting hours, exported once per active timeout.
type longFlow struct {
	ours, remote int
	fam          int
	hosted       bool // an upload from a hosted server; else a download by a subscriber
	bps          float64
	endMs        int64
	lastCut      int64
	nextCut      int64
	carry        float64
	exp          int
	cport        uint16
}

func (g *Generator) initLongFlows() {
	lf := g.sc.Benign.LongFlows
	g.long = make([]longFlow, lf.Count)
	for i := range g.long {
		g.newLongFlow(&g.long[i], true)
	}
}

func (g *Generator) newLongFlow(f *longFlow, running bool) {
	lf := g.sc.Benign.LongFlows
	dur := lf.MinDuration.D().Milliseconds() + int64(g.r.float()*float64(lf.MaxDuration.D().Milliseconds()-lf.MinDuration.D().Milliseconds()))
	start := g.nowMs
	if running { // already under way when the run starts
		start -= int64(g.r.float() * float64(dur))
	}
	f.hosted = g.r.float() < 0.2
	if f.hosted {
		f.ours = g.srvZipf.draw(g.r)
	} else {
		f.ours = g.subZipf.draw(g.r)
	}
	f.remote = g.netZipf.draw(g.r)
	f.exp = g.exporterOf(f.ours, f.hosted)
	f.fam = 0
	if !g.exps[f.exp].v4only && g.r.float() < g.sc.Benign.IPv6Share {
		f.fam = g.plan.family(true)
	}
	// Rates are log-uniform between the bounds.
	lo, hi := math.Log(float64(lf.MinBPS)), math.Log(float64(lf.MaxBPS))
	f.bps = math.Exp(lo + g.r.float()*(hi-lo))
	f.endMs = start + dur
	a := g.exps[f.exp].activeMs
	f.lastCut = max(start, g.nowMs-int64(g.r.float()*float64(a)))
	f.nextCut = f.lastCut + a
	f.carry = 0
	f.cport = g.r.highPort()
}

func (g *Generator) longFlows(from, to int64, final bool, out Emitter) {
	for i := range g.long {
		f := &g.long[i]
		for f.nextCut <= to || f.endMs <= to || final {
			cut := min(f.nextCut, f.endMs, to)
			x := &g.exps[f.exp]
			const size = 1400.0
			pk := f.bps/8/size*float64(cut-f.lastCut)/1000 + f.carry
			k := int(pk / x.rate)
			f.carry = pk - float64(k)*x.rate
			if k > 0 {
				r := g.base(f.exp)
				var ours netip.Addr
				if f.hosted {
					ours = g.plan.srv[f.fam].addr(f.ours)
				} else {
					ours = g.plan.subs[f.fam].addr(f.ours)
				}
				g.setAddrs(r, ours, g.plan.net[f.fam].addr(f.remote), f.remote, !f.hosted)
				r.Proto, r.TCPFlags = 6, 0x18
				if f.hosted {
					r.SrcPort, r.DstPort = f.cport, 443
				} else {
					r.SrcPort, r.DstPort = 443, f.cport
				}
				r.Packets, r.Bytes = uint64(k), uint64(k)*uint64(size)
				r.StartMs, r.EndMs, r.ReceivedMs = f.lastCut, cut, cut
				out.Emit(f.exp, r, -1)
			}
			f.lastCut = cut
			f.nextCut = cut + x.activeMs
			if final {
				break
			}
			if f.endMs <= to {
				g.newLongFlow(f, false)
				break
			}
		}
	}
}

// service is one kind of benign traffic: its protocol and server port, the packets of a flow
// (Pareto, at least minPkts), the sizes of request and response packets, and how often a
// record is the server's side.
type service struct {
	name      string
	weight    float64
	proto     uint8
	port      uint16 // 0: a high port (peer to peer)
	minPkts   float64
	reqSize   float64
	respSize  float64
	respShare float64
	gapMs     float64 // time between packets
}

// subscriberServices is what subscribers use on the internet.
var subscriberServices = []service{
	{"https", 0.40, 6, 443, 8, 90, 1300, 0.6, 25},
	{"quic", 0.15, 17, 443, 10, 120, 1250, 0.65, 20},
	{"http", 0.06, 6, 80, 6, 110, 1200, 0.6, 30},
	{"dns", 0.12, 17, 53, 1, 75, 160, 0.5, 5},
	{"ntp", 0.01, 17, 123, 1, 76, 76, 0.5, 5},
	{"imaps", 0.02, 6, 993, 6, 100, 600, 0.5, 40},
	{"submission", 0.01, 6, 587, 10, 400, 90, 0.4, 40},
	{"ssh", 0.01, 6, 22, 10, 100, 150, 0.5, 200},
	{"gaming", 0.03, 17, 3074, 20, 90, 110, 0.5, 50},
	{"p2p", 0.06, 17, 0, 4, 200, 900, 0.5, 50},
	{"other-tcp", 0.13, 6, 8443, 5, 150, 700, 0.5, 40},
}

// hostedServices is what the internet asks of the hosted servers.
var hostedServices = []service{
	{"https", 0.55, 6, 443, 8, 90, 1300, 0.6, 25},
	{"http", 0.15, 6, 80, 6, 110, 1200, 0.6, 30},
	{"dns", 0.18, 17, 53, 1, 75, 180, 0.5, 5},
	{"smtp", 0.06, 6, 25, 10, 500, 90, 0.4, 40},
	{"ssh", 0.03, 6, 22, 10, 100, 150, 0.5, 200},
	{"imaps", 0.03, 6, 993, 6, 100, 600, 0.5, 40},
}

type serviceMix struct {
	svc []service
	a   *alias
}

func newServiceMix(s []service) serviceMix {
	w := make([]float64, len(s))
	for i := range s {
		w[i] = s[i].weight
	}
	return serviceMix{svc: s, a: newAlias(w)}
}

func (m *serviceMix) draw(r *rng) *service { return &m.svc[m.a.draw(r)] }
