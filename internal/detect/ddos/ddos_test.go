package ddos

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"yocho/internal/alert"
	"yocho/internal/config"
	"yocho/internal/enrich"
	"yocho/internal/flow"
)

const testNetworks = `
networks:
  - prefix: 198.51.100.0/24
    name: customer-a
    customer: a
    criticality: high
  - prefix: 2001:db8:100::/48
    name: customer-v6
detection:
  ddos:
    min_duration: 2s
    min_sources: 10
    quiet_period: 60s
`

// harness drives a detector second by second with a fake clock.
type harness struct {
	t   testing.TB
	d   *Detector
	m   *alert.Manager
	cfg config.Config
	sec int64
	rng *rand.Rand
	b   *flow.Batch
}

// newDetector is a detector with the networks and detection settings of the YAML configuration
// yaml, raising alerts into the manager it returns (stale after an hour), and the configuration.
func newDetector(tb testing.TB, yaml string) (*Detector, *alert.Manager, config.Config) {
	tb.Helper()
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		tb.Fatal(err)
	}
	nets, err := enrich.NewNetworks(cfg.Networks, cfg.Detection.DDoS)
	if err != nil {
		tb.Fatal(err)
	}
	m := alert.New(alert.Config{StaleAfter: time.Hour}, nil, nil)
	return New(ConfigFrom(cfg.Detection.DDoS), nets, m, nil, nil), m, cfg
}

func newHarness(t testing.TB, yaml string) *harness {
	t.Helper()
	d, m, cfg := newDetector(t, yaml)
	h := &harness{t: t, d: d, m: m, cfg: cfg, sec: time.Now().Unix(), rng: rand.New(rand.NewPCG(7, 9)), b: flow.NewBatch(4096)}
	h.d.now = func() time.Time { return time.Unix(h.sec, 500e6) }
	return h
}

// traffic describes flows sent each second: pps packets per second (true, before sampling) in
// records of one sampled packet each, from sources random in srcs (or a random address when nil).
type traffic struct {
	dst, src      []netip.Addr // picked at random per record
	randomSrc     bool         // a spoofed random IPv4 source per record
	proto, flags  uint8
	srcPort       uint16 // 0: random high port
	dstPort       uint16 // 0: random
	fragment      bool   // ports 0
	size          uint64 // bytes per packet
	pps           float64
	sampling      uint32
	packetsPerRec uint64 // sampled packets per record (default 1)
	durSec        int64  // each record covers this many seconds (default 1)
	delaySec      int64  // records arrive this late after their end
	arrival       bool   // stamped on arrival, as sFlow samples are: start = end = received
}

func (h *harness) fill(tr traffic, sec int64) {
	n := tr.pps / float64(tr.sampling)
	per := tr.packetsPerRec
	if per == 0 {
		per = 1
	}
	recs := int(n/float64(per) + 0.5)
	dur := max(tr.durSec, 1)
	for i := 0; i < recs; i++ {
		r := flow.Record{
			StartMs: (sec-dur+1)*1000 + int64(h.rng.IntN(500)), EndMs: sec*1000 + 500 + int64(h.rng.IntN(400)),
			ReceivedMs: (sec + 1 + tr.delaySec) * 1000, SamplingRate: tr.sampling,
			Exporter: netip.MustParseAddr("192.0.2.10"), InIf: 7,
			DstAddr: tr.dst[h.rng.IntN(len(tr.dst))], Proto: tr.proto, TCPFlags: tr.flags,
			Packets: per, Bytes: per * tr.size, SrcAS: 64500 + uint32(h.rng.IntN(3)),
		}
		if tr.arrival {
			r.StartMs = h.sec*1000 + int64(h.rng.IntN(500))
			r.EndMs, r.ReceivedMs = r.StartMs, r.StartMs
		}
		if tr.randomSrc || len(tr.src) == 0 {
			r.SrcAddr = netip.AddrFrom4([4]byte{byte(1 + h.rng.IntN(190)), byte(h.rng.IntN(256)), byte(h.rng.IntN(256)), byte(1 + h.rng.IntN(254))})
		} else {
			r.SrcAddr = tr.src[h.rng.IntN(len(tr.src))]
		}
		if !tr.fragment && (tr.proto == 6 || tr.proto == 17) {
			r.SrcPort, r.DstPort = tr.srcPort, tr.dstPort
			if r.SrcPort == 0 {
				r.SrcPort = uint16(20000 + h.rng.IntN(40000))
			}
			if r.DstPort == 0 {
				r.DstPort = uint16(1024 + h.rng.IntN(60000))
			}
		}
		h.b.Append(&r)
		if h.b.Len() == h.b.Cap() {
			h.d.Consume(h.b)
			h.b.Reset()
		}
	}
}

