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
	"yocho/internal/flow"
	"yocho/internal/query"
	"yocho/internal/store"
)

func TestQueryCommand(t *testing.T) {
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
	if code != 0 || !strings.Contains(out, "# tier 5m") || !strings.Contains(out, "time") {
		t.Errorf("series via server: %d %s %s", code, out, errs)
	}
	code, _, errs = runQ("top", "--server", hs.URL, "--filter", "dst in 10.0.0.0/8")
	if code != 2 || !strings.Contains(errs, "unknown field \"dst\"") {
		t.Errorf("bad filter via server: %d %s", code, errs)
	}
}
