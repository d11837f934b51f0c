package ddos

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"yocho/internal/alert"
	"yocho/internal/enrich"
)

// baseline is a group's learned usual traffic: by hour of week, the decaying peak of the busiest
// host's (or /24's, /64's) bits, packets and flows per second (figures over the static threshold
// are not learned).
type baseline struct {
	peak [168][enrich.NumMetrics]float32
	n    [168]uint32
}

// hourOfWeek is the hour since Monday 00:00 UTC of a unix second.
func hourOfWeek(s uint32) int { return int((s/3600 + 72) % 168) }

// learnLag is how old a second must be to be learned: its late records have mostly come.
const learnLag = 5

// baseOf is the index in base of an incoming host's or prefix's baseline: its group's, hosts
// and prefixes apart; -1 for outgoing traffic (not learned).
func baseOf(e *detail) int {
	switch e.key.tag {
	case 0:
		return 2 * int(e.group)
	case tagPrefix:
		return 2*int(e.group) + 1
	}
	return -1
}

// usual is a baseline's learned peak at the hour of second s, if learned.
func (d *Detector) usual(bi int, s uint32) ([enrich.NumMetrics]float32, bool) {
	if !d.cfg.Baseline.Enabled || bi < 0 {
		return [enrich.NumMetrics]float32{}, false
	}
	h := hourOfWeek(s)
	b := &d.base[bi]
	return b.peak[h], b.n[h] >= uint32(max(d.cfg.Baseline.MinSamples, 1))
}

// thresholds are the effective thresholds of a detailed entity: its group's static ones, the
// totals of an incoming host or prefix raised to Factor times its learned usual peak (a /24 of
// subscribers busy every evening is not carpet-bombed every evening).
func (d *Detector) thresholds(e *detail, nowSec uint32) enrich.Thresholds {
	g := d.groups[e.group]
	t := g.Host
	if e.key.tag&tagPrefix != 0 {
		t = g.Carpet
	}
	if bi := baseOf(e); bi >= 0 {
		if u, ok := d.usual(bi, nowSec); ok {
			for m := range enrich.NumMetrics {
				if t[enrich.KindTotal][m] > 0 {
					t[enrich.KindTotal][m] = max(t[enrich.KindTotal][m], d.cfg.Baseline.Factor*float64(u[m]))
				}
			}
		}
	}
	return t
}

// composition is the packets and bytes of each kind over some seconds.
type composition struct {
	pkts, bytes [enrich.NumKinds]float64
}

type ending struct {
	key string
	at  time.Time
}

// Evaluate checks every detailed host and prefix against its thresholds: it starts, updates and
// ends alerts. Start runs it every EvaluateEvery; tests call it directly.
func (d *Detector) Evaluate() { d.evaluate(false) }

// tick is the ticker's: every EvaluateEvery a full evaluation; in between, when a batch brought
// flows to a hot host or prefix (near a threshold), an evaluation of the hot ones only, which may
// start their alerts (it updates and ends none: the next full one does). Those come at most every
// onsetEvery: under a flood nearly every batch pokes, a thousand times a second at 5 M flows/s,
// and the pokes that come meanwhile make one evaluation.
func (d *Detector) tick() {
	now := d.now()
	if now.Sub(d.lastFull) >= d.cfg.EvaluateEvery*9/10 {
		d.lastFull, d.lastOnset = now, now
		d.evaluate(false)
		return
	}
	if wait := onsetEvery - now.Sub(d.lastOnset); wait > 0 {
		time.Sleep(wait)
		now = now.Add(wait)
	}
	d.lastOnset = now
	d.evaluate(true)
}

// onsetEvery is the least time between two evaluations of the hot hosts.
const onsetEvery = 50 * time.Millisecond

