package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/flow"
	"yocho/internal/query"
)

// Benchmarks on generated traffic (see generator): YOCHO_BENCH_FLOWS flows (default 10 M) over
// the day before benchNow. A template of 1 M flows is generated once and replayed with shifted
// times, so that generation does not dominate. YOCHO_BENCH_DIR keeps the store (and the nfcapd
// files) between runs. Run with: go test -run '^$' -bench . -benchtime 1x ./internal/store/

var benchNow = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

func benchFlows() int {
	if n, err := strconv.Atoi(os.Getenv("YOCHO_BENCH_FLOWS")); err == nil && n > 0 {
		return n
	}
	return 10_000_000
}

const templateFlows = 1 << 20

var (
	templateOnce sync.Once
	template     []*flow.Batch
)

// benchBatches calls fn with every batch of the n-flow day, in time order. The batch is reused.
func benchBatches(n int, fn func(b *flow.Batch)) { benchSpan(n, 24*time.Hour, fn) }

// benchSpan is benchBatches with the n flows spread over span before benchNow.
func benchSpan(n int, span time.Duration, fn func(b *flow.Batch)) {
	templateOnce.Do(func() {
		g := newGenerator(genConfig{Flows: templateFlows, StartMs: 0, SpanMs: 1 << 40, Seed: 42, Exporters: 8, Hosts: 200_000})
		for {
			b := flow.NewBatch(flow.DefaultBatchSize)
			if !g.batch(b, flow.DefaultBatchSize) {
				break
			}
			template = append(template, b)
		}
	})
	day := span.Milliseconds()
	start := benchNow.Add(-span).UnixMilli()
	out := flow.NewBatch(flow.DefaultBatchSize)
	for i := 0; i < n; {
		tb := template[(i/flow.DefaultBatchSize)%len(template)]
		out.Reset()
		out.AppendBatch(tb)
		if m := n - i; m < out.Len() {
			out.Truncate(m)
		}
		// a replay of the template is not a copy of it: other ephemeral ports and other source
		// hosts (in the same /24), so that a long run does not compress better by repetition
		k := uint64(i / (flow.DefaultBatchSize * len(template)))
		for j := range out.Len() {
			if k > 0 {
				replay(out, j, k)
			}
			t := start + int64(i+j)*day/int64(n)
			d := out.EndMs[j] - out.StartMs[j]
			lag := out.ReceivedMs[j] - out.EndMs[j]
			out.StartMs[j], out.EndMs[j], out.ReceivedMs[j] = t, t+d, t+d+lag
		}
		i += out.Len()
		fn(out)
	}
}

