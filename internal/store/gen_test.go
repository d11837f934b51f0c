package store

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"

	"yocho/internal/flow"
)

// genConfig describes synthetic traffic: a day of flows between many hosts, heavy-tailed.
type genConfig struct {
	Flows     int
	StartMs   int64 // first flow start
	SpanMs    int64 // flows start uniformly over this span, in order
	Seed      uint64
	Exporters int
	Hosts     int // destination hosts (customers); sources are drawn from 16x as many
}

// generator produces realistic flows in time order: exporters with a fixed sampling rate each,
// destinations and sources drawn from Zipf distributions (a few hosts carry most flows),
// well-known service ports on one side and random ephemeral ports on the other, heavy-tailed
// flow sizes, packet sizes clustered as on real links (see packetSize), and flows received when
// an exporter with a 15 s inactive timeout and a 1 s cache scan would export them.
type generator struct {
	cfg       genConfig
	r         *rand.Rand
	dst, src  *rand.Zipf
	size      *rand.Zipf
	exporters []netip.Addr
	rates     []uint32
	services  []uint16
	svcZipf   *rand.Zipf
	emitted   int
}

func newGenerator(cfg genConfig) *generator {
	r := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	g := &generator{cfg: cfg, r: r,
		dst:      rand.NewZipf(r, 1.1, 4, uint64(cfg.Hosts-1)),
		src:      rand.NewZipf(r, 1.05, 8, uint64(16*cfg.Hosts-1)),
		size:     rand.NewZipf(r, 1.3, 2, 1<<20),
		services: []uint16{443, 80, 53, 123, 22, 25, 993, 8080, 3478, 5060, 1900, 11211, 389, 161},
	}
	g.svcZipf = rand.NewZipf(r, 1.5, 1, uint64(len(g.services)-1))
	for i := 0; i < cfg.Exporters; i++ {
		g.exporters = append(g.exporters, netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i)}))
		g.rates = append(g.rates, []uint32{1, 100, 1000, 512}[i%4])
	}
	return g
}

// hostAddr maps a host number to an address: customers in 198.18.0.0/15 and 203.0.113.0/24,
// one in 16 sources IPv6.
func hostAddr(n uint64, v6 bool) netip.Addr {
	if v6 {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(n >> 24), byte(n >> 16), 0, 0, 0, 0, 0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	}
	if n < 256 {
		return netip.AddrFrom4([4]byte{203, 0, 113, byte(n)})
	}
	n = n * 2654435761 % (1 << 17) // spread over the /15
	return netip.AddrFrom4([4]byte{198, 18 + byte(n>>16), byte(n >> 8), byte(n)})
}

// next fills rec with the next flow.
func (g *generator) next(rec *flow.Record) {
	i := g.emitted
	g.emitted++
	r := g.r
	start := g.cfg.StartMs + int64(float64(i)/float64(g.cfg.Flows)*float64(g.cfg.SpanMs))
	e := r.IntN(len(g.exporters))
	dn := g.dst.Uint64()
	sn := g.src.Uint64()
	svc := g.services[g.svcZipf.Uint64()]
	eph := uint16(32768 + r.IntN(28232))
	proto := uint8(6)
	if svc == 53 || svc == 123 || svc == 3478 || svc == 5060 || svc == 1900 || svc == 11211 || svc == 161 {
		proto = 17
	}
	if r.IntN(50) == 0 {
		proto = 1
	}
	pkts := 1 + g.size.Uint64()%2000
	if r.IntN(4) != 0 {
		pkts = 1 + uint64(r.IntN(3))
	}
	if g.rates[e] > 1 && r.IntN(100) < 85 {
		pkts = 1 // sampled 1 in 100 or more, most flows show one packet
	}
	bpp := packetSize(r)
	dur := int64(0)
	if pkts > 1 {
		dur = int64(math.Min(float64(pkts)*float64(1+r.IntN(200)), 120000))
	}
	*rec = flow.Record{
		StartMs: start,
		EndMs:   start + dur,
		// exported once inactive for 15 s, at the exporter's next 1-second cache scan, a few
		// milliseconds of transit later
		ReceivedMs:   ((start+dur+15000)/1000+1)*1000 + int64(2+e),
		Exporter:     g.exporters[e],
		ObsDomain:    uint32(e),
		SamplingRate: g.rates[e],
		OutIf:        uint32(10 + dn%16),
		SrcAddr:      hostAddr(sn+1000, sn%16 == 15),
		DstAddr:      hostAddr(dn, sn%16 == 15), // one flow in 16 is IPv6 end to end
		NextHop:      netip.AddrFrom4([4]byte{10, 0, byte(e), byte(1 + dn%16)}),
		Proto:        proto,
		Bytes:        pkts * bpp,
		Packets:      pkts,
		DstAS:        64500,
		SrcMask:      24,
		DstMask:      uint8(24 + dn%8),
		Direction:    flow.DirectionIngress,
	}
	// the source AS is the origin of the source's prefix (a /24, a /48 in IPv6), as routing
	// tables give it, and the input interface the peering link of that AS
	rec.SrcAS = originAS(rec.SrcAddr)
	rec.InIf = 1 + (rec.SrcAS-64512)%8
	// enrichment: the destinations are the carrier's customers (a hostgroup per /22, per /40 in
	// IPv6, in the carrier's country); the sources stand for hosts on the Internet (no
	// hostgroup), each /24 (/48) in one country.
	rec.DstHostgroup, rec.DstCountry = hostgroupOf(rec.DstAddr), "JP"
	rec.SrcCountry = countryOf(rec.SrcAddr)
	if r.IntN(2) == 0 { // answer from the service to the client
		rec.SrcPort, rec.DstPort = svc, eph
	} else {
		rec.SrcPort, rec.DstPort = eph, svc
	}
	if proto == 6 {
		rec.TCPFlags = []uint8{0x1b, 0x02, 0x18, 0x1f}[r.IntN(4)]
	}
	if proto == 1 {
		rec.SrcPort, rec.DstPort, rec.ICMPType = 0, 0, 8
	}
}

