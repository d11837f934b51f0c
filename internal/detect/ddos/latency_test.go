package ddos

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"yocho/internal/alert"
	"yocho/internal/config"
	"yocho/internal/enrich"
	"yocho/internal/flow"
)

// exported is one flow record as an exporter sends it: its span, its sampled packets, when it
// reaches the collector, and how many of its packets (sampled) fell in each second.
type exported struct {
	startMs, endMs, arriveMs int64
	src                      netip.Addr
	packets                  uint64
	sampling                 uint32
	perSec                   map[int64]float64
}

// exporterCache turns a flood's packets into the records of one exporter: each sampled packet a
// record of its own, sent an inactive timeout after it (spoofed or sparse sources), or, pooled,
// one flow per source cut every active timeout and sent then. Records leave at the end of the
// exporter's 100 ms step, as a real cache's sweep does.
type exporterCache struct {
	sampling   uint32
	inactiveMs int64 // packet mode
	activeMs   int64 // pooled mode, when > 0
	nSources   int   // sources it sees (default all 500)
	sources    []netip.Addr
	rng        *rand.Rand
	flows      map[int]*exported // pooled: the open flow of each source
	nextCut    map[int]int64
	out        []exported
}

func stepUp(ms int64) int64 { return (ms/100 + 1) * 100 }

// packet adds one sampled packet at ms.
func (c *exporterCache) packet(ms int64) {
	i := c.rng.IntN(len(c.sources))
	sec := ms / 1000
	if c.activeMs == 0 {
		c.out = append(c.out, exported{startMs: ms, endMs: ms, arriveMs: stepUp(ms) + c.inactiveMs,
			src: c.sources[i], packets: 1, sampling: c.sampling, perSec: map[int64]float64{sec: 1}})
		return
	}
	f := c.flows[i]
	if f == nil {
		f = &exported{startMs: ms, src: c.sources[i], sampling: c.sampling, perSec: map[int64]float64{}}
		c.flows[i] = f
		if _, ok := c.nextCut[i]; !ok {
			// Sources' flows are cut in turn over the active timeout.
			c.nextCut[i] = ms + int64(i)*c.activeMs/int64(len(c.sources)) + 1
		}
	}
	f.endMs = ms
	f.packets++
	f.perSec[sec]++
}

// sweep sends the pooled flows whose active timeout has come by ms.
func (c *exporterCache) sweep(ms int64) {
	for i, f := range c.flows {
		if c.nextCut[i] <= ms {
			f.arriveMs = stepUp(ms)
			c.out = append(c.out, *f)
			delete(c.flows, i)
			c.nextCut[i] += c.activeMs
		}
	}
}