// replay changes flow j of b for the k-th replay of the template.
func replay(b *flow.Batch, j int, k uint64) {
	eph := func(p uint16) uint16 {
		if p < 32768 {
			return p
		}
		return uint16(32768 + (uint64(p)-32768+k*10007)%28232)
	}
	b.SrcPort[j], b.DstPort[j] = eph(b.SrcPort[j]), eph(b.DstPort[j])
	if a := b.SrcAddr[j]; a.Is4() {
		v := a.As4()
		v[3] ^= byte(k * 37)
		b.SrcAddr[j] = netip.AddrFrom4(v)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchDay is the n-flow day as batches held in memory, so that an ingest benchmark times the
// store, not the generator.
func benchDay(n int) []*flow.Batch {
	var out []*flow.Batch
	benchBatches(n, func(b *flow.Batch) {
		c := flow.NewBatch(b.Len())
		c.AppendBatch(b)
		out = append(out, c)
	})
	return out
}

// BenchmarkIngest is the writer's path on one goroutine: convert batches into staged columns
// (what Consume does), write a raw chunk file every FlushRows flows. Roll-ups and merges run
// apart, in the background: their cost is BenchmarkRollup and BenchmarkMerge.
func BenchmarkIngest(b *testing.B) {
	n := min(benchFlows(), 4_000_000)
	t0 := time.Now()
	day := benchDay(n)
	b.Logf("%d flows generated in %s", n, time.Since(t0))
	for range b.N {
		dir := b.TempDir()
		cfg := DefaultConfig()
		cfg.Dir = dir
		w, err := openWriter(cfg, &stagePool{}, 1)
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		c0, t0 := cpuTime(), time.Now()
		ingestDay(b, w, day)
		wall, cpu := time.Since(t0), cpuTime()-c0
		b.StopTimer()
		b.ReportMetric(float64(n)/wall.Seconds(), "flows/s")
		b.ReportMetric(float64(n)/cpu.Seconds(), "flows/cpu-s")
		du, _ := DiskUsage(dir)
		b.ReportMetric(float64(du["raw"])/float64(n), "chunk-B/flow")
		w.close()
	}
}

func ingestDay(b *testing.B, w *writer, day []*flow.Batch) {
	for _, src := range day {
		w.appendBatch(src)
		if w.nrows >= w.cfg.FlushRows {
			if err := w.flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := w.flush(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkIngestSteady is BenchmarkIngest on a writer that has already flushed as many flows
// once: what a running server pays per flow, once its buffers have grown to the traffic.
func BenchmarkIngestSteady(b *testing.B) {
	n := min(benchFlows(), 4_000_000)
	day := benchDay(n)
	for range b.N {
		dir := b.TempDir()
		cfg := DefaultConfig()
		cfg.Dir = dir
		w, err := openWriter(cfg, &stagePool{}, 1)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		ingestDay(b, w, day) // warm up
		b.StartTimer()
		c0, t0 := cpuTime(), time.Now()
		ingestDay(b, w, day)
		wall, cpu := time.Since(t0), cpuTime()-c0
		b.StopTimer()
		b.ReportMetric(float64(n)/wall.Seconds(), "flows/s")
		b.ReportMetric(float64(n)/cpu.Seconds(), "flows/cpu-s")
		w.close()
		b.StartTimer()
	}
}

// BenchmarkRollup is the background cost of summing raw chunks into the 1m, 5m and 1h tiers
// (DuckDB, one thread), per flow: on the benchmark day ("sparse": a day squeezed into a few
// million flows, so that nearly every flow is its own group in every tier), and on the same
// number of flows at the target's density, 2 M flows/s ("dense": a flush interval's worth).
func BenchmarkRollup(b *testing.B) {
	n := min(benchFlows(), 4_000_000)
	b.Run("sparse", func(b *testing.B) { benchRollup(b, n, benchDay(n)) })
	var dense []*flow.Batch
	benchSpan(n, time.Duration(n/2)*time.Microsecond, func(src *flow.Batch) {
		c := flow.NewBatch(src.Len())
		c.AppendBatch(src)
		dense = append(dense, c)
	})
	b.Run("dense", func(b *testing.B) { benchRollup(b, n, dense) })
}

func benchRollup(b *testing.B, n int, day []*flow.Batch) {
	for range b.N {
		cfg := DefaultConfig()
		cfg.Dir = b.TempDir()
		s, err := New(cfg, prometheus.NewRegistry(), nil)
		if err != nil {
			b.Fatal(err)
		}
		s.now = func() time.Time { return benchNow.Add(time.Hour) }
		if s.w, err = openWriter(cfg, &s.pool, 1); err != nil {
			b.Fatal(err)
		}
		ingestDay(b, s.w, day)
		b.ResetTimer()
		c0, t0 := cpuTime(), time.Now()
		if err := s.rollUp(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(float64(n)/time.Since(t0).Seconds(), "flows/s")
		b.ReportMetric(float64(n)/(cpuTime()-c0).Seconds(), "flows/cpu-s")
		s.w.close()
	}
}

var (
	storeOnce sync.Once
	storeDir  string
	storeErr  error
)

// benchStore builds (or finds in YOCHO_BENCH_DIR) a merged store of the benchmark day.
func benchStore(b *testing.B) string {
	storeOnce.Do(func() {
		n := benchFlows()
		storeDir = os.Getenv("YOCHO_BENCH_DIR")
		if storeDir == "" {
			storeDir, storeErr = os.MkdirTemp("", "yocho-bench-")
			if storeErr != nil {
				return
			}
		}
		storeDir = filepath.Join(storeDir, fmt.Sprintf("store-%d", n))
		if _, err := os.Stat(filepath.Join(storeDir, "complete")); err == nil {
			storeErr = upgradeBenchStore(storeDir)
			return
		}
		_ = os.RemoveAll(storeDir)
		cfg := DefaultConfig()
		cfg.Dir = storeDir
		cfg.Threads = 2
		s, err := New(cfg, prometheus.NewRegistry(), nil)
		if err != nil {
			storeErr = err
			return
		}
		s.now = func() time.Time { return benchNow.Add(time.Hour) }
		if storeErr = os.MkdirAll(storeDir, 0o755); storeErr != nil {
			return
		}
		if s.w, storeErr = openWriter(s.cfg, &s.pool, 1); storeErr != nil {
			return
		}
		defer s.w.close()
		t0 := time.Now()
		benchBatches(n, func(src *flow.Batch) {
			s.w.appendBatch(src)
			if s.w.nrows >= cfg.FlushRows && storeErr == nil {
				storeErr = s.w.flush()
			}
		})
		if storeErr == nil {
			storeErr = s.w.flush()
		}
		ingest := time.Since(t0)
		t0 = time.Now()
		if storeErr == nil {
			var sup []string
			sup, storeErr = s.Compact(true)
			for _, f := range sup {
				_ = os.Remove(f)
			}
		}
		fmt.Fprintf(os.Stderr, "bench store: %d flows in %s, ingest %s, merge %s\n", n, storeDir, ingest, time.Since(t0))
		if storeErr == nil {
			storeErr = os.WriteFile(filepath.Join(storeDir, "complete"), nil, 0o644)
		}
	})
	if storeErr != nil {
		b.Fatal(storeErr)
	}
	return storeDir
}

// upgradeBenchStore brings a benchmark store built by an earlier version up to date: tiers
// added since (Tier1mNarrow) are summed from the merged files, and merged.
func upgradeBenchStore(dir string) error {
	cfg := DefaultConfig()
	cfg.Dir = dir
	cfg.Threads = 2
	s, err := New(cfg, prometheus.NewRegistry(), nil)
	if err != nil {
		return err
	}
	s.now = func() time.Time { return benchNow.Add(time.Hour) }
	seq, err := recoverDir(dir)
	if err != nil {
		return err
	}
	if s.w, err = openWriter(s.cfg, &s.pool, seq+1); err != nil {
		return err
	}
	defer s.w.close()
	t0 := time.Now()
	sup, err := s.Compact(true)
	for _, f := range sup {
		_ = os.Remove(f)
	}
	if len(sup) > 0 {
		fmt.Fprintf(os.Stderr, "bench store %s brought up to date in %s\n", dir, time.Since(t0))
	}
	return err
}

// BenchmarkQueries times the three queries of the issue on the merged day.
func BenchmarkQueries(b *testing.B) {
	dir := benchStore(b)
	n := benchFlows()
	rd := benchReader(b, dir)
	du, _ := DiskUsage(dir)
	ctx := context.Background()
	day := query.Range{From: benchNow.Add(-24 * time.Hour), To: benchNow}
	flt, _ := query.ParseFilter("dst_addr in 198.18.0.0/16 and proto = udp")
	hgFilter, _ := query.ParseFilter("dst_hostgroup in (customer-001, customer-002, dc-core)")
	// series is a 24 h bps series stacked by the top 5 of by (none: one line), the tier named
	series := func(by []query.Field, bucket time.Duration) func() (string, error) {
		return func() (string, error) {
			r, err := rd.Series(ctx, query.SeriesRequest{Range: day, By: by, Metric: query.BPS, Bucket: bucket, Limit: 5})
			if err != nil {
				return "", err
			}
			return r.Tier, nil
		}
	}
	for _, q := range []struct {
		name string
		run  func() (string, error)
	}{
		{"top10-dst-bytes-day", func() (string, error) {
			r, err := rd.Top(ctx, query.TopRequest{Range: day, By: mustDimsB("dst_addr"), Metric: query.Bytes, Limit: 10})
			return tierOf(r, err)
		}},
		{"series-24h-1m-bps", series(nil, time.Minute)},
		{"series-24h-1m-by-proto", series(mustDimsB("proto"), time.Minute)},
		{"series-24h-15m-by-proto", series(mustDimsB("proto"), 15*time.Minute)},
		{"series-24h-1h-by-proto", series(mustDimsB("proto"), time.Hour)},
		{"top10-src-country-to-hostgroup-day", func() (string, error) {
			r, err := rd.Top(ctx, query.TopRequest{Range: day, By: mustDimsB("src_country"), Metric: query.Bytes, Limit: 10, Filter: hgFilter})
			return tierOf(r, err)
		}},
		{"top10-src-filtered-last-hour", func() (string, error) {
			r, err := rd.Top(ctx, query.TopRequest{Range: query.Range{From: benchNow.Add(-time.Hour), To: benchNow}, By: mustDimsB("src_addr"),
				Metric: query.Bytes, Limit: 10, Filter: flt})
			return tierOf(r, err)
		}},
	} {
		b.Run(q.name, func(b *testing.B) {
			var tier string
			for range b.N {
				var err error
				if tier, err = q.run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/query")
			b.ReportMetric(float64(du["raw"])/float64(n), "raw-B/flow")
			b.Logf("tier %s, %d flows, disk %v", tier, n, du)
		})
	}
}

func tierOf(r *query.TopResult, err error) (string, error) {
	if err != nil {
		return "", err
	}
	return r.Tier, nil
}

func mustDimsB(s string) []query.Field {
	d, err := query.ParseDims(s)
	if err != nil {
		panic(err)
	}
	return d
}

// BenchmarkMerge is the background cost of compacting one hour of chunks (YOCHO_BENCH_FLOWS,
// at most 4 M, in the hour): roll-ups, then the merge, per flow. "final": the hour is closed,
// its raw chunks merge sorted with ZSTD 11; "open": the hour is still open, they merge sorted by
// exporter and destination only
// with ZSTD 1 (kind 'o', what the compactor does every MergeChunks chunks).
func BenchmarkMerge(b *testing.B) {
	n := min(benchFlows(), 4_000_000)
	for _, mode := range []string{"final", "open"} {
		b.Run(mode, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				dir := b.TempDir()
				cfg := DefaultConfig()
				cfg.Dir = dir
				cfg.FlushRows = n / 8
				cfg.MergeChunks = 2
				s, err := New(cfg, prometheus.NewRegistry(), nil)
				if err != nil {
					b.Fatal(err)
				}
				s.now = func() time.Time { return benchNow.Add(time.Hour) }
				if mode == "open" {
					s.now = func() time.Time { return benchNow.Add(-time.Minute) }
				}
				if s.w, err = openWriter(cfg, &s.pool, 1); err != nil {
					b.Fatal(err)
				}
				benchSpan(n, time.Hour, func(src *flow.Batch) {
					s.w.appendBatch(src)
					if s.w.nrows >= cfg.FlushRows {
						_ = s.w.flush()
					}
				})
				_ = s.w.flush()
				b.StartTimer()
				c0, t0 := cpuTime(), time.Now()
				if _, err := s.Compact(false); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				b.ReportMetric(float64(n)/time.Since(t0).Seconds(), "flows/s")
				b.ReportMetric(float64(n)/(cpuTime()-c0).Seconds(), "flows/cpu-s")
				s.w.close()
			}
		})
	}
}

// BenchmarkDiskPerFlow is the disk a merged raw flow takes, on one hour of fresh generator flows
// (no template replayed: a replay repeats the template's sizes, hosts and times within an hour
// when YOCHO_BENCH_FLOWS exceeds 24 templates, which compresses better than traffic does) at
// the density of YOCHO_BENCH_FLOWS a day. It logs the bytes of each column.
func BenchmarkDiskPerFlow(b *testing.B) {
	n := benchFlows() / 24
	for range b.N {
		dir := b.TempDir()
		cfg := DefaultConfig()
		cfg.Dir = dir
		s, err := New(cfg, prometheus.NewRegistry(), nil)
		if err != nil {
			b.Fatal(err)
		}
		s.now = func() time.Time { return benchNow.Add(2 * time.Hour) }
		if s.w, err = openWriter(cfg, &s.pool, 1); err != nil {
			b.Fatal(err)
		}
		writeFreshHour(b, s, n, benchNow, nil)
		t0 := time.Now()
		if _, err := s.Compact(true); err != nil {
			b.Fatal(err)
		}
		merge := time.Since(t0)
		files, err := filesFor(dir, query.TierRaw, benchNow, benchNow.Add(time.Hour))
		if err != nil || len(files) != 1 {
			b.Fatalf("merged raw files: %v, %v", files, err)
		}
		st, err := os.Stat(files[0])
		if err != nil {
			b.Fatal(err)
		}
		r, err := OpenReader(dir, nil)
		if err != nil {
			b.Fatal(err)
		}
		rows, err := r.db.Query(fmt.Sprintf("SELECT path_in_schema, sum(total_compressed_size) FROM parquet_metadata(%s) GROUP BY 1 ORDER BY 2 DESC", sqlString(files[0])))
		if err != nil {
			b.Fatal(err)
		}
		var cols []string
		for rows.Next() {
			var name string
			var size int64
			if err := rows.Scan(&name, &size); err != nil {
				b.Fatal(err)
			}
			if per := float64(size) / float64(n); per >= 0.01 {
				cols = append(cols, fmt.Sprintf("%s %.2f", name, per))
			}
		}
		rows.Close()
		r.Close()
		b.Logf("%d flows in one hour, merged in %s: %.2f B/flow; per column: %s", n, merge.Round(time.Millisecond),
			float64(st.Size())/float64(n), strings.Join(cols, ", "))
		b.ReportMetric(float64(st.Size())/float64(n), "raw-B/flow")
		s.w.close()
	}
}

// ---- nfdump, on the same flows ----

// BenchmarkNfdumpTop10 sends the benchmark day as NetFlow v9 to nfcapd on loopback (bytes and
// packets already scaled, so both tools sum the same volumes), then times
// `nfdump -R dir -s dstip/bytes -n 10` against the store's top-10 on the same flows.
func BenchmarkNfdumpTop10(b *testing.B) {
	if _, err := exec.LookPath("nfcapd"); err != nil {
		if os.Getenv("CI") == "true" {
			b.Fatal("nfcapd missing (Debian package nfdump)")
		}
		b.Skip("nfcapd missing (Debian package nfdump)")
	}
	dir := benchStore(b)
	n := benchFlows()
	nfdir := filepath.Join(filepath.Dir(dir), fmt.Sprintf("nfcapd-%d", n))
	if _, err := os.Stat(nfdir + ".complete"); err != nil { // outside: nfdump reads every file in nfdir
		if err := fillNfcapd(nfdir, n); err != nil {
			b.Fatal(err)
		}
	}
	rd := benchReader(b, dir)
	var ours, theirs time.Duration
	var nfOut string
	var res *query.TopResult
	var err error
	for range b.N {
		t0 := time.Now()
		res, err = rd.Top(context.Background(), query.TopRequest{Range: query.Range{From: benchNow.Add(-24 * time.Hour), To: benchNow},
			By: mustDimsB("dst_addr"), Metric: query.Bytes, Limit: 10})
		if err != nil {
			b.Fatal(err)
		}
		ours += time.Since(t0)
		t0 = time.Now()
		out, err := exec.Command("nfdump", "-R", nfdir, "-s", "dstip/bytes", "-n", "10", "-q", "-o", "csv").CombinedOutput()
		if err != nil {
			b.Fatalf("nfdump: %v: %s", err, out)
		}
		theirs += time.Since(t0)
		nfOut = string(out)
	}
	b.ReportMetric(float64(ours.Milliseconds())/float64(b.N), "yocho-ms")
	b.ReportMetric(float64(theirs.Milliseconds())/float64(b.N), "nfdump-ms")
	b.ReportMetric(theirs.Seconds()/ours.Seconds(), "x-faster")
	// the same answer: the same destinations in the same order, with the same bytes within what
	// nfcapd lost (UDP on a busy machine: its -I statistics count the flows it kept)
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(nfOut), "\n") {
		if f := strings.Split(l, ","); len(f) > 9 && f[0] != "ts" {
			lines = append(lines, l)
		}
	}
	if len(lines) != len(res.Rows) {
		b.Fatalf("nfdump answered %d rows, we %d:\n%s", len(lines), len(res.Rows), nfOut)
	}
	worst := 0.0
	for i, r := range res.Rows {
		f := strings.Split(lines[i], ",")
		nb, _ := strconv.ParseFloat(f[9], 64)
		d := (float64(r.Bytes) - nb) / float64(r.Bytes)
		worst = max(worst, d, -d)
		if f[4] != r.Key[0] || d > 0.005 || d < -0.005 {
			b.Errorf("row %d: we %s with %d bytes, nfdump %s with %s", i, r.Key[0], r.Bytes, f[4], f[9])
		}
	}
	b.Logf("nfdump's top 10 is ours; bytes differ by at most %.3f%% (flows nfcapd dropped)", 100*worst)
}

// fillNfcapd runs nfcapd on a loopback port and sends it the benchmark day as NetFlow v9.
func fillNfcapd(dir string, n int) error {
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0") // find a free port
	if err != nil {
		return err
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	cmd := exec.Command("nfcapd", "-b", "127.0.0.1", "-p", strconv.Itoa(port), "-w", dir, "-B", "16777216", "-t", "3600")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	time.Sleep(time.Second)
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return err
	}
	enc := &v9Encoder{}
	sent := 0
	benchBatches(n, func(src *flow.Batch) {
		for i := range src.Len() {
			if pkt := enc.add(src, i); pkt != nil {
				_, _ = conn.Write(pkt)
				if sent++; sent%32 == 0 {
					time.Sleep(time.Millisecond) // nfcapd on the other core must keep up
				}
			}
		}
	})
	if pkt := enc.flush(); pkt != nil {
		_, _ = conn.Write(pkt)
	}
	conn.Close()
	time.Sleep(2 * time.Second)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	out, err := exec.Command("nfdump", "-R", dir, "-q", "-o", "fmt:%pkt", "-c", "1").CombinedOutput()
	if err != nil {
		return fmt.Errorf("nfdump on %s: %v: %s", dir, err, out)
	}
	stat, _ := exec.Command("nfdump", "-R", dir, "-I").CombinedOutput()
	fmt.Fprintf(os.Stderr, "nfcapd files: %d flows sent\n%s", n, stat)
	return os.WriteFile(dir+".complete", nil, 0o644)
}

// v9Encoder writes NetFlow v9 export packets: one template for IPv4 flows and one for IPv6,
// sent with every packet (nfcapd learns them at once), then data records.
type v9Encoder struct {
	buf      []byte
	v4, v6   []byte // data records of the current packet, by template
	n4, n6   int
	seq      uint32
	exportMs int64
}

const (
	v9Template4 = 256
	v9Template6 = 257
	v9MaxRecs   = 28
)

// v9Fields are (type, length) of both templates; the address fields differ.
var v9Fields4 = [][2]uint16{{1, 8}, {2, 8}, {4, 1}, {5, 1}, {6, 1}, {7, 2}, {8, 4}, {9, 1}, {10, 4}, {11, 2}, {12, 4}, {13, 1}, {14, 4}, {15, 4}, {16, 4}, {17, 4}, {21, 4}, {22, 4}}
var v9Fields6 = [][2]uint16{{1, 8}, {2, 8}, {4, 1}, {5, 1}, {6, 1}, {7, 2}, {27, 16}, {29, 1}, {10, 4}, {11, 2}, {28, 16}, {30, 1}, {14, 4}, {62, 16}, {16, 4}, {17, 4}, {21, 4}, {22, 4}}

func (e *v9Encoder) add(b *flow.Batch, i int) []byte {
	var out []byte
	if e.n4+e.n6 >= v9MaxRecs {
		out = e.flush()
	}
	if e.n4+e.n6 == 0 {
		e.exportMs = b.ReceivedMs[i]
	}
	v6 := b.SrcAddr[i].Is6() || b.DstAddr[i].Is6()
	rec := &e.v4
	if v6 {
		rec = &e.v6
		e.n6++
	} else {
		e.n4++
	}
	r := *rec
	r = binary.BigEndian.AppendUint64(r, b.ScaledBytes(i))
	r = binary.BigEndian.AppendUint64(r, b.ScaledPackets(i))
	r = append(r, b.Proto[i], b.ToS[i], b.TCPFlags[i])
	r = binary.BigEndian.AppendUint16(r, b.SrcPort[i])
	r = appendAddr(r, b.SrcAddr[i], v6)
	r = append(r, b.SrcMask[i])
	r = binary.BigEndian.AppendUint32(r, b.InIf[i])
	r = binary.BigEndian.AppendUint16(r, b.DstPort[i])
	r = appendAddr(r, b.DstAddr[i], v6)
	r = append(r, b.DstMask[i])
	r = binary.BigEndian.AppendUint32(r, b.OutIf[i])
	r = appendAddr(r, b.NextHop[i], v6)
	r = binary.BigEndian.AppendUint32(r, b.SrcAS[i])
	r = binary.BigEndian.AppendUint32(r, b.DstAS[i])
	// times relative to sysUptime: the exporter booted 1 day before benchNow - 2 days
	boot := benchNow.Add(-72 * time.Hour).UnixMilli()
	r = binary.BigEndian.AppendUint32(r, uint32(b.EndMs[i]-boot))
	r = binary.BigEndian.AppendUint32(r, uint32(b.StartMs[i]-boot))
	*rec = r
	return out
}

func appendAddr(r []byte, a netip.Addr, v6 bool) []byte {
	if v6 {
		s := a.As16()
		return append(r, s[:]...)
	}
	s := a.Unmap().As4()
	return append(r, s[:]...)
}

func (e *v9Encoder) flush() []byte {
	if e.n4+e.n6 == 0 {
		return nil
	}
	boot := benchNow.Add(-72 * time.Hour).UnixMilli()
	p := e.buf[:0]
	count := 2 + e.n4 + e.n6 // two templates and the records
	p = binary.BigEndian.AppendUint16(p, 9)
	p = binary.BigEndian.AppendUint16(p, uint16(count))
	p = binary.BigEndian.AppendUint32(p, uint32(e.exportMs-boot))
	p = binary.BigEndian.AppendUint32(p, uint32(e.exportMs/1000))
	p = binary.BigEndian.AppendUint32(p, e.seq)
	p = binary.BigEndian.AppendUint32(p, 1) // source id
	e.seq++
	// template flowset with both templates
	tlen := 4 + 2*(4+4*len(v9Fields4))
	p = binary.BigEndian.AppendUint16(p, 0)
	p = binary.BigEndian.AppendUint16(p, uint16(tlen))
	for _, t := range []struct {
		id     uint16
		fields [][2]uint16
	}{{v9Template4, v9Fields4}, {v9Template6, v9Fields6}} {
		p = binary.BigEndian.AppendUint16(p, t.id)
		p = binary.BigEndian.AppendUint16(p, uint16(len(t.fields)))
		for _, f := range t.fields {
			p = binary.BigEndian.AppendUint16(p, f[0])
			p = binary.BigEndian.AppendUint16(p, f[1])
		}
	}
	for _, d := range []struct {
		id   uint16
		recs []byte
	}{{v9Template4, e.v4}, {v9Template6, e.v6}} {
		if len(d.recs) == 0 {
			continue
		}
		l := 4 + len(d.recs)
		pad := (4 - l%4) % 4
		p = binary.BigEndian.AppendUint16(p, d.id)
		p = binary.BigEndian.AppendUint16(p, uint16(l+pad))
		p = append(p, d.recs...)
		p = append(p, make([]byte, pad)...)
	}
	e.buf = p
	e.v4, e.v6, e.n4, e.n6 = e.v4[:0], e.v6[:0], 0, 0
	return p
}

// BenchmarkSeriesDay times the 24 h series at 1-minute buckets (bps, and bps stacked by
// protocol) on a day of the narrow 1-minute tier at the density of YOCHO_BENCH_FLOWS flows a
// day, without storing that day: one hour of fresh generator flows at that density is summed
// into the roll-ups, and its narrow partition is copied to the 23 hours before it (times
// shifted). The narrow tier's rows grow with the combinations of exporters, interfaces,
// protocols and directions seen in a minute, not with the flows; the log gives them.
func BenchmarkSeriesDay(b *testing.B) {
	n := benchFlows() / 24
	dir := b.TempDir()
	cfg := DefaultConfig()
	cfg.Dir = dir
	s, err := New(cfg, prometheus.NewRegistry(), nil)
	if err != nil {
		b.Fatal(err)
	}
	last := benchNow.Add(-time.Hour)
	s.now = func() time.Time { return benchNow.Add(time.Hour) }
	if s.w, err = openWriter(cfg, &s.pool, 1); err != nil {
		b.Fatal(err)
	}
	defer s.w.close()
	writeFreshHour(b, s, n, last, nil)
	c0, t0 := cpuTime(), time.Now()
	if err := s.rollUp(); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d flows in the hour summed into the roll-ups in %s (%s cpu)", n, time.Since(t0).Round(time.Millisecond), (cpuTime() - c0).Round(time.Millisecond))
	if _, err := s.Compact(true); err != nil {
		b.Fatal(err)
	}
	rd := benchReader(b, dir)
	count := func(t query.Tier) int64 {
		files, err := filesFor(dir, t, last, benchNow)
		if err != nil || len(files) != 1 {
			b.Fatalf("%s files: %v, %v", t.Name, files, err)
		}
		var rows int64
		if err := rd.db.QueryRow("SELECT count(*) FROM read_parquet(" + sqlFileList(files) + ")").Scan(&rows); err != nil {
			b.Fatal(err)
		}
		return rows
	}
	b.Logf("rows in the hour: 1m %d, 1m-narrow %d", count(query.Tier1m), count(query.Tier1mNarrow))
	src, err := filesFor(dir, query.Tier1mNarrow, last, benchNow)
	if err != nil {
		b.Fatal(err)
	}
	for h := 1; h < 24; h++ {
		p := last.Add(-time.Duration(h) * time.Hour)
		pdir := filepath.Join(dir, query.Tier1mNarrow.Name, partitionName(query.Tier1mNarrow, p))
		if err := os.MkdirAll(pdir, 0o755); err != nil {
			b.Fatal(err)
		}
		cols := []string{fmt.Sprintf("time_ms - %d AS time_ms", int64(h)*3600_000)}
		for _, c := range narrowColumns[1:] {
			cols = append(cols, c.name)
		}
		q := "SELECT " + strings.Join(cols, ", ") + " FROM read_parquet(" + sqlFileList(src) + ")"
		if err := copyPublish(s.w.mconn, q, filepath.Join(pdir, fileName('m', 1))+".tmp", copyOpts); err != nil {
			b.Fatal(err)
		}
	}
	du, _ := DiskUsage(dir)
	b.Logf("narrow tier of the day: %d bytes", du[query.Tier1mNarrow.Name])
	day := query.Range{From: benchNow.Add(-24 * time.Hour), To: benchNow}
	for _, q := range []struct {
		name string
		req  query.SeriesRequest
	}{
		{"bps", query.SeriesRequest{Range: day, Metric: query.BPS, Bucket: time.Minute}},
		{"bps-by-proto", query.SeriesRequest{Range: day, By: mustDimsB("proto"), Metric: query.BPS, Bucket: time.Minute, Limit: 5}},
	} {
		b.Run(q.name, func(b *testing.B) {
			var tier string
			c0 := cpuTime()
			for range b.N {
				r, err := rd.Series(context.Background(), q.req)
				if err != nil {
					b.Fatal(err)
				}
				tier = r.Tier
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/query")
			b.ReportMetric(float64((cpuTime()-c0).Milliseconds())/float64(b.N), "cpu-ms/query")
			if tier != query.Tier1mNarrow.Name {
				b.Fatalf("tier %s", tier)
			}
		})
	}
}

// benchHourStore builds (or finds in YOCHO_BENCH_DIR) a store of one hour of fresh generator
// flows at the density of YOCHO_BENCH_FLOWS a day, the hour before benchNow, closed and merged
// as the compactor merges it (sorted raw, roll-ups, heavy hitters).
//
// open leaves the hour open instead, a minute before its end, as the compactor leaves it: chunks
// of a 60th of the hour merged every MergeChunks chunks into one o- file (by exporter and destination, ZSTD 1).
func benchHourStore(b *testing.B, open bool) (dir string, n int) {
	n = benchFlows() / 24
	kind := "hour"
	if open {
		kind = "open-hour"
	}
	if root := os.Getenv("YOCHO_BENCH_DIR"); root != "" {
		dir = filepath.Join(root, fmt.Sprintf("%s-%d", kind, benchFlows()))
		if _, err := os.Stat(filepath.Join(dir, "complete")); err == nil {
			if !open { // an upgrade would close the open hour
				if err := upgradeBenchStore(dir); err != nil {
					b.Fatal(err)
				}
			}
			return dir, n
		}
		_ = os.RemoveAll(dir)
	} else {
		dir = b.TempDir()
	}
	cfg := DefaultConfig()
	cfg.Dir = dir
	s, err := New(cfg, prometheus.NewRegistry(), nil)
	if err != nil {
		b.Fatal(err)
	}
	s.now = func() time.Time { return benchNow.Add(time.Hour) }
	if open {
		s.now = func() time.Time { return benchNow.Add(-time.Minute) }
		cfg.FlushRows = n/60 + 1
		s.cfg = cfg
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	if s.w, err = openWriter(cfg, &s.pool, 1); err != nil {
		b.Fatal(err)
	}
	defer s.w.close()
	var afterFlush func()
	if open {
		afterFlush = func() { compact(b, s, false) }
	}
	writeFreshHour(b, s, n, benchNow.Add(-time.Hour), afterFlush)
	compact(b, s, !open)
	if err := os.WriteFile(filepath.Join(dir, "complete"), nil, 0o644); err != nil {
		b.Fatal(err)
	}
	return dir, n
}

// BenchmarkFilteredTopHour times the filtered top-10 of BenchmarkQueries (sources by bytes to
// 198.18.0.0/16 over UDP, the last hour) on one hour of fresh flows at the density of
// YOCHO_BENCH_FLOWS a day (benchHourStore), closed and merged or still open, and logs DuckDB's
// profile of it.
func BenchmarkFilteredTopHour(b *testing.B) {
	b.Run("closed", func(b *testing.B) { benchFilteredTopHour(b, false) })
	b.Run("open", func(b *testing.B) { benchFilteredTopHour(b, true) })
}

func benchFilteredTopHour(b *testing.B, open bool) {
	dir, n := benchHourStore(b, open)
	rd := benchReader(b, dir)
	flt, _ := query.ParseFilter("dst_addr in 198.18.0.0/16 and proto = udp")
	req := query.TopRequest{Range: query.Range{From: benchNow.Add(-time.Hour), To: benchNow}, By: mustDimsB("src_addr"),
		Metric: query.Bytes, Limit: 10, Filter: flt}
	c0 := cpuTime()
	b.ResetTimer()
	var tier string
	for range b.N {
		r, err := rd.Top(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		tier = r.Tier
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/query")
	b.ReportMetric(float64((cpuTime()-c0).Microseconds())/1000/float64(b.N), "cpu-ms/query")
	files, _ := filesFor(dir, query.TierRaw, req.From, req.To)
	var groups int64
	_ = rd.db.QueryRow("SELECT count(DISTINCT row_group_id) FROM parquet_metadata(" + sqlFileList(files) + ")").Scan(&groups)
	var size int64
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			size += st.Size()
		}
	}
	b.Logf("tier %s, %d flows in the hour, %d raw files, %d row groups, %.2f B/flow", tier, n, len(files), groups, float64(size)/float64(n))
	if os.Getenv("YOCHO_BENCH_EXPLAIN") != "" {
		// row groups whose min/max statistics let the scan skip them for the filter's prefix
		var skippable int64
		_ = rd.db.QueryRow(`SELECT count(*) FROM (SELECT row_group_id, max(CASE WHEN path_in_schema = 'dst_addr_hi' THEN stats_min_value::UBIGINT END) AS hmin,
			max(CASE WHEN path_in_schema = 'dst_addr_hi' THEN stats_max_value::UBIGINT END) AS hmax,
			max(CASE WHEN path_in_schema = 'dst_addr_lo' THEN stats_min_value::UBIGINT END) AS lmin,
			max(CASE WHEN path_in_schema = 'dst_addr_lo' THEN stats_max_value::UBIGINT END) AS lmax
			FROM parquet_metadata(` + sqlFileList(files) + `) GROUP BY ALL)
			WHERE hmin > 0 OR (hmax = 0 AND (lmax < 281474004811776 OR lmin > 281474004877311))`).Scan(&skippable)
		b.Logf("row groups the statistics rule out for dst_addr in 198.18.0.0/16: %d of %d", skippable, groups)
		cond, args := flt.SQL()
		q := fmt.Sprintf("EXPLAIN ANALYZE SELECT src_addr_hi, src_addr_lo, sum(bytes) AS b FROM %s WHERE time_ms >= ? AND time_ms < ? AND %s GROUP BY ALL ORDER BY b DESC LIMIT 10",
			rawView("read_parquet("+sqlFileList(files)+")"), cond)
		rows, err := rd.db.Query(q, bind(append([]any{req.From.UnixMilli(), req.To.UnixMilli()}, args...))...)
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
			var k, v string
			_ = rows.Scan(&k, &v)
			b.Log(v)
		}
		rows.Close()
	}
}

// writeFreshHour writes n fresh generator flows starting at from, spread over an hour, through
// s's writer in chunks of s.cfg.FlushRows, calling afterFlush (when not nil) after each full chunk.
func writeFreshHour(b *testing.B, s *Store, n int, from time.Time, afterFlush func()) {
	g := newGenerator(genConfig{Flows: n, StartMs: from.UnixMilli(), SpanMs: 3600_000, Seed: 7, Exporters: 8, Hosts: 200_000})
	batch := flow.NewBatch(flow.DefaultBatchSize)
	for g.batch(batch, flow.DefaultBatchSize) {
		s.w.appendBatch(batch)
		if s.w.nrows >= s.cfg.FlushRows {
			if err := s.w.flush(); err != nil {
				b.Fatal(err)
			}
			if afterFlush != nil {
				afterFlush()
			}
		}
	}
	if err := s.w.flush(); err != nil {
		b.Fatal(err)
	}
}

// compact runs one compaction pass of s (final: every partition merged as if closed) and deletes
// the files it superseded.
func compact(b *testing.B, s *Store, final bool) {
	sup, err := s.Compact(final)
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range sup {
		_ = os.Remove(f)
	}
}

// benchReader opens the store in dir at benchNow, closed when the benchmark ends.
func benchReader(b *testing.B, dir string) *Reader {
	rd, err := OpenReader(dir, DefaultRetention())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rd.Close() })
	rd.now = func() time.Time { return benchNow }
	return rd
}
