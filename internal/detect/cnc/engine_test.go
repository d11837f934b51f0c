package cnc

import (
	"math"
	"net/netip"
	"testing"
	"time"

	"yocho/internal/flow"
	"yocho/internal/intel"
)

var t0 = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC).UnixMilli()

// contact is one client → server record, with its answer when reply is set.
type contact struct {
	ms      int64
	client  netip.Addr
	server  netip.Addr
	port    uint16
	proto   uint8
	flags   uint8
	packets uint64
	bytes   uint64
	rate    uint32
	reply   bool
}

func sub(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}) }
func ext(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}) }

func feed(e *Engine, cs []contact) {
	b := flow.NewBatch(len(cs) * 2)
	for _, c := range cs {
		r := flow.Record{StartMs: c.ms, EndMs: c.ms, ReceivedMs: c.ms, SrcAddr: c.client, DstAddr: c.server,
			SrcPort: 50000, DstPort: c.port, Proto: c.proto, TCPFlags: c.flags, Packets: c.packets, Bytes: c.bytes, SamplingRate: c.rate}
		if r.Proto == 0 {
			r.Proto = 6
		}
		if r.Packets == 0 {
			r.Packets = 1
		}
		if r.Bytes == 0 {
			r.Bytes = 120
		}
		if r.SamplingRate == 0 {
			r.SamplingRate = 1
		}
		if r.Proto == 6 && r.TCPFlags == 0 {
			r.TCPFlags = 0x1b
		}
		b.Append(&r)
		if c.reply {
			r.SrcAddr, r.DstAddr, r.SrcPort, r.DstPort = c.server, c.client, c.port, 50000
			b.Append(&r)
		}
	}
	e.Consume(b)
}

