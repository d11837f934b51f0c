package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/api"
	"yocho/internal/config"
	"yocho/internal/flow"
	"yocho/internal/query"
	"yocho/internal/store"
)

func TestQueryCommand(t *testing.T) {
	dir, st := startStore(t)
	now := time.Now().Add(-5 * time.Minute).UnixMilli()
	b := flow.NewBatch(8)
	for i, dst := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.2", "2001:db8::7"} {
		r := flow.Record{StartMs: now + int64(i), EndMs: now + int64(i), ReceivedMs: now + 10, Exporter: netip.MustParseAddr("192.0.2.1"),
			SrcAddr: netip.MustParseAddr("198.51.100.1"), DstAddr: netip.MustParseAddr(dst), Proto: 17, SrcPort: 53, DstPort: 40000,
			Bytes: uint64(100 * (i + 1)), Packets: 1, SamplingRate: 10}
		b.Append(&r)
	}
	st.Consume(b)
	if err := st.Sync(); err != nil {
		t.Fatal(err)
	}

	runQ := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"query"}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, errs := runQ("top", "--data", dir, "--by", "dst_addr", "--format", "csv", "--filter", "proto = udp and src_port in (53)")
	want := "dst_addr,bytes,packets,flows\n203.0.113.2,5000,20,2\n2001:db8::7,4000,10,1\n203.0.113.1,1000,10,1\n"
	if code != 0 || out != want {
		t.Errorf("top csv: %d %q %s; want %q", code, out, errs, want)
	}
	code, out, _ = runQ("flows", "--data", dir, "--limit", "1", "--format", "json")
	var fr query.FlowsResult
	if code != 0 || json.Unmarshal([]byte(out), &fr) != nil || len(fr.Flows) != 1 || fr.Flows[0].DstAddr != "2001:db8::7" {
		t.Errorf("flows json: %d %s", code, out)
	}
	code, _, errs = runQ("top", "--data", dir, "--filter", "proto = udp and")
	if code != 2 || !strings.Contains(errs, "column 16: expected a field name") {
		t.Errorf("bad filter: %d %s", code, errs)
	}
	st.Stop()

	// the same through a server
	rd, err := store.OpenReader(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	srv := api.New(api.Config{}, prometheus.NewRegistry(), nil)
	api.MountFlows(srv, rd, nil)
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	code, out, errs = runQ("top", "--server", hs.URL, "--by", "dst_addr", "--format", "csv", "--filter", "proto = udp and src_port in (53)")
	if code != 0 || out != want {
		t.Errorf("top via server: %d %q %s", code, out, errs)
	}
	code, out, errs = runQ("series", "--server", hs.URL, "--since", "1h", "--bucket", "10m", "--metric", "flows")
	if code != 0 || !strings.Contains(out, "# tier 1m-narrow") || !strings.Contains(out, "time") {
		t.Errorf("series via server: %d %s %s", code, out, errs)
	}
	code, _, errs = runQ("top", "--server", hs.URL, "--filter", "dst in 10.0.0.0/8")
	if code != 2 || !strings.Contains(errs, "unknown field \"dst\"") {
		t.Errorf("bad filter via server: %d %s", code, errs)
	}
}

// orderCheck is a flow.Consumer that counts records and the times they went back.
type orderCheck struct {
	n, backwards int
	last         int64
}

func (o *orderCheck) Consume(b *flow.Batch) {
	for i := range b.Len() {
		if b.StartMs[i] < o.last {
			o.backwards++
		}
		o.last = b.StartMs[i]
		o.n++
	}
}

// TestReplayStoredPages: replayStored hands over every stored flow once, oldest first, across
// windows that come back full (more than query.MaxFlows flows in two hours, with a millisecond
// holding many of them) and the empty decades before the first flow.
func TestReplayStoredPages(t *testing.T) {
	if testing.Short() {
		t.Skip("stores 120 000 flows")
	}
	dir, st := startStore(t)
	const n = 120000
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Hour).UnixMilli()
	b := flow.NewBatch(4096)
	for i := range n {
		ms := t0 + int64(i)*2*3600000/n
		if i%10 == 0 {
			ms = t0 + 3600000 // a millisecond with 12 000 flows
		}
		r := flow.Record{StartMs: ms, EndMs: ms, ReceivedMs: ms, Exporter: netip.MustParseAddr("192.0.2.1"),
			SrcAddr: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), DstAddr: netip.MustParseAddr("198.18.1.1"),
			Proto: 6, SrcPort: uint16(1024 + i%60000), DstPort: 443, Bytes: 100, Packets: 1, SamplingRate: 1}
		b.Append(&r)
		if b.Len() == b.Cap() {
			st.Consume(b)
			b.Reset()
		}
	}
	st.Consume(b)
	if err := st.Sync(); err != nil {
		t.Fatal(err)
	}
	st.Stop()
	rd, err := store.OpenReader(dir, store.RetentionFromConfig(config.Default().Storage))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var o orderCheck
	rng := query.Range{From: time.Unix(0, 0).UTC(), To: time.Now().Add(24 * time.Hour)}
	if err := replayStored(context.Background(), rd, rng, &o); err != nil {
		t.Fatal(err)
	}
	if o.n != n || o.backwards != 0 {
		t.Errorf("replayed %d flows, %d of them older than the one before; want %d, in order", o.n, o.backwards, n)
	}
}

// startStore starts a store with the default configuration in a new directory, which it returns.
func startStore(t *testing.T) (string, *store.Store) {
	dir := t.TempDir()
	cfg := store.DefaultConfig()
	cfg.Dir = dir
	st, err := store.New(cfg, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return dir, st
}
