package alert

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func report(key string, bps float64) Report {
	return Report{Kind: KindDDoS, Key: key, Direction: Incoming, Victims: []netip.Addr{netip.MustParseAddr("198.51.100.7")},
		Vector: VectorUDPFlood, CurrentBps: bps, CurrentPps: bps / 8000, Criticality: "high",
		Threat: ThreatInput{OverThreshold: 2}}
}

func TestOneAlertPerKeyAndEvents(t *testing.T) {
	m := New(Config{}, nil, nil)
	var mu sync.Mutex
	var got []EventType
	m.Subscribe("test", func(ev Event) { mu.Lock(); got = append(got, ev.Type); mu.Unlock() })
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	id := m.Raise(report("a", 1e9))
	if id2 := m.Raise(report("a", 3e9)); id2 != id {
		t.Fatalf("second report opened alert %s, want %s", id2, id)
	}
	m.Raise(report("a", 2e9))
	if err := m.SetMitigation(id, map[string]string{"state": "announced"}); err != nil {
		t.Fatal(err)
	}
	m.End("a", time.Now())
	id3 := m.Raise(report("a", 1e9))
	if id3 == id {
		t.Fatal("a report after the end reopened the ended alert")
	}
	m.Stop()
	want := []EventType{EventStarted, EventUpdated, EventUpdated, EventMitigation, EventEnded, EventStarted}
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
	a, _ := m.Get(id)
	if a.PeakBps != 3e9 || a.State != Ended || a.EndedAt == nil || string(a.Mitigation) != `{"state":"announced"}` {
		t.Errorf("alert = peak %v state %s ended %v mitigation %s", a.PeakBps, a.State, a.EndedAt, a.Mitigation)
	}
	if a.ThreatLevel <= 0 || len(a.ThreatReasons) == 0 {
		t.Errorf("threat %d %v", a.ThreatLevel, a.ThreatReasons)
	}
}

func TestAlertsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	m := New(Config{Dir: dir}, nil, nil)
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ended := m.Raise(report("old", 1e9))
	m.End("old", time.Now())
	ongoing := m.Raise(report("now", 2e9))
	for i := 0; i < 50; i++ { // many updates, written at most every PersistEvery
		m.Raise(report("now", 2e9+float64(i)))
	}
	if err := m.SetMitigation(ongoing, map[string]any{"mode": "dry-run"}); err != nil {
		t.Fatal(err)
	}
	m.Stop()

	// A torn last line, as a crash mid-write leaves, is skipped.
	f, err := os.OpenFile(filepath.Join(dir, "alerts.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"id":"x","kind":"dd`)
	f.Close()

	m2 := New(Config{Dir: dir}, nil, nil)
	if err := m2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m2.Stop()
	if n := len(m2.List(Filter{})); n != 2 {
		t.Fatalf("%d alerts after restart, want 2", n)
	}
	a, err := m2.Get(ended)
	if err != nil || a.State != Ended || a.Victims[0].String() != "198.51.100.7" {
		t.Fatalf("ended alert after restart: %+v, %v", a, err)
	}
	b, err := m2.Get(ongoing)
	if err != nil || b.State != Ongoing || string(b.Mitigation) != `{"mode":"dry-run"}` {
		t.Fatalf("ongoing alert after restart: %+v, %v", b, err)
	}
	// The detector's next report continues the same alert.
	if id := m2.Raise(report("now", 5e9)); id != ongoing {
		t.Fatalf("report after restart opened %s, want %s", id, ongoing)
	}
	// The file was compacted to one line per alert at start.
	data, _ := os.ReadFile(filepath.Join(dir, "alerts.jsonl"))
	lines := 0
	for _, c := range data {
		if c == '\n' {
			lines++
		}
	}
	if lines > 4 {
		t.Errorf("alerts file has %d lines after compaction", lines)
	}
}

func TestStaleOngoingAlertsEnd(t *testing.T) {
	m := New(Config{StaleAfter: time.Minute}, nil, nil)
	now := time.Now()
	m.now = func() time.Time { return now }
	id := m.Raise(report("k", 1e9))
	now = now.Add(2 * time.Minute)
	m.Sweep()
	if a, _ := m.Get(id); a.State != Ended {
		t.Fatalf("state %s after 2 minutes without a report", a.State)
	}
}

func TestThreatLevel(t *testing.T) {
	low, _ := ThreatLevel(ThreatInput{OverThreshold: 1, Vector: VectorICMPFlood, Duration: time.Second, Criticality: "low"})
	high, reasons := ThreatLevel(ThreatInput{OverThreshold: 50, OverUsual: 100, Vector: VectorNTPAmp, Duration: time.Hour, Criticality: "high", Hosts: 200})
	if low >= 30 || high != 100 || low < 0 {
		t.Errorf("levels: small %d, huge %d", low, high)
	}
	factors := map[string]bool{}
	for _, r := range reasons {
		factors[r.Factor] = true
	}
	for _, f := range []string{"size", "usual", "vector", "duration", "criticality", "spread"} {
		if !factors[f] {
			t.Errorf("no %s reason in %v", f, reasons)
		}
	}
	mid, _ := ThreatLevel(ThreatInput{OverThreshold: 4, Vector: VectorSYNFlood, Duration: 5 * time.Minute, Criticality: "medium"})
	if !(low < mid && mid < high) {
		t.Errorf("not ordered: %d %d %d", low, mid, high)
	}
}

func TestAlertJSONContract(t *testing.T) {
	m := New(Config{}, nil, nil)
	id := m.Raise(report("k", 1e9))
	a, _ := m.Get(id)
	b, _ := json.Marshal(a)
	var raw map[string]any
	json.Unmarshal(b, &raw)
	for _, k := range []string{"id", "kind", "direction", "state", "threat_level", "threat_reasons", "victims", "vector",
		"peak_bps", "peak_pps", "top_sources", "started_at", "updated_at", "ended_at", "mitigation"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("no %q in %s", k, b)
		}
	}
	if _, ok := raw["prefix"]; ok {
		t.Errorf("prefix present for a host attack: %v", raw["prefix"])
	}
}

// TestDetectedFlowAt: an alert keeps the flow time of its first report, for evaluations on the
// flow clock; a report without one leaves the field out of the JSON.
func TestDetectedFlowAt(t *testing.T) {
	m := New(Config{}, nil, nil)
	first := time.Date(2026, 12, 7, 10, 40, 0, 0, time.UTC)
	r := report("c", 1e9)
	r.FlowTime = first
	id := m.Raise(r)
	r.FlowTime = first.Add(time.Minute)
	m.Raise(r)
	a, _ := m.Get(id)
	if !a.DetectedFlowAt.Equal(first) {
		t.Errorf("detected_flow_at %s, want the first report's %s", a.DetectedFlowAt, first)
	}
	b, _ := m.Get(m.Raise(report("d", 1e9)))
	data, _ := json.Marshal(b)
	if strings.Contains(string(data), "detected_flow_at") {
		t.Errorf("detected_flow_at present without a flow time: %s", data)
	}
}