func newEngine(t *testing.T, mod func(*Config), deps Deps) *Engine {
	t.Helper()
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	e, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func find(t *testing.T, e *Engine, a netip.Addr, port uint16) Candidate {
	t.Helper()
	for _, c := range e.Candidates(0, 0) {
		if c.Address == a && c.Port == port {
			return c
		}
	}
	t.Fatalf("%s:%d is not a candidate", a, port)
	return Candidate{}
}

// population makes n clients contacting server once each over an hour, at sampled rates, with
// the sizes size(i), plus background traffic so that active subscribers are many.
func population(n int, server netip.Addr, port uint16, size func(i int) uint64) []contact {
	var cs []contact
	for i := range n {
		cs = append(cs, contact{ms: t0 + int64(i)*3600000/int64(n), client: sub(i), server: server, port: port,
			bytes: size(i), rate: 1000, flags: 0x18, reply: true})
	}
	for i := range 2000 {
		cs = append(cs, contact{ms: t0 + int64(i)*1800, client: sub(100000 + i), server: ext(1000 + i%500), port: 443, rate: 1000, bytes: uint64(500 + i)})
	}
	return cs
}

func TestScoreParts(t *testing.T) {
	fixed := func(int) uint64 { return 60 }
	varied := func(i int) uint64 { return uint64(300 + 37*i%700) }
	srv := ext(1)
	for _, tc := range []struct {
		name   string
		part   string
		run    func(e *Engine) Candidate
		wantGT float64 // the part must be above this...
		wantLE float64 // ...and at most this (-1: no upper bound)
	}{
		{"many clients", PartClients, func(e *Engine) Candidate { feed(e, population(60, srv, 48101, fixed)); return find(t, e, srv, 48101) }, 20, -1},
		{"one client", PartClients, func(e *Engine) Candidate {
			feed(e, []contact{{ms: t0, client: sub(1), server: srv, port: 48101}, {ms: t0 + 1000, client: sub(1), server: srv, port: 48101}})
			return find(t, e, srv, 48101)
		}, -1, 0},
		{"fixed sizes", PartSimilarity, func(e *Engine) Candidate { feed(e, population(40, srv, 48101, fixed)); return find(t, e, srv, 48101) }, 20, -1},
		{"varied sizes", PartSimilarity, func(e *Engine) Candidate { feed(e, population(40, srv, 48101, varied)); return find(t, e, srv, 48101) }, -1, 5},
		{"rare endpoint", PartRarity, func(e *Engine) Candidate { feed(e, population(40, srv, 48101, fixed)); return find(t, e, srv, 48101) }, 5, -1},
		{"steady population", PartRegularity, func(e *Engine) Candidate { feed(e, population(60, srv, 48101, fixed)); return find(t, e, srv, 48101) }, 7, -1},
		{"one burst", PartRegularity, func(e *Engine) Candidate {
			var cs []contact
			for i := range 60 {
				m := int64(0)
				if i >= 50 {
					m = int64(i) * 60000 // ten stragglers over the hour
				}
				cs = append(cs, contact{ms: t0 + m, client: sub(i % 10), server: srv, port: 48101, rate: 1000})
			}
			feed(e, cs)
			return find(t, e, srv, 48101)
		}, -1, 5},
		{"unanswered SYNs", PartNoAnswer, func(e *Engine) Candidate {
			var cs []contact
			for i := range 20 {
				cs = append(cs, contact{ms: t0 + int64(i)*30000, client: sub(1), server: srv, port: 1177, flags: 0x02, packets: 2, bytes: 104})
			}
			feed(e, cs)
			return find(t, e, srv, 1177)
		}, 19, -1},
		{"answered", PartNoAnswer, func(e *Engine) Candidate {
			var cs []contact
			for i := range 20 {
				cs = append(cs, contact{ms: t0 + int64(i)*30000, client: sub(1), server: srv, port: 1177, reply: true})
			}
			feed(e, cs)
			return find(t, e, srv, 1177)
		}, -1, 0},
		{"known C&C port", PartPortRole, func(e *Engine) Candidate {
			feed(e, []contact{{ms: t0, client: sub(1), server: srv, port: 6667}})
			return find(t, e, srv, 6667)
		}, 9.9, -1},
		{"web port", PartPortRole, func(e *Engine) Candidate {
			feed(e, []contact{{ms: t0, client: sub(1), server: srv, port: 443}})
			return find(t, e, srv, 443)
		}, -1, 0},
		{"game server port", PartPortRole, func(e *Engine) Candidate {
			feed(e, []contact{{ms: t0, client: sub(1), server: srv, port: 3074, proto: 17}}) // Xbox Live
			return find(t, e, srv, 3074)
		}, -1, 0},
		{"regular beacon", PartBeacon, func(e *Engine) Candidate {
			var cs []contact
			for i := range 100 {
				cs = append(cs, contact{ms: t0 + int64(i)*60000 + int64(i%3)*300, client: sub(1), server: srv, port: 8000, bytes: 240, reply: true})
			}
			feed(e, cs)
			return find(t, e, srv, 8000)
		}, 30, -1},
		{"random contacts", PartBeacon, func(e *Engine) Candidate {
			var cs []contact
			// Poisson contacts (exponential intervals, mean 5 min) of exponential sizes (mean 1 kB).
			x := uint64(7)
			ms := t0
			exp := func(mean float64) float64 {
				x = mix64(x)
				return -mean * math.Log(float64(x>>11+1)/(1<<53))
			}
			for range 100 {
				ms += int64(exp(300000))
				cs = append(cs, contact{ms: ms, client: sub(1), server: srv, port: 8000, bytes: 40 + uint64(exp(1000)), reply: true})
			}
			feed(e, cs)
			return find(t, e, srv, 8000)
		}, -1, 15},
		{"IoT clients", PartIoTClients, func(e *Engine) Candidate {
			var cs []contact
			for i := range 10 {
				cs = append(cs, contact{ms: t0, client: sub(i), server: ext(500 + i), port: 23, flags: 0x02}) // telnet scans
			}
			for i := range 10 {
				cs = append(cs, contact{ms: t0 + 1000 + int64(i)*60000, client: sub(i), server: srv, port: 48101})
			}
			feed(e, cs)
			return find(t, e, srv, 48101)
		}, 9, -1},
		{"flat day", PartFlatProfile, func(e *Engine) Candidate {
			var cs []contact
			for i := range 24 * 12 {
				cs = append(cs, contact{ms: t0 + int64(i)*300000, client: sub(i % 20), server: srv, port: 48101, rate: 1000})
			}
			feed(e, cs)
			return find(t, e, srv, 48101)
		}, 4, -1},
		{"daytime only", PartFlatProfile, func(e *Engine) Candidate {
			var cs []contact
			for i := range 24 * 12 {
				h := int64(i) * 300000 % 86400000
				if h < 8*3600000 || h > 20*3600000 {
					continue
				}
				cs = append(cs, contact{ms: t0 + int64(i)*300000, client: sub(i % 20), server: srv, port: 48101, rate: 1000})
			}
			cs = append(cs, contact{ms: t0 + 23*3600000, client: sub(1), server: ext(9), port: 443})
			feed(e, cs)
			return find(t, e, srv, 48101)
		}, -1, 0},
		{"new endpoint", PartNewness, func(e *Engine) Candidate {
			feed(e, []contact{{ms: t0, client: sub(1), server: ext(2), port: 443}, {ms: t0 + 3*3600000, client: sub(1), server: srv, port: 48101}})
			return find(t, e, srv, 48101)
		}, 4.9, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.run(newEngine(t, nil, Deps{}))
			got := c.Parts[tc.part]
			if got <= tc.wantGT || (tc.wantLE >= 0 && got > tc.wantLE) {
				t.Errorf("%s = %.1f, want > %.1f and ≤ %.1f; score %.1f, evidence %v", tc.part, got, tc.wantGT, tc.wantLE, c.Score, c.Evidence)
			}
			if got > PartMax(tc.part) {
				t.Errorf("%s = %.1f exceeds its maximum %.0f", tc.part, got, PartMax(tc.part))
			}
			if c.Score < 0 || c.Score > 100 {
				t.Errorf("score %.1f outside 0..100", c.Score)
			}
		})
	}
}