// evaluate is Evaluate, of the hot hosts and prefixes only with onset.
func (d *Detector) evaluate(onset bool) {
	t0 := time.Now()
	minRun := uint32((d.cfg.MinDuration + time.Second - 1) / time.Second)
	quiet := uint32(d.cfg.QuietPeriod / time.Second)
	var reports []alert.Report
	var ends []ending
	var hostReports []pendingReport
	carpets := map[key]int{} // prefixes with an alert open: index of their report (-1: none now)

	d.mu.Lock()
	nowSec := d.clockLocked(nil)
	if nowSec == 0 {
		d.mu.Unlock()
		return // flow clock, no flow yet
	}
	learnSec := nowSec - learnLag
	learned := make(map[int][enrich.NumMetrics]float32)
	// Hosts first, so that a prefix whose excess is one host's attack knows it in the same pass.
	order := make([]int, 0, len(d.dets))
	for pass := 0; pass < 2; pass++ {
		for di, dt := range d.dets {
			if dt.inUse && (dt.key.tag == 0) == (pass == 0) && (!onset || dt.hot) {
				order = append(order, di)
			}
		}
	}
	if onset {
		// The carpet alerts open, not evaluated now: their hosts' alerts fold into them all the same.
		for _, dt := range d.dets {
			if dt.inUse && dt.key.tag&tagPrefix != 0 && dt.attacking && dt.raised {
				carpets[dt.key] = -1
			}
		}
	}
	for _, di := range order {
		dt := d.dets[di]
		dt.flushSketches()
		e := dt
		thr := d.thresholds(e, nowSec)
		lo := nowSec - d.w + 1
		if dt.endedAt >= lo {
			lo = dt.endedAt + 1
		}
		// Seconds before the promotion hold only the volume of the flows seen since, spread back over
		// their duration: lower bounds, which can only delay an alert, never raise a false one. Reading
		// min_duration of them lets a host promoted by its attack's first records alert as soon as a
		// prefix that was tracked all along (else its carpet alert would come first).
		if back := dt.since - min(dt.since, minRun); back > lo {
			lo = back
		}
		// The thresholds set, as offsets in a ring row: most are not.
		var set [cells]limit
		nset := 0
		for k := range enrich.NumKinds {
			for m := range enrich.NumMetrics {
				if t := thr[k][m]; t > 0 {
					set[nset] = limit{k, m, int(k)*int(enrich.NumMetrics) + int(m), t}
					nset++
				}
			}
		}
		var overRatio [enrich.NumKinds]float64
		var peak [enrich.NumKinds][enrich.NumMetrics]float64
		var comp composition // traffic make-up of the seconds over a threshold
		near := 0.0          // the highest share of a threshold in the newest seconds
		run, best, runStart, bestStart, lastOver := uint32(0), uint32(0), uint32(0), uint32(0), uint32(0)
		for s := lo; s <= nowSec && s >= lo; s++ {
			i := s % d.w
			r := dt.row(i)
			if r.at != s { // nothing in that second
				run = 0
				continue
			}
			row := &r.v
			over := false
			for _, l := range set[:nset] {
				v := float64(row[l.off])
				if s+hotSeconds > nowSec {
					near = max(near, v/l.t)
				}
				if v > l.t {
					over = true
					overRatio[l.k] = max(overRatio[l.k], v/l.t)
					peak[l.k][l.m] = max(peak[l.k][l.m], v)
				}
			}
			if !over {
				run = 0
				continue
			}
			for k := range enrich.NumKinds {
				comp.pkts[k] += dt.cell(s, d.w, k, enrich.MetricPps)
				comp.bytes[k] += dt.cell(s, d.w, k, enrich.MetricBps) / 8
			}
			if run == 0 {
				runStart = s
			}
			run++
			lastOver = s
			if run > best {
				best, bestStart = run, runStart
			}
		}
		dt.overNow = lastOver != 0 && lastOver+2 >= nowSec
		if !dt.attacking && best >= minRun && d.enoughSpread(e, dt, overRatio) {
			dt.attacking, dt.firstOver, dt.lastOver = true, bestStart, lastOver
			dt.alertKey = alertKey(e.key, d.cfg)
			dt.lastReported, dt.vector = 0, enrich.KindTotal
		}
		// Near an alert: the batches that count for it ask for an evaluation at once.
		dt.hot = !dt.attacking && near >= hotShare
		if onset && !dt.attacking {
			continue // learning and letting go are the full evaluations' work
		}
		if dt.attacking {
			dt.lastOver = max(dt.lastOver, lastOver)
			if nowSec > dt.lastOver+quiet {
				if dt.raised {
					ends = append(ends, ending{dt.alertKey, time.Unix(int64(dt.lastOver)+1, 0)})
				}
				dt.attacking, dt.raised, dt.endedAt = false, false, dt.lastOver
				continue
			}
			r := d.report(e, dt, thr, overRatio, peak, comp, nowSec)
			switch {
			case e.key.tag == 0:
				hostReports = append(hostReports, pendingReport{int32(di), r})
				continue
			case e.key.tag&tagPrefix != 0:
				carpets[e.key] = len(reports)
			}
			dt.raised = true
			reports = append(reports, r)
			continue
		}
		// Not attacked: learn its usual traffic, and let it go when idle.
		if bi := baseOf(e); bi >= 0 && d.cfg.Baseline.Enabled && learnSec >= dt.since && learnSec != d.learnedSec {
			static := &d.groups[e.group].Host
			if bi%2 == 1 {
				static = &d.groups[e.group].Carpet
			}
			l := learned[bi]
			for m := range enrich.NumMetrics {
				v := dt.cell(learnSec, d.w, enrich.KindTotal, m)
				if st := static[enrich.KindTotal][m]; st > 0 {
					v = min(v, st)
				}
				l[m] = max(l[m], float32(v))
			}
			learned[bi] = l
		}
		if e.lastSec+d.w < nowSec {
			d.demote(int32(di))
		} else if dt.sketchSince+d.w < nowSec {
			dt.resetSketches(nowSec) // keep "who sends" recent while nothing happens
		}
	}
	reports, ends = d.foldIntoCarpets(reports, ends, hostReports, carpets, nowSec)
	if len(learned) > 0 {
		d.learnedSec = learnSec
	}
	for bi, l := range learned {
		h := hourOfWeek(learnSec)
		b := &d.base[bi]
		for m := range enrich.NumMetrics {
			b.peak[h][m] = max(l[m], b.peak[h][m]*(1-1.0/3600))
		}
		b.n[h]++
	}
	d.mu.Unlock()

	for _, r := range reports {
		d.sink.Raise(r)
	}
	for _, e := range ends {
		d.sink.End(e.key, e.at)
	}
	d.evalDur.Observe(time.Since(t0).Seconds())
}