// run sends the traffic for secs seconds, evaluating after each.
func (h *harness) run(secs int, trs ...traffic) {
	for i := 0; i < secs; i++ {
		for _, tr := range trs {
			h.fill(tr, h.sec-tr.delaySec)
		}
		h.sec++
		h.d.Consume(h.b)
		h.b.Reset()
		h.d.Evaluate()
	}
}

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

func hosts(prefix string, n int) []netip.Addr {
	p := netip.MustParsePrefix(prefix)
	a := p.Addr()
	var out []netip.Addr
	for i := 0; i < n; i++ {
		a = a.Next()
		out = append(out, a)
	}
	return out
}

// thr reads a default threshold.
func thr(key string) float64 { return float64(config.DefaultThresholds()[key]) }

func TestEachVectorNamedWithItsVictim(t *testing.T) {
	victim := addrs("198.51.100.10")
	v6 := addrs("2001:db8:100::10")
	amp := func(port uint16, key string, size uint64) traffic {
		return traffic{dst: victim, randomSrc: true, proto: 17, srcPort: port, size: size, pps: 3 * thr(key) / 8 / float64(size), sampling: 1000}
	}
	for _, tc := range []struct {
		name   string
		tr     traffic
		vector string
	}{
		{"udp flood", traffic{dst: victim, randomSrc: true, proto: 17, size: 512, pps: 3 * thr("udp_pps"), sampling: 1000}, alert.VectorUDPFlood},
		{"syn flood", traffic{dst: victim, randomSrc: true, proto: 6, flags: tcpSYN, dstPort: 443, size: 60, pps: 3 * thr("tcp_syn_pps"), sampling: 1000}, alert.VectorSYNFlood},
		{"tcp ack flood", traffic{dst: victim, randomSrc: true, proto: 6, flags: tcpACK, dstPort: 80, size: 60, pps: 3 * thr("pps"), sampling: 1000}, alert.VectorTCPFlood},
		{"icmp flood", traffic{dst: victim, randomSrc: true, proto: 1, size: 84, pps: 3 * thr("icmp_pps"), sampling: 1000}, alert.VectorICMPFlood},
		{"fragments", traffic{dst: victim, randomSrc: true, proto: 17, fragment: true, size: 1480, pps: 3 * thr("fragments_pps"), sampling: 1000}, alert.VectorFragmentFlood},
		{"dns", amp(53, "dns_bps", 1400), alert.VectorDNSAmp},
		{"ntp", amp(123, "ntp_bps", 468), alert.VectorNTPAmp},
		{"memcached", amp(11211, "memcached_bps", 1400), alert.VectorMemcachedAmp},
		{"ssdp", amp(1900, "ssdp_bps", 320), alert.VectorSSDPAmp},
		{"cldap", amp(389, "cldap_bps", 1400), alert.VectorCLDAPAmp},
		{"chargen", amp(19, "chargen_bps", 1000), alert.VectorChargenAmp},
		{"wsd", amp(3702, "wsd_bps", 700), alert.VectorWSDAmp},
		{"udp flood ipv6", traffic{dst: v6, randomSrc: true, proto: 17, size: 512, pps: 3 * thr("udp_pps"), sampling: 1000}, alert.VectorUDPFlood},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, testNetworks)
			h.run(6, tc.tr)
			got := h.m.List(alert.Filter{})
			if len(got) != 1 {
				t.Fatalf("%d alerts, want 1: %+v", len(got), got)
			}
			a := got[0]
			if a.Vector != tc.vector || len(a.Victims) != 1 || a.Victims[0] != tc.tr.dst[0] ||
				a.Direction != alert.Incoming || a.State != alert.Ongoing || a.Prefix.IsValid() {
				t.Fatalf("alert = %s %s %v %s prefix %v; want %s on %v", a.Direction, a.Vector, a.Victims, a.State, a.Prefix, tc.vector, tc.tr.dst)
			}
			if a.DistinctSources < 10 || len(a.TopSources) == 0 || len(a.Crossed) == 0 || a.ThreatLevel <= 0 || len(a.ThreatReasons) == 0 {
				t.Errorf("evidence missing: sources %d, top %d, crossed %v, threat %d", a.DistinctSources, len(a.TopSources), a.Crossed, a.ThreatLevel)
			}
			// The reported rate is the true one within the bounds the issue sets (-25%/+30%).
			wantPps := tc.tr.pps
			if a.PeakPps < 0.75*wantPps || a.PeakPps > 1.3*wantPps {
				t.Errorf("peak pps %.0f, sent %.0f", a.PeakPps, wantPps)
			}
			if a.Hostgroup == "" || a.Criticality == "" {
				t.Errorf("hostgroup %q criticality %q", a.Hostgroup, a.Criticality)
			}
		})
	}
}