// originAS is the AS (one of 500) announcing the prefix of a: its /24, or its /48 in IPv6.
func originAS(a netip.Addr) uint32 {
	b := a.As16()
	p := uint32(b[12])<<16 | uint32(b[13])<<8 | uint32(b[14])
	if !a.Is4() {
		p = uint32(b[2])<<24 | uint32(b[3])<<16 | uint32(b[4])<<8 | uint32(b[5])
	}
	return 64512 + (p*2654435761>>8)%500
}

// customerGroups and v6Groups name the generator's hostgroups.
var customerGroups, v6Groups = func() (v4, v6 [256]string) {
	for i := range v4 {
		v4[i] = fmt.Sprintf("customer-%03d", i)
		v6[i] = fmt.Sprintf("customer-v6-%03d", i)
	}
	return
}()

// hostgroupOf is the hostgroup of a destination: dc-core for 203.0.113.0/24, else a customer
// per /22 of 198.18.0.0/15 (128 of them) or per /40 of 2001:db8::/32.
func hostgroupOf(a netip.Addr) string {
	b := a.As16()
	switch {
	case !a.Is4():
		return v6Groups[b[4]]
	case b[12] == 203:
		return "dc-core"
	}
	return customerGroups[(b[13]-18)<<6|b[14]>>2]
}

// sourceCountries is where a Japanese carrier's inbound traffic comes from, one entry per
// percent: weighted by how much each country sends (most from the carrier's own country).
var sourceCountries = func() []string {
	var out []string
	for _, w := range []struct {
		code string
		pct  int
	}{{"JP", 40}, {"US", 20}, {"CN", 7}, {"KR", 5}, {"DE", 3}, {"GB", 3}, {"NL", 3}, {"SG", 3},
		{"HK", 2}, {"TW", 2}, {"FR", 2}, {"RU", 2}, {"BR", 2}, {"IN", 2}, {"VN", 1}, {"AU", 1}, {"CA", 1}} {
		for range w.pct {
			out = append(out, w.code)
		}
	}
	return out
}()

// countryOf is the country of a source: one per /24 (/48 in IPv6), as a geolocation database
// gives it.
func countryOf(a netip.Addr) string {
	b := a.As16()
	p := uint32(b[12])<<16 | uint32(b[13])<<8 | uint32(b[14])
	if !a.Is4() {
		p = uint32(b[2])<<24 | uint32(b[3])<<16 | uint32(b[4])<<8 | uint32(b[5])
	}
	return sourceCountries[(p*2246822519>>8)%uint32(len(sourceCountries))]
}

// packetSize draws an average packet size the way links carry them: clustered at TCP
// acknowledgements (40-66 bytes) and full frames (1500, or a little less through tunnels), a few
// classic sizes (576, 1280), and a spread in between.
func packetSize(r *rand.Rand) uint64 {
	switch x := r.IntN(100); {
	case x < 40:
		return []uint64{40, 52, 52, 60, 64, 66}[r.IntN(6)]
	case x < 75:
		return []uint64{1500, 1500, 1500, 1492, 1480, 1420}[r.IntN(6)]
	case x < 83:
		return []uint64{576, 1280, 1360, 1440}[r.IntN(4)]
	}
	return uint64(67 + r.IntN(1400))
}

// batch fills b with up to n flows; it returns false when the generator is exhausted.
func (g *generator) batch(b *flow.Batch, n int) bool {
	b.Reset()
	var rec flow.Record
	for b.Len() < n && g.emitted < g.cfg.Flows {
		g.next(&rec)
		b.Append(&rec)
	}
	return b.Len() > 0
}