// TestAlertAsSoonAsTheRecordsProveIt: floods at ddos-mix's sizes, exported with its exporters'
// timeouts, reach the detector in 100 ms steps as a collector hands them out. Each step the test
// adds up the true packets of each second that have arrived (from the packets' own times, not
// from the records' spans) and notes the first step at which min_duration (the default) of
// consecutive seconds over the threshold have arrived: the earliest an alert can be proven. The
// alert must come in that step or the next (the detector sees a batch of flows to a host near a
// threshold and evaluates at once, without waiting for its tick; a record is spread over its span
// by the time it spent in each second). It would fail if the detector waited for its 250 ms tick,
// or spread a 2-second record over three seconds evenly.
func TestAlertAsSoonAsTheRecordsProveIt(t *testing.T) {
	const threshold = 20_000 // pps, the default per host and per kind
	for _, tc := range []struct {
		name    string
		pps     float64
		startMs int64 // into the second
		exps    []exporterCache
	}{
		// ddos-mix's 2x floods: no exporter alone sees more than the threshold; the slower one
		// (1:1000, 2 s inactive) is needed, a second after the faster one's first records.
		{"2x-two-exporters", 2 * threshold, 500, []exporterCache{
			{sampling: 100, inactiveMs: 1000}, {sampling: 1000, inactiveMs: 2000}}},
		{"2x-two-exporters-late-start", 2 * threshold, 900, []exporterCache{
			{sampling: 100, inactiveMs: 1000}, {sampling: 1000, inactiveMs: 2000}}},
		{"2x-two-exporters-on-the-second", 2 * threshold, 0, []exporterCache{
			{sampling: 100, inactiveMs: 1000}, {sampling: 1000, inactiveMs: 2000}}},
		// 10x through one exporter whose sources are pooled into flows cut every 2 s: each
		// record spans up to 2 s, and arrives at the end of it.
		{"10x-pooled-2s-active", 10 * threshold, 300, []exporterCache{
			{sampling: 100, activeMs: 2000}}},
		{"3x-pooled-2s-active-50-sources", 3 * threshold, 700, []exporterCache{
			{sampling: 100, activeMs: 2000, nSources: 50}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(`
networks:
  - prefix: 198.51.100.0/24
    name: customer-a
`))
			if err != nil {
				t.Fatal(err)
			}
			minRun := int(cfg.Detection.DDoS.MinDuration.D() / time.Second) // the default's
			nets, err := enrich.NewNetworks(cfg.Networks, cfg.Detection.DDoS)
			if err != nil {
				t.Fatal(err)
			}
			m := alert.New(alert.Config{StaleAfter: time.Hour}, nil, nil)
			d := New(ConfigFrom(cfg.Detection.DDoS), nets, m, nil, nil)
			base := time.Now().Unix() * 1000
			nowMs := base
			d.now = func() time.Time { return time.UnixMilli(nowMs) }
			rng := rand.New(rand.NewPCG(1, 2))
			var sources []netip.Addr
			for i := range 500 {
				sources = append(sources, netip.AddrFrom4([4]byte{203, 0, byte(i >> 8), byte(i)}))
			}
			victim := netip.MustParseAddr("198.51.100.10")
			start := base + 1000 + tc.startMs
			exps := tc.exps
			for i := range exps {
				exps[i].rng, exps[i].sources = rng, sources
				if n := exps[i].nSources; n > 0 {
					exps[i].sources = sources[:n]
				}
				exps[i].flows, exps[i].nextCut = map[int]*exported{}, map[int]int64{}
			}
			arrived := map[int64]float64{} // true packets per second, of the records arrived
			firstArrival, proven, alerted := int64(0), int64(0), int64(0)
			lastTick := nowMs
			b := flow.NewBatch(4096)
			// The flood's packets, in 1 ms steps: each exporter sees its share, sampled.
			acc := make([]float64, len(exps))
			for nowMs = base; nowMs < base+12_000 && alerted == 0; {
				for ms := nowMs; ms < nowMs+100; ms++ {
					if ms < start {
						continue
					}
					for i := range exps {
						acc[i] += tc.pps / float64(len(exps)) / float64(exps[i].sampling) / 1000
						for ; acc[i] >= 1; acc[i]-- {
							exps[i].packet(ms)
						}
					}
				}
				nowMs += 100
				b.Reset()
				for i := range exps {
					e := &exps[i]
					e.sweep(nowMs)
					kept := e.out[:0]
					for _, r := range e.out {
						if r.arriveMs > nowMs {
							kept = append(kept, r)
							continue
						}
						b.Append(&flow.Record{ReceivedMs: nowMs, StartMs: r.startMs, EndMs: r.endMs,
							SamplingRate: r.sampling, Exporter: netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}),
							SrcAddr: r.src, DstAddr: victim, Proto: 17, SrcPort: 40000, DstPort: 53000,
							Packets: r.packets, Bytes: 60 * r.packets})
						for s, p := range r.perSec {
							arrived[s] += p * float64(r.sampling)
						}
					}
					e.out = kept
				}
				if b.Len() > 0 && firstArrival == 0 {
					firstArrival = nowMs
				}
				for s := range arrived {
					run := 0
					for run < minRun && arrived[s+int64(run)] > threshold {
						run++
					}
					if run == minRun && proven == 0 {
						proven = nowMs // min_duration of seconds over the threshold have arrived
					}
				}
				// As Start's ticker would: at once after a batch to a hot host, and every 250 ms.
				if d.consume(b) || nowMs-lastTick >= 250 {
					lastTick = nowMs
					d.tick()
				}
				if len(m.List(alert.Filter{})) > 0 {
					alerted = nowMs
				}
			}
			if proven == 0 {
				t.Fatal("the flood never proved over its threshold: the test is wrong")
			}
			t.Logf("first records at +%d ms, min_duration over the threshold arrived by +%d ms, alert at +%d ms",
				firstArrival-start, proven-start, alerted-start)
			switch {
			case alerted == 0:
				t.Errorf("no alert within 11 s")
			case alerted < proven:
				t.Errorf("alert at +%d ms, before min_duration over the threshold had arrived (+%d ms)", alerted-start, proven-start)
			case alerted > proven+100:
				t.Errorf("alert at +%d ms, %d ms after min_duration over the threshold had arrived (+%d ms); want within one 100 ms step",
					alerted-start, alerted-proven, proven-start)
			}
		})
	}
}