func TestCarpetBombingIsOnePrefixAlert(t *testing.T) {
	h := newHarness(t, testNetworks)
	all := hosts("198.51.100.0/24", 254)
	pps := 3 * float64(config.DefaultPrefixThresholds()["pps"])
	if pps/254 > thr("pps")/4 {
		t.Fatal("test traffic would cross host thresholds")
	}
	h.run(6, traffic{dst: all, randomSrc: true, proto: 17, size: 400, pps: pps, sampling: 1000})
	got := h.m.List(alert.Filter{})
	if len(got) != 1 {
		t.Fatalf("%d alerts, want 1 for the prefix: %+v", len(got), got)
	}
	a := got[0]
	if a.Prefix.String() != "198.51.100.0/24" || a.Vector != alert.VectorUDPFlood || len(a.Victims) < 30 {
		t.Fatalf("alert prefix %v vector %s victims %d", a.Prefix, a.Vector, len(a.Victims))
	}
	for _, v := range a.Victims {
		if !a.Prefix.Contains(v) {
			t.Errorf("victim %s outside %s", v, a.Prefix)
		}
	}
}

func TestOutgoingAttack(t *testing.T) {
	h := newHarness(t, testNetworks)
	target := addrs("203.0.113.9")
	h.run(6, traffic{dst: target, src: addrs("198.51.100.20"), proto: 17, srcPort: 40000, dstPort: 80, size: 1000, pps: 3 * thr("udp_pps"), sampling: 1000})
	got := h.m.List(alert.Filter{Direction: alert.Outgoing})
	if len(got) != 1 {
		t.Fatalf("%d outgoing alerts, want 1: %+v", len(got), h.m.List(alert.Filter{}))
	}
	a := got[0]
	if len(a.Victims) != 1 || a.Victims[0] != target[0] || a.TopSources[0].Value != "198.51.100.20" || a.Vector != alert.VectorUDPFlood {
		t.Fatalf("alert victims %v sources %v vector %s", a.Victims, a.TopSources, a.Vector)
	}
	if n := len(h.m.List(alert.Filter{Direction: alert.Incoming})); n != 0 {
		t.Errorf("%d incoming alerts for traffic leaving our network", n)
	}
}

// TestLongFlowsDoNotSpike sends flows of an hour that arrive at once: counted at arrival they
// would be 3600x their rate; spread over their duration they are under every threshold.
func TestLongFlowsDoNotSpike(t *testing.T) {
	h := newHarness(t, testNetworks)
	srv := addrs("198.51.100.30")
	// 40 clients, each a 1-hour flow at 2 Mbps (900 MB) arriving in the same second: 80 Mbps
	// together, 288 Gbps if counted at arrival.
	h.run(1, traffic{dst: srv, randomSrc: true, proto: 6, flags: 0x1b, dstPort: 443, size: 1200,
		pps: 40 * 2e6 / 8 / 1200 * 3600, sampling: 1, packetsPerRec: uint64(2e6 / 8 / 1200 * 3600), durSec: 3600})
	h.run(10)
	if got := h.m.List(alert.Filter{}); len(got) != 0 {
		t.Fatalf("long flows raised %d alerts: %s %v", len(got), got[0].Vector, got[0].Crossed)
	}
}

// TestFlashCrowdUnderThresholdNoAlert: many distinct clients completing TCP handshakes to one
// popular server, heavy but under the thresholds.
func TestFlashCrowdUnderThresholdNoAlert(t *testing.T) {
	h := newHarness(t, testNetworks)
	srv := addrs("198.51.100.40")
	clients := make([]netip.Addr, 5000)
	for i := range clients {
		clients[i] = netip.AddrFrom4([4]byte{100, 64, byte(i >> 8), byte(i)})
	}
	h.run(30, traffic{dst: srv, src: clients, proto: 6, flags: 0x1b, dstPort: 443, size: 500, pps: 0.8 * thr("pps"), sampling: 100, packetsPerRec: 3, durSec: 4})
	if got := h.m.List(alert.Filter{}); len(got) != 0 {
		t.Fatalf("flash crowd raised %d alerts: %s %v", len(got), got[0].Vector, got[0].Crossed)
	}
}