type fakeIndicators map[netip.Addr][]intel.Match

func (f fakeIndicators) LookupAddr(a netip.Addr) []intel.Match { return f[a] }

func TestIntelRaisesButNeverAlone(t *testing.T) {
	srv := ext(7)
	e := newEngine(t, nil, Deps{Indicators: fakeIndicators{srv: {{Source: "feodo", Indicator: srv.String(), Kind: intel.KindAddr, Confidence: 90}}}})
	feed(e, []contact{{ms: t0, client: sub(1), server: srv, port: 443, reply: true}})
	c := find(t, e, srv, 443)
	if c.Parts[PartIntel] < 17 || len(c.Intel) != 1 || c.Intel[0].Source != "feodo" {
		t.Errorf("intel part %.1f, matches %v; want ≈18 from feodo", c.Parts[PartIntel], c.Intel)
	}
	if c.Alert {
		t.Errorf("an indicator alone raised an alert (score %.1f)", c.Score)
	}
	named := false
	for _, w := range c.Evidence {
		named = named || (len(w) > 0 && contains(w, "feodo") && contains(w, "confidence 90"))
	}
	if !named {
		t.Errorf("evidence does not name the source and its confidence: %v", c.Evidence)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestDirectionAndScope(t *testing.T) {
	e := newEngine(t, nil, Deps{})
	b := flow.NewBatch(8)
	for _, r := range []flow.Record{
		// a reply alone does not make an endpoint
		{StartMs: t0, SrcAddr: ext(1), DstAddr: sub(1), SrcPort: 443, DstPort: 50000, Proto: 6, Packets: 1, Bytes: 60, TCPFlags: 0x12},
		// inside traffic, transit traffic and multicast are not contacts
		{StartMs: t0, SrcAddr: sub(1), DstAddr: sub(2), SrcPort: 50000, DstPort: 80, Proto: 6, Packets: 1},
		{StartMs: t0, SrcAddr: ext(1), DstAddr: ext(2), SrcPort: 50000, DstPort: 80, Proto: 6, Packets: 1},
		{StartMs: t0, SrcAddr: sub(1), DstAddr: netip.MustParseAddr("224.0.0.251"), SrcPort: 5353, DstPort: 5353, Proto: 17, Packets: 1},
		// an outside client of a subscriber's server is not a C&C contact
		{StartMs: t0, SrcAddr: sub(1), DstAddr: ext(3), SrcPort: 22, DstPort: 50000, Proto: 6, Packets: 1, TCPFlags: 0x18},
		// a SYN from outside to a subscriber
		{StartMs: t0, SrcAddr: ext(4), DstAddr: sub(1), SrcPort: 50000, DstPort: 23, Proto: 6, Packets: 1, TCPFlags: 0x02},
	} {
		b.Append(&r)
	}
	e.Consume(b)
	if cs := e.Candidates(0, 0); len(cs) != 0 {
		t.Errorf("got candidates %v, want none", cs)
	}
}

func TestClientsListedWithCustomer(t *testing.T) {
	srv := ext(1)
	subs := NewPrefixes([]Network{{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Customer: "acme"}, {Prefix: netip.MustParsePrefix("10.0.0.0/24"), Customer: "zeta"}})
	e := newEngine(t, nil, Deps{Subscribers: subs})
	feed(e, population(60, srv, 23, func(int) uint64 { return 60 }))
	feed(e, population(60, srv, 23, func(int) uint64 { return 60 })) // the same clients again
	cl, ok := e.Clients(srv, 23, 6)
	if !ok || len(cl) < 50 {
		t.Fatalf("clients: %d (tracked %v), want ≥ 50", len(cl), ok)
	}
	for _, c := range cl {
		want := "acme"
		if netip.MustParsePrefix("10.0.0.0/24").Contains(c.Address) {
			want = "zeta"
		}
		if c.Customer != want {
			t.Errorf("%s: customer %q, want %q (most specific prefix)", c.Address, c.Customer, want)
		}
	}
	if _, ok := e.Clients(ext(99), 23, 6); ok {
		t.Error("an endpoint never contacted is tracked")
	}
}

func TestMemoryBounded(t *testing.T) {
	e := newEngine(t, func(c *Config) { c.MaxEndpoints, c.MaxDetailed, c.MaxPairs = 1000, 100, 50 }, Deps{})
	var cs []contact
	for i := range 50000 {
		cs = append(cs, contact{ms: t0 + int64(i), client: sub(i % 300), server: ext(i % 20000), port: uint16(1024 + i%7)})
	}
	feed(e, cs)
	st := e.Stats()
	if st.Endpoints > 1000 || st.Detailed > 100 || st.Pairs > 50 {
		t.Errorf("state %+v beyond its bounds 1000/100/50", st)
	}
}

func TestAlerterCalledOnce(t *testing.T) {
	var got []Candidate
	e := newEngine(t, nil, Deps{Alerter: alerterFunc(func(c Candidate) { got = append(got, c) })})
	srv := ext(1)
	var cs []contact
	for i := range 200 {
		cs = append(cs, contact{ms: t0 + int64(i)*23000, client: sub(1), server: srv, port: 1177, flags: 0x02, packets: 2, bytes: 104})
	}
	feed(e, cs)
	e.Flush()
	if len(got) == 0 {
		t.Fatal("no alert for a beaconing, unanswered client on a known C&C port")
	}
	if got[0].Address != srv || !got[0].Alert || got[0].Parts[PartBeacon] == 0 {
		t.Errorf("alert %+v", got[0])
	}
}

type alerterFunc func(Candidate)

func (f alerterFunc) CnC(c Candidate) { f(c) }

func TestParseEndpoint(t *testing.T) {
	for _, tc := range []struct {
		in    string
		addr  string
		port  uint16
		proto uint8
		ok    bool
	}{
		{"41.108.179.197:1177/tcp", "41.108.179.197", 1177, 6, true},
		{"41.108.179.197:53/udp", "41.108.179.197", 53, 17, true},
		{"[2001:db8::1]:443", "2001:db8::1", 443, 6, true},
		{"41.108.179.197", "", 0, 0, false},
		{"41.108.179.197:1177/xyz", "", 0, 0, false},
	} {
		a, p, pr, err := ParseEndpoint(tc.in)
		if (err == nil) != tc.ok || (tc.ok && (a.String() != tc.addr || p != tc.port || pr != tc.proto)) {
			t.Errorf("%q: %v %d %d %v", tc.in, a, p, pr, err)
		}
	}
}

func TestConsumeDoesNotAllocate(t *testing.T) {
	e := newEngine(t, nil, Deps{})
	b := flow.NewBatch(1024)
	for i := range 1024 {
		r := flow.Record{StartMs: t0, SrcAddr: sub(i % 64), DstAddr: ext(i % 32), SrcPort: 50000, DstPort: 48101, Proto: 6, Packets: 1, Bytes: 60, SamplingRate: 1000, TCPFlags: 0x18}
		b.Append(&r)
	}
	e.Consume(b) // warm up: endpoints and details exist
	allocs := testing.AllocsPerRun(20, func() { e.Consume(b) })
	if allocs > 0 {
		t.Errorf("Consume of known endpoints allocates %.1f times per batch", allocs)
	}
}

// TestBulkAndACKSizesAreNotAlike: a popular HTTPS endpoint whose sampled client records are one
// full-size data packet or one bare ACK looks "alike" in size, yet no message repeats: its
// sizes must not count as similarity, and population alone must not raise an alert.
func TestBulkAndACKSizesAreNotAlike(t *testing.T) {
	e := newEngine(t, nil, Deps{})
	srv := ext(7)
	var cs []contact
	for i := range 100 {
		c := contact{ms: t0 + int64(i)*3600000/100 + int64(i*i%997)*1000, client: sub(i), server: srv, port: 443,
			rate: 1000, reply: true, bytes: 1400, flags: 0x18}
		if i%3 == 0 {
			c.bytes, c.flags = 52, 0x10 // a bare ACK
		}
		cs = append(cs, c)
	}
	for i := range 2000 {
		cs = append(cs, contact{ms: t0 + int64(i)*1800, client: sub(100000 + i), server: ext(1000 + i%500), port: 443, rate: 1000, bytes: uint64(500 + i)})
	}
	feed(e, cs)
	c := find(t, e, srv, 443)
	if c.Parts[PartSimilarity] != 0 {
		t.Errorf("similarity = %.1f from bulk and ACK sizes, want 0 (%v)", c.Parts[PartSimilarity], c.Evidence)
	}
	if c.Alert {
		t.Errorf("alert at score %.1f with no behaviour of a bot: %v", c.Score, c.Parts)
	}
}

// TestSparseBotnetAlerts: at 1:1000 sampling a botnet of 50 bots beaconing every minute gives a
// sampled contact every five minutes and an answer every seven. Half an hour in, five contacts
// from five bots and four answers, all of one size each way, must alert: under a rule that
// judged similarity on contacts alone once eight had come, such a botnet alerted between 20
// and 65 minutes in (scenarios/botnet.yaml, mirai-50), depending on the draw. With sizes that
// vary, or too few of them, the same population must not. Once eight contacts are alike, a few
// answers that vary (other traffic to the same port) must not hold the alert back.
func TestSparseBotnetAlerts(t *testing.T) {
	for _, tc := range []struct {
		name               string
		contacts, answers  int
		variedC, variedA   bool
		wantSimilar, alert bool
		minSimilarity      float64 // points
	}{
		{"5 contacts and 4 answers, alike", 5, 4, false, false, true, true, 24},
		{"8 contacts, alike", 8, 0, false, false, true, true, 24},
		{"5 contacts and 4 answers, varied", 5, 4, true, true, false, false, 0},
		{"7 contacts and 3 answers, alike", 7, 3, false, false, false, false, 0},
		{"8 contacts alike, 5 answers varied", 8, 5, false, true, true, true, 24},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, nil, Deps{})
			srv := ext(5)
			// Background: 2000 subscribers using 500 web servers, so that 5 clients are rare.
			b, add := webBackground(func(i int) uint64 { return uint64(300 + i%700) })
			for i := range tc.contacts {
				size := uint64(60)
				if tc.variedC {
					size = uint64(70 + 97*i)
				}
				add(flow.Record{StartMs: t0 + int64(i)*5*60000, SrcAddr: sub(i), DstAddr: srv, SrcPort: uint16(41000 + i),
					DstPort: 23, TCPFlags: 0x18, Bytes: size})
			}
			for i := range tc.answers {
				size := uint64(120)
				if tc.variedA {
					size = uint64(130 + 89*i)
				}
				add(flow.Record{StartMs: t0 + int64(i)*7*60000 + 1000, SrcAddr: srv, DstAddr: sub(20 + i), SrcPort: 23,
					DstPort: uint16(42000 + i), TCPFlags: 0x18, Bytes: size})
			}
			e.Consume(b)
			c := find(t, e, srv, 23)
			if got := c.Parts[PartSimilarity] > 0; got != tc.wantSimilar {
				t.Errorf("similarity %.1f, want it counted: %v (%v)", c.Parts[PartSimilarity], tc.wantSimilar, c.Evidence)
			}
			if c.Parts[PartSimilarity] < tc.minSimilarity {
				t.Errorf("similarity %.1f, want at least %.0f: %v", c.Parts[PartSimilarity], tc.minSimilarity, c.Evidence)
			}
			if c.Alert != tc.alert {
				t.Errorf("alert %v at score %.1f, want %v: %v", c.Alert, c.Score, tc.alert, c.Evidence)
			}
		})
	}
}