// limit is one threshold set, and its offset in a ring row.
type limit struct {
	k   enrich.Kind
	m   enrich.Metric
	off int
	t   float64
}

// A host or prefix not attacked is hot when one of its hotSeconds newest seconds reaches hotShare
// of a threshold: the next records may make an attack of it, and the batch that brings them has it
// evaluated without waiting for the tick. (The newest seconds are those still filling: exporters
// send a second's records a flow timeout after it, a few seconds at most.)
const (
	hotSeconds = 6
	hotShare   = 0.25
)

// pendingReport is a host's report, held until its prefix has been judged.
type pendingReport struct {
	di int32
	r  alert.Report
}

// foldIntoCarpets raises the hosts' reports, except those of hosts whose /24 (/64) has a carpet
// alert open for the same vector: that is one attack, and the carpet alert's victims name them.
// A host alert raised before its prefix was found carpet-bombed is ended then (the carpet alert
// goes on with it). A host of the prefix attacked with another vector keeps its own alert.
func (d *Detector) foldIntoCarpets(reports []alert.Report, ends []ending, hosts []pendingReport, carpets map[key]int, nowSec uint32) ([]alert.Report, []ending) {
	for _, h := range hosts {
		dt := d.dets[h.di]
		ch, cl := d.carpetWords(dt.key.hi, dt.key.lo)
		pk := key{ch, cl, tagPrefix}
		if ri, ok := carpets[pk]; ok && d.dets[d.byKey[pk]].vector == dt.vector {
			if ri >= 0 { // else the next full evaluation lists it
				r := &reports[ri]
				if a := dt.key.addr(); !slices.Contains(r.Victims, a) {
					r.Victims = append(r.Victims, a)
					slices.SortFunc(r.Victims, func(a, b netip.Addr) int { return a.Compare(b) })
				}
			}
			if dt.raised {
				ends = append(ends, ending{dt.alertKey, time.Unix(int64(nowSec), 0)})
				dt.raised = false
			}
			continue
		}
		dt.raised = true
		reports = append(reports, h.r)
	}
	return reports, ends
}

// enoughSpread says whether an attack has enough sources (incoming) or hosts (prefixes) to be
// one: one busy client, or one busy host of a prefix, is not a DDoS.
func (d *Detector) enoughSpread(e, dt *detail, overRatio [enrich.NumKinds]float64) bool {
	if e.key.tag&tagPrefix != 0 {
		if dt.memberHLL.estimate() < uint64(d.cfg.CarpetMinHosts) {
			return false
		}
		if top := dt.members.top(); len(top) > 0 && dt.sketched > 0 && top[0].packets/dt.sketched >= 0.5 {
			return false // one host takes most of it: its own alert covers it
		}
		if d.hostAttackedIn(e) {
			return false
		}
	}
	if e.key.tag&tagTarget != 0 {
		// Only flood-like traffic: many subscribers talking TCP to a popular service, or a
		// server of ours sending a big transfer, cross only the total or TCP thresholds.
		for k := range enrich.NumKinds {
			if k != enrich.KindTotal && k != enrich.KindTCP && overRatio[k] >= 1 {
				return true
			}
		}
		return false
	}
	return dt.peerHLL.estimate() >= uint64(d.cfg.MinSources)
}