func TestFewSourcesIsNotAnAttack(t *testing.T) {
	h := newHarness(t, testNetworks)
	h.run(6, traffic{dst: addrs("198.51.100.50"), src: addrs("192.0.2.200", "192.0.2.201"), proto: 17, size: 1200, pps: 3 * thr("udp_pps"), sampling: 1000})
	if got := h.m.List(alert.Filter{}); len(got) != 0 {
		t.Fatalf("2 sources raised %d alerts (min_sources is 10)", len(got))
	}
}

func TestLifecycleOneAlertPerAttack(t *testing.T) {
	h := newHarness(t, testNetworks)
	var events []alert.EventType
	h.m.Subscribe("test", func(ev alert.Event) { events = append(events, ev.Type) })
	flood := traffic{dst: addrs("198.51.100.60"), randomSrc: true, proto: 17, size: 512, pps: 3 * thr("udp_pps"), sampling: 1000}
	h.run(1, flood)
	if n := len(h.m.List(alert.Filter{})); n != 0 {
		t.Fatalf("alert after one second (min_duration is 2s): %d", n)
	}
	h.run(19, flood)
	got := h.m.List(alert.Filter{})
	if len(got) != 1 || got[0].State != alert.Ongoing {
		t.Fatalf("after 20 s: %d alerts (%v), want 1 ongoing", len(got), got)
	}
	id := got[0].ID
	// Quiet, under the 60 s quiet period; the victim's usual TCP traffic goes on.
	usual := traffic{dst: addrs("198.51.100.60"), src: addrs("192.0.2.7", "192.0.2.8"), proto: 6, flags: 0x1b, dstPort: 443, size: 800, pps: 3000, sampling: 100}
	h.run(50, usual)
	if a, _ := h.m.Get(id); a.State != alert.Ongoing {
		t.Fatalf("ended after 50 quiet seconds, quiet_period is 60s")
	}
	h.run(15, usual)
	a, _ := h.m.Get(id)
	if a.State != alert.Ended || a.EndedAt == nil {
		t.Fatalf("state %s after 65 quiet seconds", a.State)
	}
	if a.Vector != alert.VectorUDPFlood {
		t.Errorf("vector %s at the end, want the attack's (udp-flood), not the usual traffic's", a.Vector)
	}
	if d := a.EndedAt.Sub(a.PeakAt); d < 0 || d > 25*time.Second {
		t.Errorf("ended_at %v, peak %v: the end is the last second over threshold", a.EndedAt, a.PeakAt)
	}
	if len(a.Series) < 15 {
		t.Errorf("series has %d points for a 20 s attack", len(a.Series))
	}
	// A new attack on the same host is a new alert.
	h.run(5, flood)
	all := h.m.List(alert.Filter{})
	if len(all) != 2 || all[0].ID == id || all[0].State != alert.Ongoing {
		t.Fatalf("second attack: %d alerts", len(all))
	}
}

func TestLateRecordsCountedInTheirSecond(t *testing.T) {
	h := newHarness(t, testNetworks)
	// Records that arrive 20 s after they ended (a long inactive timeout).
	h.run(25, traffic{dst: addrs("198.51.100.70"), randomSrc: true, proto: 6, flags: tcpSYN, size: 60, pps: 3 * thr("tcp_syn_pps"), sampling: 1000, delaySec: 20})
	got := h.m.List(alert.Filter{})
	if len(got) != 1 || got[0].Vector != alert.VectorSYNFlood {
		t.Fatalf("late records: %d alerts", len(got))
	}
	if got[0].PeakPps < 0.75*3*thr("tcp_syn_pps") {
		t.Errorf("peak %.0f pps", got[0].PeakPps)
	}
}

func TestHostgroupThresholdsApply(t *testing.T) {
	// customer-b's own udp_pps is 10k: 15k pps is an attack there, not elsewhere (default 20k).
	h := newHarness(t, `
networks:
  - prefix: 198.51.100.0/24
    name: customer-a
  - prefix: 198.51.100.128/25
    name: customer-b
    thresholds: {udp_pps: 10k}
`)
	tr := traffic{randomSrc: true, proto: 17, size: 300, pps: 15e3, sampling: 100}
	tr.dst = addrs("198.51.100.200")
	h.run(4, tr)
	tr.dst = addrs("198.51.100.20")
	h.run(4, tr)
	got := h.m.List(alert.Filter{})
	if len(got) != 1 || got[0].Victims[0].String() != "198.51.100.200" || got[0].Hostgroup != "customer-b" {
		t.Fatalf("alerts %+v, want one on 198.51.100.200 (customer-b)", got)
	}
}

