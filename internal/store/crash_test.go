package store

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	osexec "os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"yocho/internal/flow"
	"yocho/internal/query"
)

const (
	crashEnv       = "YOCHO_STORE_CRASH_CHILD"
	crashFlush     = 300 * time.Millisecond
	crashBatch     = 500
	crashBatchGap  = 10 * time.Millisecond
	crashSlack     = time.Second // scheduling and fsync on a busy machine (CI runs packages side by side)
	crashRunBefore = 4 * time.Second
)

// crashBatchOf is batch i of the crash test: its flows carry i in ObsDomain.
func crashBatchOf(b *flow.Batch, i int) {
	b.Reset()
	now := time.Now().UnixMilli()
	for j := range crashBatch {
		rec := flow.Record{StartMs: now, EndMs: now, ReceivedMs: now, ObsDomain: uint32(i), Exporter: netip.MustParseAddr("192.0.2.9"),
			SrcAddr: netip.AddrFrom4([4]byte{198, 51, 100, byte(j)}), DstAddr: netip.MustParseAddr("203.0.113.1"),
			Proto: 17, Bytes: 100, Packets: 1, SamplingRate: 1}
		b.Append(&rec)
	}
}

// crashChild ingests forever, printing how many flows it has handed to the store.
func crashChild(dir string) {
	cfg := DefaultConfig()
	cfg.Dir = dir
	cfg.FlushInterval = crashFlush
	cfg.CompactInterval = 500 * time.Millisecond // merges run too, and may be cut short
	cfg.MergeChunks = 3
	s, err := New(cfg, prometheus.NewRegistry(), nil)
	if err == nil {
		err = s.Start(context.Background())
	}
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	b := flow.NewBatch(crashBatch)
	for i := 0; ; i++ {
		crashBatchOf(b, i)
		s.Consume(b)
		// the writer has taken every flow consumed but those still queued
		fmt.Printf("consumed %d taken %d\n", (i+1)*crashBatch, (i+1)*crashBatch-queuedFlows(s))
		time.Sleep(crashBatchGap)
	}
}

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

func TestKill9LosesAtMostTheLastFlushInterval(t *testing.T) {
	dir := t.TempDir()
	cmd := osexec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type mark struct {
		at       time.Time
		n, taken int
	}
	var marks []mark
	lines := bufio.NewScanner(out)
	var started time.Time
	for lines.Scan() {
		f := strings.Fields(lines.Text())
		if len(f) != 4 || f[0] != "consumed" {
			t.Fatalf("child: %s", lines.Text())
		}
		n, _ := strconv.Atoi(f[1])
		taken, _ := strconv.Atoi(f[3])
		now := time.Now()
		if started.IsZero() {
			started = now
		}
		marks = append(marks, mark{now, n, taken})
		if now.Sub(started) > crashRunBefore {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	_ = cmd.Wait()
	consumed := marks[len(marks)-1].n
	// what the writer had taken before the last complete flush interval must be on disk: the
	// bound is the flows staged since the last flush plus those still queued
	safe := 0
	for _, m := range marks {
		if m.at.Before(killed.Add(-crashFlush - crashSlack)) {
			safe = m.taken
		}
	}

	// the store opens cleanly: nothing half-written is left, and every flow on disk reads back
	s := openTestStoreRealClock(t, dir)
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".tmp") {
			t.Errorf("left after recovery: %s", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	batches, stored := storedBatches(t, s)
	t.Logf("consumed %d flows, %d taken by the writer, %d safe by the bound, %d stored after kill -9",
		consumed, marks[len(marks)-1].taken, safe, stored)
	if stored < safe || stored > consumed {
		t.Fatalf("stored %d flows: want between %d (consumed before the last flush interval) and %d", stored, safe, consumed)
	}
	for i := range batches { // the flows kept are whole batches, from the first on
		if batches[i] != i {
			t.Fatalf("batch %d missing while later ones were kept", i)
		}
	}

	// ingest resumes
	b := flow.NewBatch(crashBatch)
	crashBatchOf(b, len(batches))
	s.Consume(b)
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, n := storedBatches(t, s); n != stored+crashBatch {
		t.Errorf("after resuming, %d flows stored, want %d", n, stored+crashBatch)
	}
	// the roll-ups hold what raw holds, whatever the kill interrupted
	now := time.Now()
	res, err := s.Top(context.Background(), query.TopRequest{Range: query.Range{From: now.Add(-2 * time.Hour), To: now.Add(time.Hour)},
		By: mustDims(t, "exporter"), Metric: query.Flows})
	if err != nil {
		t.Fatal(err)
	}
	if res.Tier == "raw" || len(res.Rows) != 1 || res.Rows[0].Flows != uint64(stored+crashBatch) {
		t.Errorf("roll-up after resuming: tier %s, rows %+v; want %d flows", res.Tier, res.Rows, stored+crashBatch)
	}
}

func openTestStoreRealClock(t *testing.T, dir string) *Store {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Dir = dir
	cfg.FlushInterval = time.Hour
	cfg.CompactInterval = time.Hour
	s, err := New(cfg, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// storedBatches lists the batch numbers on disk, ascending, and counts the flows.
func storedBatches(t *testing.T, s *Store) ([]int, int) {
	t.Helper()
	now := time.Now()
	res, err := s.Top(context.Background(), query.TopRequest{Range: query.Range{From: now.Add(-time.Hour), To: now.Add(time.Hour)},
		By: mustDims(t, "obs_domain"), Metric: query.Flows, Limit: query.MaxTopLimit})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	total := 0
	for _, r := range res.Rows {
		id, _ := strconv.Atoi(r.Key[0])
		ids = append(ids, id)
		total += int(r.Flows)
		if r.Flows != crashBatch {
			t.Errorf("batch %d has %d flows on disk, want %d", id, r.Flows, crashBatch)
		}
	}
	sort.Ints(ids)
	return ids, total
}

func queuedFlows(s *Store) int {
	var m dto.Metric
	_ = s.m.queued.Write(&m)
	return int(m.GetGauge().GetValue())
}