// webBackground returns a batch holding 2000 subscribers' TCP records to 500 web servers, the
// i-th of size(i) bytes, and the function that appends further records to it as one-packet records
// sampled 1:1000.
func webBackground(size func(i int) uint64) (*flow.Batch, func(flow.Record)) {
	b := flow.NewBatch(4096)
	add := func(r flow.Record) {
		r.EndMs, r.ReceivedMs, r.Proto, r.Packets, r.SamplingRate = r.StartMs, r.StartMs, 6, 1, 1000
		b.Append(&r)
	}
	for i := range 2000 {
		add(flow.Record{StartMs: t0 + int64(i)*900, SrcAddr: sub(1000 + i), DstAddr: ext(1000 + i%500),
			SrcPort: 40000, DstPort: 443, TCPFlags: 0x18, Bytes: size(i)})
	}
	return b, add
}

// TestSimilarityCommonSizes checks that alike sizes count as far as chance cannot explain them:
// seven of eight contacts in two sizes that many other endpoints' contacts have (a common request)
// come by chance among many endpoints; eight in a size of their own do not.
func TestSimilarityCommonSizes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sizes    [8]uint64
		min, max float64 // similarity points
	}{
		{"7 of 8 in two common sizes", [8]uint64{81, 100, 81, 100, 81, 100, 81, 93}, 0, 0},
		{"8 of 8 in one common size", [8]uint64{81, 81, 81, 81, 81, 81, 81, 81}, 10, 24},
		{"8 of 8 in a size of its own", [8]uint64{60, 60, 60, 60, 60, 60, 60, 60}, 25, 25},
		{"7 of 8 in two sizes of its own", [8]uint64{60, 150, 60, 150, 60, 150, 60, 93}, 20, 25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, nil, Deps{})
			srv := ext(5)
			// Background: 2000 subscribers' requests to 500 web servers, 80 to 100 B.
			b, add := webBackground(func(i int) uint64 { return uint64(80 + i%21) })
			for i, size := range tc.sizes {
				add(flow.Record{StartMs: t0 + int64(i)*5*60000, SrcAddr: sub(i), DstAddr: srv, SrcPort: uint16(41000 + i),
					DstPort: 443, TCPFlags: 0x18, Bytes: size})
			}
			e.Consume(b)
			c := find(t, e, srv, 443)
			if got := c.Parts[PartSimilarity]; got < tc.min || got > tc.max {
				t.Errorf("similarity %.1f, want %.0f..%.0f: %v", got, tc.min, tc.max, c.Evidence)
			}
		})
	}
}
