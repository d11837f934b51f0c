package enrich

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"yocho/internal/flow"
)

// benchCountryDB is a country database with 100 000 IPv4 networks (/16 to /24, a random country
// each) and 10 000 IPv6 ones: a tree as deep as GeoLite2-Country's.
func benchCountryDB(b *testing.B) string {
	rng := rand.New(rand.NewPCG(1, 2))
	var nets [][2]string
	for range 100_000 {
		bits := 16 + rng.IntN(9)
		a := netip.AddrFrom4([4]byte{byte(1 + rng.IntN(222)), byte(rng.IntN(256)), byte(rng.IntN(256)), 0})
		nets = append(nets, [2]string{netip.PrefixFrom(a, bits).Masked().String(), string([]byte{'A' + byte(rng.IntN(26)), 'A' + byte(rng.IntN(26))})})
	}
	for range 10_000 {
		a := netip.AddrFrom16([16]byte{0x2a, byte(rng.IntN(16)), byte(rng.IntN(256)), byte(rng.IntN(256))})
		nets = append(nets, [2]string{netip.PrefixFrom(a, 32).String(), "NL"})
	}
	return writeCountryDB(b, "GeoLite2-Country", nets)
}

// BenchmarkEnrich enriches batches of 4096 flows: sources from 200 000 addresses in 50 000 /24s
// spread over the IPv4 space, heavy-tailed (Zipf), destinations in the carrier's networks.
func BenchmarkEnrich(b *testing.B) {
	cfg := mustParse(b, hostgroupsYAML)
	nets, err := NewNetworks(cfg.Networks, cfg.Detection.DDoS)
	if err != nil {
		b.Fatal(err)
	}
	countries, err := OpenCountries(benchCountryDB(b))
	if err != nil {
		b.Fatal(err)
	}
	defer countries.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	srcs := make([]netip.Addr, 200_000)
	blocks := make([][3]byte, 50_000)
	for i := range blocks {
		blocks[i] = [3]byte{byte(1 + rng.IntN(222)), byte(rng.IntN(256)), byte(rng.IntN(256))}
	}
	for i := range srcs {
		bl := blocks[rng.IntN(len(blocks))]
		srcs[i] = netip.AddrFrom4([4]byte{bl[0], bl[1], bl[2], byte(rng.IntN(256))})
	}
	zipf := rand.NewZipf(rand.New(rand.NewPCG(5, 6)), 1.1, 1, uint64(len(srcs)-1))
	const batches = 64
	var bs []*flow.Batch
	for range batches {
		bt := flow.NewBatch(flow.DefaultBatchSize)
		for range flow.DefaultBatchSize {
			dst := netip.AddrFrom4([4]byte{198, 51, byte(rng.IntN(256)), byte(rng.IntN(256))})
			bt.Append(&flow.Record{SrcAddr: srcs[zipf.Uint64()], DstAddr: dst})
		}
		bs = append(bs, bt)
	}
	for _, geo := range []bool{false, true} {
		b.Run(fmt.Sprintf("countries=%v", geo), func(b *testing.B) {
			c := countries
			if !geo {
				c = nil
			}
			e := NewEnricher(nets, c)
			b.ReportAllocs()
			start := time.Now()
			n := 0
			for i := 0; b.Loop(); i++ {
				bt := bs[i%batches]
				e.Enrich(bt)
				n += bt.Len()
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "flows/s")
		})
	}
}
