package simulate

import (
	"hash/fnv"
	"math"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"yocho/internal/flow"
)

// collect keeps what a test needs of every record.
type collectSink struct {
	fn func(e int, r *flow.Record, origin int)
}

func (c collectSink) Emit(e int, r *flow.Record, origin int) { c.fn(e, r, origin) }

func run(t *testing.T, g *Generator, fn func(e int, r *flow.Record, origin int)) {
	t.Helper()
	for g.Step(collectSink{fn}) {
	}
}

var day = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

// The benign day follows its diurnal curve: the busiest hour is around the configured peak
// (21:00) and the quietest twelve hours later holds the trough ratio (0.3) of it.
func TestDiurnalShape(t *testing.T) {
	sc := loadScenario(t, "benign-day.yaml")
	sc.Benign.LongFlows.Count = 0
	sc.Benign.FlashCrowds = nil
	sc.Benign.ReferenceSamplingRate = 1e9 // every exporter sends every flow
	g, err := NewGenerator(sc, GenConfig{Start: day, Step: time.Second, Rate: 20, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	var perHour [24]float64
	run(t, g, func(_ int, r *flow.Record, _ int) { perHour[time.UnixMilli(r.EndMs).UTC().Hour()]++ })
	peak, trough := 0, 0
	for h := range perHour {
		if perHour[h] > perHour[peak] {
			peak = h
		}
		if perHour[h] < perHour[trough] {
			trough = h
		}
	}
	if peak != 20 && peak != 21 {
		t.Errorf("busiest hour %d:00, want 20:00 or 21:00 (peak at 21:00); per hour %v", peak, perHour)
	}
	if trough != 8 && trough != 9 {
		t.Errorf("quietest hour %d:00, want 08:00 or 09:00; per hour %v", trough, perHour)
	}
	// The hourly mean around 21:00 and 09:00 vs the curve's own mean over those hours.
	wantRatio := (g.Diurnal(day.Add(8*time.Hour+30*time.Minute)) + g.Diurnal(day.Add(9*time.Hour+30*time.Minute))) /
		(g.Diurnal(day.Add(20*time.Hour+30*time.Minute)) + g.Diurnal(day.Add(21*time.Hour+30*time.Minute)))
	got := (perHour[8] + perHour[9]) / (perHour[20] + perHour[21])
	if math.Abs(got-wantRatio) > 0.02 || math.Abs(got-0.3) > 0.03 {
		t.Errorf("trough/peak = %.3f, want %.3f (about the 0.3 trough ratio)", got, wantRatio)
	}
	total := 0.0
	for _, n := range perHour {
		total += n
	}
	// 20 flows/s at the peak, a cosine down to 0.3: the day's mean is 0.65 of the peak.
	if want := 20 * 0.65 * 86400; math.Abs(total-want)/want > 0.01 {
		t.Errorf("%.0f flows in the day, want %.0f", total, want)
	}
}

// Remote servers' popularity is heavy tailed: Zipf-Mandelbrot with the scenario's exponent.
func TestPopularityTail(t *testing.T) {
	sc := loadScenario(t, "benign-day.yaml")
	sc.Benign.LongFlows.Count = 0
	sc.Benign.FlashCrowds = nil
	sc.Benign.IPv6Share = 0
	sc.Benign.HostedShare = 0
	g, err := NewGenerator(sc, GenConfig{Start: day.Add(21 * time.Hour), Rate: 5000, Duration: 2 * time.Minute, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	subs := netip.MustParsePrefix("10.0.0.0/12")
	count := map[netip.Addr]int{}
	n := 0
	run(t, g, func(_ int, r *flow.Record, _ int) {
		remote := r.DstAddr
		if !subs.Contains(r.SrcAddr) {
			remote = r.SrcAddr
		}
		count[remote]++
		n++
	})
	counts := make([]int, 0, len(count))
	for _, c := range count {
		counts = append(counts, c)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(counts)))
	s, q := sc.Benign.Zipf, float64(remoteZipfQ)
	// Ratios between ranks 10, 100 and 1000 follow ((k2+q)/(k1+q))^s.
	for _, pair := range [][2]int{{10, 100}, {100, 1000}} {
		a, b := pair[0], pair[1]
		want := math.Pow((float64(b)+q)/(float64(a)+q), s)
		got := float64(counts[a-1]) / float64(counts[b-1])
		if math.Abs(got-want)/want > 0.15 {
			t.Errorf("rank %d / rank %d = %.2f, want %.2f (Zipf s=%.1f)", a, b, got, want, s)
		}
	}
	top := 0
	for _, c := range counts[:len(counts)/100] {
		top += c
	}
	if share := float64(top) / float64(n); share < 0.25 || share > 0.6 {
		t.Errorf("the top 1%% of remote hosts get %.0f%% of the flows, want a heavy head (25-60%%)", 100*share)
	}
}

// Each DDoS attack, scaled by its exporters' sampling rates, carries the rate its truth states
// (and the scenario asks for), with the vector's protocol, port and packet size.
func TestAttackSizesAtSamplingRate(t *testing.T) {
	sc := loadScenario(t, "ddos-mix.yaml")
	sc.Benign.FlowsPerSecond = 0
	sc.Benign.LongFlows.Count = 0
	g, err := NewGenerator(sc, GenConfig{Start: day, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	type sum struct {
		pkts, bytes float64
		records     int
		badShape    string
		exporters   map[uint32]bool
	}
	sums := make([]sum, len(g.Truth()))
	run(t, g, func(e int, r *flow.Record, o int) {
		if o < 0 {
			t.Fatalf("benign record with benign traffic off: %+v", r)
		}
		s := &sums[o]
		s.pkts += float64(r.ScaledPackets())
		s.bytes += float64(r.ScaledBytes())
		s.records++
		if s.exporters == nil {
			s.exporters = map[uint32]bool{}
		}
		s.exporters[r.SamplingRate] = true
		a := sc.Attacks[o]
		v := vectors[a.Vector]
		switch {
		case r.Proto != v.proto:
			s.badShape = "proto"
		case v.sport != 0 && r.SrcPort != v.sport:
			s.badShape = "source port"
		case r.Bytes != r.Packets*uint64(a.PacketSize):
			s.badShape = "packet size"
		case r.EndMs < r.StartMs:
			s.badShape = "times"
		case v.flags != 0 && r.TCPFlags != v.flags:
			s.badShape = "flags"
		}
	})
	for i, tr := range g.Truth() {
		a := sc.Attacks[i]
		on := tr.End.Sub(tr.Start).Seconds()
		if a.Pulse != nil {
			on *= a.Pulse.On.D().Seconds() / (a.Pulse.On.D() + a.Pulse.Off.D()).Seconds()
		}
		s := sums[i]
		gotPPS, gotBPS := s.pkts/on, s.bytes*8/on
		if math.Abs(gotPPS-tr.PPS)/tr.PPS > 0.02 || math.Abs(gotBPS-tr.BPS)/tr.BPS > 0.02 {
			t.Errorf("%s: scaled %.0f pps, %.0f bps; truth says %.0f pps, %.0f bps", tr.ID, gotPPS, gotBPS, tr.PPS, tr.BPS)
		}
		if want := float64(a.BPS); want > 0 && math.Abs(tr.BPS-want)/want > 0.001 {
			t.Errorf("%s: truth %.0f bps, the scenario asks %.0f", tr.ID, tr.BPS, want)
		}
		if want := float64(a.PPS); want > 0 && math.Abs(tr.PPS-want)/want > 0.001 {
			t.Errorf("%s: truth %.0f pps, the scenario asks %.0f", tr.ID, tr.PPS, want)
		}
		if s.badShape != "" {
			t.Errorf("%s: a record has the wrong %s for %s", tr.ID, s.badShape, a.Vector)
		}
		if len(s.exporters) != len(tr.Exporters) {
			t.Errorf("%s: records from %d sampling rates, want one per exporter (%v)", tr.ID, len(s.exporters), tr.Exporters)
		}
	}
}

// Bots beacon to their server periodically with jitter: at 1:1, each bot's interval has the
// period as its median, every bot is seen, and the truth lists them.
func TestBotnetBeacons(t *testing.T) {
	sc := loadScenario(t, "botnet.yaml")
	sc.Benign.FlowsPerSecond = 0
	sc.Benign.LongFlows.Count = 0
	for i := range sc.Exporters {
		sc.Exporters[i].SamplingRate = 1
	}
	g, err := NewGenerator(sc, GenConfig{Start: day, Duration: 20 * time.Minute, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]map[netip.Addr][]int64{}
	answered := map[string]int{}
	run(t, g, func(_ int, r *flow.Record, o int) {
		tr := g.Truth()[o]
		if tr.Kind != "cnc" {
			return
		}
		if r.DstAddr == tr.Servers[0].Address && r.DstPort == tr.Servers[0].Port {
			if seen[tr.ID] == nil {
				seen[tr.ID] = map[netip.Addr][]int64{}
			}
			seen[tr.ID][r.SrcAddr] = append(seen[tr.ID][r.SrcAddr], r.StartMs)
		} else if r.SrcAddr == tr.Servers[0].Address {
			answered[tr.ID]++
		}
	})
	for i, b := range sc.Botnets {
		tr := g.Truth()[i]
		if !tr.Start.Before(g.End()) {
			continue // starts after the run
		}
		if len(tr.Bots) != b.Bots || len(seen[b.Name]) != b.Bots {
			t.Errorf("%s: truth lists %d bots, %d seen beaconing, want %d", b.Name, len(tr.Bots), len(seen[b.Name]), b.Bots)
			continue
		}
		var gaps []float64
		for _, ts := range seen[b.Name] {
			sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
			for j := 1; j < len(ts); j++ {
				gaps = append(gaps, float64(ts[j]-ts[j-1])/1000)
			}
		}
		sort.Float64s(gaps)
		if len(gaps) == 0 {
			continue // starts later than the run
		}
		med, period := gaps[len(gaps)/2], b.Period.D().Seconds()
		if math.Abs(med-period)/period > 0.05 {
			t.Errorf("%s: median beacon interval %.1fs, want %.0fs", b.Name, med, period)
		}
		lo, hi := gaps[0], gaps[len(gaps)-1]
		if lo < period*(1-b.Jitter)-1 || hi > period*(1+b.Jitter)+1 {
			t.Errorf("%s: intervals %.1f..%.1fs, want within the jitter of %.0fs (±%.0f%%)", b.Name, lo, hi, period, 100*b.Jitter)
		}
		total := 0
		for _, ts := range seen[b.Name] {
			total += len(ts)
		}
		if r := float64(answered[b.Name]) / float64(total); math.Abs(r-*b.AnswerRatio) > 0.1 {
			t.Errorf("%s: %.2f of beacons answered, want %.2f", b.Name, r, *b.AnswerRatio)
		}
	}
}

// The same seed gives the same records; another seed, others.
func TestDeterministic(t *testing.T) {
	digest := func(seed uint64) uint64 {
		sc := loadScenario(t, "demo.yaml")
		g, err := NewGenerator(sc, GenConfig{Start: day, Duration: time.Minute, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		h := fnv.New64a()
		run(t, g, func(e int, r *flow.Record, o int) {
			b := r.SrcAddr.As16()
			h.Write(b[:])
			h.Write([]byte{byte(e), byte(o), byte(r.Packets), byte(r.Bytes), byte(r.EndMs)})
		})
		return h.Sum64()
	}
	if first, again := digest(1), digest(1); first != again {
		t.Error("the same seed gave different records")
	}
	if digest(1) == digest(2) {
		t.Error("two seeds gave the same records")
	}
}

// The benign day alone never pushes one host past 80% of the assumed default thresholds (100
// Mbps, 20 kpps) for two seconds in a row (the default minimum duration), counting each record
// spread over its duration, flash crowd and long flows included: the DDoS detector must see no
// attack there. (Single seconds do spike: three sampled packets to one host in one second at
// 1:2048 stand for 6144 packets.)
func TestBenignDayStaysUnderThresholds(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates 6 minutes at the peak")
	}
	sc := loadScenario(t, "benign-day.yaml")
	start := day.Add(12*time.Hour + 30*time.Minute)
	sc.Benign.FlashCrowds[0].Start = 60e9 // a minute in
	g, err := NewGenerator(sc, GenConfig{Start: start.Add(8 * time.Hour), Duration: 6 * time.Minute, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		host netip.Addr
		sec  int64
	}
	bps, pps := map[key]float64{}, map[key]float64{}
	crowd := 0
	run(t, g, func(_ int, r *flow.Record, o int) {
		if o >= 0 {
			crowd++
		}
		from, to := r.StartMs/1000, r.EndMs/1000
		n := float64(to - from + 1)
		for s := from; s <= to; s++ {
			k := key{r.DstAddr, s}
			bps[k] += float64(r.ScaledBytes()) * 8 / n
			pps[k] += float64(r.ScaledPackets()) / n
		}
	})
	if crowd == 0 {
		t.Fatal("the flash crowd sent nothing")
	}
	// An alert needs the rate held for a minimum duration (2 s by default): what counts is the
	// lower of two consecutive seconds.
	var maxB, maxP float64
	for k, v := range bps {
		next := key{k.host, k.sec + 1}
		maxB = max(maxB, min(v, bps[next]))
		maxP = max(maxP, min(pps[k], pps[next]))
	}
	if maxB > 80e6 || maxP > 16e3 {
		var worstB, worstP key
		for k, v := range bps {
			next := key{k.host, k.sec + 1}
			if min(v, bps[next]) == maxB {
				worstB = k
			}
			if min(pps[k], pps[next]) == maxP {
				worstP = k
			}
		}
		t.Errorf("hosts peak at %.0f Mbps (%s), %.0f pps (%s) in one second: over 80%% of the default thresholds",
			maxB/1e6, worstB.host, maxP, worstP.host)
	}
}

func TestParseScenarioErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown key", "name: x\nbenign:\n  flows: 3\n", "line 3: field flows not found"},
		{"bad vector", "attacks:\n  - {vector: nuke, duration: 1m, bps: 1G, targets: [192.0.2.1]}\n", "unknown vector"},
		{"no size", "attacks:\n  - {vector: udp-flood, duration: 1m, targets: [192.0.2.1]}\n", "bps or pps"},
		{"no target", "attacks:\n  - {vector: udp-flood, duration: 1m, bps: 1G}\n", "targets or prefix"},
		{"bad rate", "attacks:\n  - {vector: udp-flood, duration: 1m, bps: lots, targets: [192.0.2.1]}\n", "line 2"},
		{"bad exporter", "attacks:\n  - {vector: udp-flood, duration: 1m, bps: 1G, targets: [192.0.2.1], exporters: [nope]}\n", "no exporter named"},
		{"same address", "exporters:\n  - {name: a, address: 127.0.0.2}\n  - {name: b, address: 127.0.0.2}\n", "used twice"},
		{"bad protocol", "exporters:\n  - {name: a, protocol: jflow}\n", "not one of"},
		{"botnet without server", "botnets:\n  - {bots: 10}\n", "server missing"},
		{"scan of unknown botnet", "scans:\n  - {botnet: x, duration: 1m}\n", "no botnet named"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseScenario([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestScenarioFilesAreValid(t *testing.T) {
	for _, name := range []string{"demo.yaml", "benign-day.yaml", "ddos-mix.yaml", "botnet.yaml"} {
		sc := loadScenario(t, name)
		if name == "ddos-mix.yaml" {
			seen := map[string]bool{}
			for _, a := range sc.Attacks {
				seen[a.Vector] = true
			}
			for _, v := range VectorNames() {
				if !seen[v] {
					t.Errorf("ddos-mix.yaml lacks vector %s", v)
				}
			}
		}
	}
}

func FuzzParseScenario(f *testing.F) {
	f.Add([]byte("name: x\nattacks:\n  - {vector: udp-flood, duration: 1m, bps: 1G, targets: [192.0.2.1]}\n"))
	f.Add([]byte("exporters:\n  - {name: a, sampling_rate: 0}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := ParseScenario(data)
		if err != nil {
			return
		}
		if sc.Duration.D() > time.Hour {
			sc.Duration = 3600e9
		}
		g, err := NewGenerator(sc, GenConfig{Start: day, Step: time.Second, Duration: 3 * time.Second})
		if err != nil {
			return
		}
		for range 3 {
			g.Step(collectSink{func(int, *flow.Record, int) {}})
		}
	})
}

func TestHostOf(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		n      uint64
		want   string
	}{
		{"198.51.100.0/24", 0, "198.51.100.1"},
		{"198.51.100.0/24", 253, "198.51.100.254"},
		{"198.51.100.0/24", 254, "198.51.100.1"}, // wraps, skipping network and broadcast
		{"10.0.0.0/12", 300, "10.0.1.45"},
		{"fd00:100::/40", 0, "fd00:100::1"},
		{"fd00:100::/40", 5, "fd00:100:0:5::1"}, // a /64 per host
		{"2001:db8:100::80/124", 3, "2001:db8:100::84"},
	} {
		if got := hostOf(netip.MustParsePrefix(tc.prefix), tc.n); got.String() != tc.want {
			t.Errorf("hostOf(%s, %d) = %s, want %s", tc.prefix, tc.n, got, tc.want)
		}
	}
}