// hostAttackedIn says whether a few hosts of the prefix (fewer than CarpetMinHosts) have attacks
// of their own under way, or are over one of their thresholds now (their alerts may be a second
// behind): the prefix's excess is then those hosts' attacks, not carpet bombing. When many of its
// hosts are over their thresholds at once, the prefix is carpet-bombed all the same.
func (d *Detector) hostAttackedIn(prefix *detail) bool {
	p := netip.PrefixFrom(prefix.key.addr(), d.cfg.CarpetBitsV4)
	if !prefix.key.addr().Is4() {
		p = netip.PrefixFrom(prefix.key.addr(), d.cfg.CarpetBitsV6)
	}
	attacked := 0
	for _, dt := range d.dets {
		if dt.inUse && (dt.attacking || dt.overNow) && dt.key.tag == 0 && p.Contains(dt.key.addr()) {
			attacked++
		}
	}
	return attacked > 0 && attacked < d.cfg.CarpetMinHosts
}

// alertKey names an attack: one ongoing alert per direction and host or prefix.
func alertKey(k key, cfg Config) string {
	dir := alert.Incoming
	if k.tag&tagOutgoing != 0 {
		dir = alert.Outgoing
	}
	a := k.addr()
	if k.tag&tagTarget != 0 {
		return "ddos/" + dir + "/to/" + a.String()
	}
	if k.tag&tagPrefix != 0 {
		bits := cfg.CarpetBitsV6
		if a.Is4() {
			bits = cfg.CarpetBitsV4
		}
		return "ddos/" + dir + "/" + netip.PrefixFrom(a, bits).String()
	}
	return "ddos/" + dir + "/" + a.String()
}