func TestTooLateRecordsAreCounted(t *testing.T) {
	h := newHarness(t, testNetworks)
	h.run(2, traffic{dst: addrs("198.51.100.80"), randomSrc: true, proto: 17, size: 100, pps: 1000, sampling: 1, delaySec: 600})
	if got := counterValue(t, h.d.dropped.WithLabelValues("late")); got == 0 {
		t.Error("records 10 minutes late were not counted as dropped")
	}
}

func counterValue(t testing.TB, c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestFlowClockReplay: traffic replayed from another day (yocho simulate --speed, a capture) is
// judged on its own timestamps when the clock is the flows'.
func TestFlowClockReplay(t *testing.T) {
	h := newHarness(t, testNetworks+"    clock: flow\n")
	wall := h.sec
	h.sec -= 86400 * 30 // the flows are a month old
	h.d.now = func() time.Time { return time.Unix(wall, 0) }
	h.run(6, traffic{dst: addrs("198.51.100.90"), randomSrc: true, proto: 1, size: 84, pps: 3 * thr("icmp_pps"), sampling: 1000})
	got := h.m.List(alert.Filter{})
	if len(got) != 1 || got[0].Vector != alert.VectorICMPFlood {
		t.Fatalf("replayed flood: %d alerts", len(got))
	}
	if late := counterValue(t, h.d.dropped.WithLabelValues("late")); late != 0 {
		t.Errorf("%.0f records dropped as late with the flow clock", late)
	}
}

// TestOutgoingBotnetAgainstOneTarget: many of our subscribers, each under every threshold,
// together flooding one outside address.
func TestOutgoingBotnetAgainstOneTarget(t *testing.T) {
	h := newHarness(t, testNetworks)
	bots := hosts("198.51.100.0/24", 200)
	h.run(6, traffic{dst: addrs("203.0.113.50"), src: bots, proto: 17, dstPort: 80, size: 600, pps: 3 * thr("udp_pps"), sampling: 100})
	got := h.m.List(alert.Filter{Direction: alert.Outgoing})
	if len(got) != 1 || got[0].Victims[0].String() != "203.0.113.50" || got[0].DistinctSources < 100 {
		t.Fatalf("outgoing alerts %+v", got)
	}
	// A busy server of ours sending to many clients is not an attack.
	h2 := newHarness(t, testNetworks)
	clients := make([]netip.Addr, 3000)
	for i := range clients {
		clients[i] = netip.AddrFrom4([4]byte{100, 64, byte(i >> 8), byte(i)})
	}
	h2.run(10, traffic{dst: clients, src: addrs("198.51.100.1"), proto: 6, flags: 0x1b, srcPort: 443, dstPort: 50000, size: 1400, pps: 5 * thr("pps"), sampling: 100})
	if got := h2.m.List(alert.Filter{}); len(got) != 0 {
		t.Fatalf("a server's downloads raised %d alerts: %s %v", len(got), got[0].Key, got[0].Crossed)
	}
}

// TestHostFloodInBusyPrefixIsNotCarpet: a /24 with much usual traffic, then one of its hosts
// flooded: the prefix goes over its threshold too, but the attack is the host's alone.
func TestHostFloodInBusyPrefixIsNotCarpet(t *testing.T) {
	h := newHarness(t, testNetworks)
	busy := traffic{dst: hosts("198.51.100.0/24", 200), randomSrc: true, proto: 6, flags: 0x1b, dstPort: 443, size: 700,
		pps: 0.7 * float64(config.DefaultPrefixThresholds()["pps"]), sampling: 1000}
	h.run(60, busy)
	h.run(10, busy, traffic{dst: addrs("198.51.100.77"), randomSrc: true, proto: 6, flags: tcpSYN, size: 60, pps: 5 * thr("tcp_syn_pps"), sampling: 1000})
	got := h.m.List(alert.Filter{})
	if len(got) != 1 || got[0].Prefix.IsValid() || got[0].Victims[0].String() != "198.51.100.77" {
		for _, a := range got {
			t.Logf("alert %s %s", a.Key, a.Vector)
		}
		t.Fatalf("%d alerts, want one, on the host", len(got))
	}
}

// TestHostPromotedByItsAttackAlertsBeforeItsPrefix: a busy /24 tracked all along, then one host
// hit by amplification whose records each cover 5 seconds (a router's active timeout): the host
// must be named on its own, with no carpet alert on the /24 ahead of it (as `yocho demo` showed).
func TestHostPromotedByItsAttackAlertsBeforeItsPrefix(t *testing.T) {
	h := newHarness(t, testNetworks)
	busy := traffic{dst: hosts("198.51.100.0/24", 200), randomSrc: true, proto: 6, flags: 0x1b, dstPort: 443, size: 700,
		pps: 0.7 * float64(config.DefaultPrefixThresholds()["pps"]), sampling: 1000}
	h.run(60, busy)
	ntp := traffic{dst: addrs("198.51.100.20"), randomSrc: true, proto: 17, srcPort: 123, size: 468,
		pps: 10 * thr("pps"), sampling: 1000, durSec: 5}
	h.run(10, busy, ntp)
	got := h.m.List(alert.Filter{})
	if len(got) != 1 || got[0].Prefix.IsValid() || got[0].Victims[0].String() != "198.51.100.20" || got[0].Vector != "ntp-amplification" {
		for _, a := range got {
			t.Logf("alert %s %s", a.Key, a.Vector)
		}
		t.Fatalf("%d alerts, want one ntp-amplification alert on the host", len(got))
	}
}

// TestCarpetFoldsItsHostsAlerts: a /24 carpet-bombed so hard that each of its hosts is over its
// own threshold too is one attack: one alert, on the prefix, whose victims are the hosts. A host
// of the same /24 under another vector at the same time is a separate attack, with its own alert.
func TestCarpetFoldsItsHostsAlerts(t *testing.T) {
	h := newHarness(t, testNetworks)
	hit := hosts("198.51.100.0/24", 20)
	perHost := 2 * thr("udp_pps")
	h.run(8,
		traffic{dst: hit, randomSrc: true, proto: 17, size: 400, pps: perHost * float64(len(hit)), sampling: 100},
		traffic{dst: addrs("198.51.100.200"), randomSrc: true, proto: 6, flags: tcpSYN, size: 60, pps: 3 * thr("tcp_syn_pps"), sampling: 100})
	got := h.m.List(alert.Filter{})
	var carpet, syn []alert.Alert
	for _, a := range got {
		switch {
		case a.Prefix.IsValid():
			carpet = append(carpet, a)
		case a.Vector == alert.VectorSYNFlood && a.Victims[0].String() == "198.51.100.200":
			syn = append(syn, a)
		default:
			t.Errorf("alert %s (%s) beside the carpet alert", a.Key, a.Vector)
		}
	}
	if len(carpet) != 1 || len(syn) != 1 {
		t.Fatalf("%d carpet and %d syn-flood alerts of %d, want 1 and 1", len(carpet), len(syn), len(got))
	}
	a := carpet[0]
	if a.Prefix.String() != "198.51.100.0/24" || a.Vector != alert.VectorUDPFlood || a.State != alert.Ongoing {
		t.Fatalf("carpet alert %s %s %s", a.Prefix, a.Vector, a.State)
	}
	for _, v := range hit {
		if !slices.Contains(a.Victims, v) {
			t.Errorf("victim %s missing from the carpet alert (victims %v)", v, a.Victims)
		}
	}
}

// TestFastReplayUnderWallClock: a day of history sent at full speed while the detector runs on the
// wall clock, with part of it from an sFlow exporter (stamped on arrival, so a day's traffic seems
// to come in seconds). The timed records, a day old, tell the detector the collector receives the
// past: the arrival-stamped ones are set apart and raise no alert. Once the timed records are live
// again, an sFlow flood is an attack as any other.
func TestFastReplayUnderWallClock(t *testing.T) {
	h := newHarness(t, testNetworks)
	history := traffic{dst: hosts("198.51.100.0/24", 200), randomSrc: true, proto: 6, flags: 0x1b, dstPort: 443, size: 700,
		pps: 50_000, sampling: 100, delaySec: 86400}
	// A day compressed: the sFlow part of it lands on a busy server at 3x its threshold.
	compressed := traffic{dst: addrs("198.51.100.30"), randomSrc: true, proto: 6, flags: 0x1b, dstPort: 443, size: 700,
		pps: 3 * thr("pps"), sampling: 100, arrival: true}
	h.run(10, history, compressed)
	if got := h.m.List(alert.Filter{}); len(got) != 0 {
		t.Fatalf("a replayed day raised %d alerts (%s %s)", len(got), got[0].Key, got[0].Vector)
	}
	if n := counterValue(t, h.d.dropped.WithLabelValues("replay")); n == 0 {
		t.Error("no record counted as dropped for the replay")
	}
	// Live again: timed records of now, and an sFlow flood on the same server.
	live := history
	live.delaySec = 0
	h.run(70, live)
	h.run(6, live, compressed)
	got := h.m.List(alert.Filter{})
	if len(got) != 1 || got[0].Victims[0].String() != "198.51.100.30" {
		t.Fatalf("live sFlow flood: %d alerts, want one on 198.51.100.30", len(got))
	}
}

// TestTopKKeepsHeavyHittersAmongSpoofedKeys: three keys heavier than 1/k of the packets, among a
// million keys seen once each, are all held (Space-Saving's guarantee), with counts no lower than
// their true ones, the two heaviest first.
func TestTopKKeepsHeavyHittersAmongSpoofedKeys(t *testing.T) {
	for _, size := range []int{topPeers, 2 * topPeers} {
		tk := newTopK(size)
		r := rand.New(rand.NewPCG(1, 2))
		heavy := map[uint64]float64{11: 0, 22: 0, 33: 0}
		for i := 0; i < 1_000_000; i++ {
			switch i % 20 {
			case 0:
				tk.add(11, 0, 0, 3, 1)
				heavy[11] += 3
			case 1:
				tk.add(22, 0, 7, 2, 1)
				heavy[22] += 2
			case 2:
				tk.add(33, 5, 0, 1, 1)
				heavy[33]++
			default:
				tk.add(r.Uint64()|1<<40, r.Uint64(), r.Uint32(), 1, 1)
			}
		}
		top := tk.top()
		if len(top) != size {
			t.Fatalf("size %d: %d entries", size, len(top))
		}
		held := map[uint64]float64{}
		for _, e := range top {
			held[e.k1] = e.packets
		}
		for k, want := range heavy {
			if held[k] < want {
				t.Errorf("size %d: key %d counted %.0f, sent %.0f", size, k, held[k], want)
			}
		}
		if top[0].k1 != 11 || top[1].k1 != 22 {
			t.Errorf("size %d: heaviest %d, %d; want 11, 22", size, top[0].k1, top[1].k1)
		}
	}
}

// TestBusyPrefixLearnedIsNotCarpet: a /24 of subscribers busy every evening, near its carpet
// threshold, then a little over it for a few seconds: with learned baselines (the prefix's usual
// peak by hour of week) it is not carpet-bombed; without them it would be. A real carpet attack
// on it is found all the same.
func TestBusyPrefixLearnedIsNotCarpet(t *testing.T) {
	all := hosts("198.51.100.0/24", 254)
	bps := float64(config.DefaultPrefixThresholds()["bps"])
	busy := func(share float64) traffic {
		return traffic{dst: all, randomSrc: true, proto: 6, flags: 0x1b, srcPort: 443, size: 1200,
			pps: share * bps / 8 / 1200, sampling: 1000}
	}
	for _, learn := range []bool{false, true} {
		yaml := testNetworks
		if !learn {
			yaml += "    baseline: {enabled: false}\n"
		}
		h := newHarness(t, yaml)
		h.run(90, busy(0.9))
		if got := h.m.List(alert.Filter{}); len(got) != 0 {
			t.Fatalf("learn %v: usual traffic alerted: %v %v", learn, got[0].Key, got[0].Crossed)
		}
		h.run(5, busy(1.25))
		got := h.m.List(alert.Filter{})
		if learn && len(got) != 0 {
			t.Errorf("a usual evening's peak raised %d alerts: %v %v", len(got), got[0].Key, got[0].Crossed)
		}
		if !learn && len(got) == 0 {
			t.Errorf("without baselines, the test's peak raises no alert: it tests nothing")
		}
		if !learn {
			continue
		}
		h.run(5, busy(0.9), traffic{dst: all, randomSrc: true, proto: 17, size: 400, pps: 3 * bps / 8 / 400, sampling: 1000})
		if got := h.m.List(alert.Filter{}); len(got) != 1 || got[0].Prefix.String() != "198.51.100.0/24" {
			t.Errorf("carpet attack on a busy prefix: %d alerts", len(got))
		}
	}
}

// TestPromotingBatchCountedWhole: a host comes near a threshold in the middle of a batch; the
// batch's records that went to it before (and to its /24) are counted in its detailed state too,
// as are those of other hosts in between, each in its own.
func TestPromotingBatchCountedWhole(t *testing.T) {
	h := newHarness(t, testNetworks)
	d := h.d
	now := h.sec*1000 + 500
	victim, other := netip.MustParseAddr("198.51.100.10"), netip.MustParseAddr("198.51.100.11")
	const n = 400 // 100 pps each: 2x the default 20 kpps in all; promoted near the 40th
	b := flow.NewBatch(2 * n)
	for i := range n {
		for _, dst := range []netip.Addr{victim, other} {
			b.Append(&flow.Record{ReceivedMs: now, StartMs: now - 1300, EndMs: now - 1300, SamplingRate: 100,
				SrcAddr: netip.AddrFrom4([4]byte{203, 0, byte(i >> 8), byte(i)}), DstAddr: dst, Proto: 17,
				SrcPort: 40000, DstPort: 53000, Packets: 1, Bytes: 60})
		}
	}
	d.consume(b)
	sec := uint32((now - 1300) / 1000)
	for _, tc := range []struct {
		k    key
		want float64
	}{
		{key{0, 0xffff<<32 | 198<<24 | 51<<16 | 100<<8 | 10, 0}, n * 100},
		{key{0, 0xffff<<32 | 198<<24 | 51<<16 | 100<<8 | 11, 0}, n * 100},
	} {
		di, ok := d.byKey[tc.k]
		if !ok {
			t.Fatalf("%s not tracked in detail", tc.k.addr())
		}
		dt := d.dets[di]
		if got := dt.cell(sec, d.w, enrich.KindTotal, enrich.MetricPps); got != tc.want {
			t.Errorf("%s: %.0f pps counted in detail, want %.0f (every record of the batch)", tc.k.addr(), got, tc.want)
		}
		if got := dt.peerHLL.estimate(); got < n*95/100 || got > n*105/100 {
			t.Errorf("%s: %d distinct sources estimated, want about %d", tc.k.addr(), got, n)
		}
	}
}

// TestSharedFirstStageSlots: with a first stage of 64 slots, every host and prefix shares its slot
// with others, and a slot held by one detailed state is hashed to by others, detailed or not.
// Three floods at once (on three /24s, and a fourth later), among 32 busy benign hosts:
// each flood is found with its own rate, no benign host is alerted, and once the attacks have
// ended and their states are let go, the slots count pressure again (a fourth flood is found).
func TestSharedFirstStageSlots(t *testing.T) {
	h := newHarness(t, `
networks:
  - {prefix: 198.51.100.0/22, name: customer-a}
detection:
  ddos:
    min_duration: 2s
    quiet_period: 5s
`)
	cfg := ConfigFrom(h.cfg.Detection.DDoS)
	cfg.MaxHosts = 64 // under what the configuration allows
	now := h.d.now
	h.d = New(cfg, h.d.nets, h.m, nil, nil)
	h.d.now = now
	pps := 3 * thr("udp_pps")
	flood := func(dst string) traffic {
		return traffic{dst: addrs(dst), randomSrc: true, proto: 17, size: 512, pps: pps, sampling: 100}
	}
	var busy []netip.Addr // eight busy hosts in each /24, each at a quarter of its threshold
	for _, p := range []string{"198.51.100.64/26", "198.51.101.64/26", "198.51.102.64/26", "198.51.103.64/26"} {
		busy = append(busy, hosts(p, 8)...)
	}
	benign := traffic{dst: busy, randomSrc: true, proto: 6, flags: tcpACK, size: 800, pps: 0.25 * thr("pps") * float64(len(busy)), sampling: 100}
	h.run(5, benign)
	h.run(8, benign, flood("198.51.100.7"), flood("198.51.101.7"), flood("198.51.102.7"))
	got := map[string]float64{}
	for _, a := range h.m.List(alert.Filter{}) {
		got[a.Key] = a.PeakPps
	}
	for _, v := range []string{"198.51.100.7", "198.51.101.7", "198.51.102.7"} {
		peak, ok := got["ddos/incoming/"+v]
		if !ok || peak < 0.75*pps || peak > 1.3*pps {
			t.Errorf("flood on %s: alert %v, peak %.0f pps of %.0f sent", v, ok, peak, pps)
		}
	}
	if len(got) != 3 {
		t.Errorf("%d alerts, want the three floods': %v", len(got), got)
	}
	// The attacks end; their states are let go when idle and needed; a fourth flood.
	h.run(20, benign)
	h.run(8, benign, flood("198.51.103.9"))
	fourth := false
	for _, a := range h.m.List(alert.Filter{}) {
		switch {
		case a.Key == "ddos/incoming/198.51.103.9":
			fourth = true
		case a.State != alert.Ended:
			t.Errorf("%s still %s", a.Key, a.State)
		}
	}
	if !fourth {
		t.Errorf("a fourth flood, after the first three ended, not found")
	}
}