// report is the attack as it stands: figures from the ring since it started, the rest from the
// sketches.
func (d *Detector) report(e, dt *detail, thr enrich.Thresholds, overRatio [enrich.NumKinds]float64,
	peak [enrich.NumKinds][enrich.NumMetrics]float64, comp composition, nowSec uint32) alert.Report {
	g := d.groups[e.group]
	w := d.w
	// The vector is judged on the seconds over a threshold; once none is left in the ring (the
	// quiet period), the last judgement stands.
	vk := dt.vector
	if comp.pkts[enrich.KindTotal] > 0 {
		vk = classifyVector(overRatio, comp.pkts, comp.bytes)
		dt.vector = vk
	}
	vector, proto, sport := vectorOf(vk)
	if vk == enrich.KindTotal {
		vector, proto, sport = alert.VectorOther, 0, 0
	}
	r := alert.Report{
		Kind: alert.KindDDoS, Key: dt.alertKey, Direction: alert.Incoming,
		Hostgroup: g.Name, Customer: g.Customer, Criticality: g.Criticality,
		Vector: vector, Protocol: proto, SourcePort: sport,
		DistinctSources: dt.peerHLL.estimate(),
		AttackStartedAt: time.Unix(int64(dt.firstOver), 0).UTC(),
	}
	if e.key.tag&tagTarget != 0 {
		r.DistinctSources = dt.memberHLL.estimate()
	}
	if e.key.tag&tagOutgoing != 0 {
		r.Direction = alert.Outgoing
	}
	self := e.key.addr()
	prefix := e.key.tag&tagPrefix != 0
	if prefix {
		bits := d.cfg.CarpetBitsV6
		if self.Is4() {
			bits = d.cfg.CarpetBitsV4
		}
		r.Prefix = netip.PrefixFrom(self, bits)
	}
	overMax := 1.0
	for k := range enrich.NumKinds {
		for m := range enrich.NumMetrics {
			if peak[k][m] > 0 {
				r.Crossed = append(r.Crossed, alert.Crossing{Kind: k.String(), Metric: m.String(), Value: peak[k][m], Threshold: thr[k][m]})
				overMax = max(overMax, peak[k][m]/thr[k][m])
			}
		}
	}
	// Current: the busiest of the last three seconds (the newest is still filling).
	for s := nowSec - 2; s <= nowSec; s++ {
		r.CurrentBps = max(r.CurrentBps, dt.cell(s, w, enrich.KindTotal, enrich.MetricBps))
		r.CurrentPps = max(r.CurrentPps, dt.cell(s, w, enrich.KindTotal, enrich.MetricPps))
	}
	start := max(dt.firstOver, nowSec-w+1)
	if dt.lastReported > 0 {
		start = max(start, dt.lastReported-min(dt.lastReported, 10))
	}
	for s := start; s <= nowSec; s++ {
		if bps := dt.cell(s, w, enrich.KindTotal, enrich.MetricBps); bps > 0 {
			r.Series = append(r.Series, alert.Point{Time: time.Unix(int64(s), 0).UTC(), Bps: bps,
				Pps: dt.cell(s, w, enrich.KindTotal, enrich.MetricPps)})
		}
	}
	dt.lastReported = nowSec
	if u, ok := d.usual(baseOf(e), nowSec); ok {
		r.UsualBps, r.UsualPps = float64(u[enrich.MetricBps]), float64(u[enrich.MetricPps])
	}
	peers := d.tops(&dt.peers, dt.sketched, 16, func(t topEntry) string { return wordsAddr(t.k1, t.k2).String() })
	members := d.tops(&dt.members, dt.sketched, 64, func(t topEntry) string { return wordsAddr(t.k1, t.k2).String() })
	switch {
	case e.key.tag&tagTarget != 0: // many of our hosts against one outside
		r.Victims, r.TopSources = []netip.Addr{self}, members
	case !prefix:
		r.Victims, r.TopSources = []netip.Addr{self}, peers
	default:
		r.Victims, r.TopSources = victims(members, dt.sketched), peers
	}
	port := func(t topEntry) string { return strconv.FormatUint(t.k1, 10) }
	r.SourcePorts = d.tops(&dt.sports, dt.sketched, 10, port)
	r.DestPorts = d.tops(&dt.dports, dt.sketched, 10, port)
	r.SourceASNs = d.tops(&dt.asns, dt.sketched, 10, port)
	r.Exporters = d.tops(&dt.exporters, dt.sketched, topSmall, func(t topEntry) string { return wordsAddr(t.k1, t.k2).String() })
	r.Interfaces = d.tops(&dt.ifaces, dt.sketched, topSmall, func(t topEntry) string {
		return fmt.Sprintf("%s/%d", wordsAddr(t.k1, t.k2), t.k3)
	})
	sum := 0.0
	for _, v := range dt.sizes {
		sum += v
	}
	for i, up := range sizeBuckets() {
		if sum > 0 && dt.sizes[i] > 0 {
			r.PacketSizes = append(r.PacketSizes, alert.SizeBucket{Upto: up, Share: dt.sizes[i] / sum})
		}
	}
	for i := 0; i < min(dt.nSamples, sampleFlows); i++ {
		f := &dt.samples[i]
		r.SampleFlows = append(r.SampleFlows, alert.SampleFlow{
			Time: time.UnixMilli(f.EndMs).UTC(), Exporter: f.Exporter, Src: f.SrcAddr, Dst: f.DstAddr,
			SrcPort: f.SrcPort, DstPort: f.DstPort, Proto: f.Proto, TCPFlags: f.TCPFlags,
			Bytes: f.Bytes, Packets: f.Packets, Sampling: f.SamplingRate, InIf: f.InIf,
		})
	}
	hosts := 1
	if prefix {
		hosts = int(dt.memberHLL.estimate())
	}
	r.Threat = alert.ThreatInput{OverThreshold: overMax, Hosts: hosts}
	if r.UsualBps > 0 {
		r.Threat.OverUsual = peak[enrich.KindTotal][enrich.MetricBps] / r.UsualBps
	}
	return r
}

// tops renders a sketch's heaviest entries.
func (d *Detector) tops(t *topK, total float64, n int, name func(topEntry) string) []alert.Top {
	out := []alert.Top{}
	for i, e := range t.top() {
		if i == n {
			break
		}
		share := 0.0
		if total > 0 {
			share = min(e.packets/total, 1)
		}
		out = append(out, alert.Top{Value: name(e), Packets: e.packets, Bytes: e.bytes, Share: share})
	}
	return out
}

// victims are the addresses of the top entries that take a noticeable share (at least 1 %).
func victims(tops []alert.Top, total float64) []netip.Addr {
	var out []netip.Addr
	for _, t := range tops {
		if total > 0 && t.Packets/total < 0.01 && len(out) > 0 {
			continue
		}
		if a, err := netip.ParseAddr(t.Value); err == nil {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return out
}
