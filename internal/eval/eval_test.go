package eval

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"yocho/internal/simulate"
)

func load(t *testing.T) ([]simulate.Truth, []Alert) {
	t.Helper()
	f, err := os.Open("testdata/truth.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	truths, err := simulate.ReadTruth(f)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("testdata/alerts.json")
	if err != nil {
		t.Fatal(err)
	}
	alerts, err := ParseAlerts(data)
	if err != nil {
		t.Fatal(err)
	}
	return truths, alerts
}

func findRow(t *testing.T, r Report, kind, vector string) Row {
	t.Helper()
	for _, row := range r.Rows {
		if row.Kind == kind && row.Vector == vector {
			return row
		}
	}
	t.Fatalf("no row %s/%s in %+v", kind, vector, r.Rows)
	return Row{}
}

func f(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}

// The hand-made files: 4 DDoS truths (one missed: its only alert comes an hour late), one C&C,
// one flash crowd; 10 alerts, of which 2 DDoS and 1 C&C match nothing, 1 is on the flash
// crowd, and 1 is of a kind eval does not score.
func TestScoreKnownAnswers(t *testing.T) {
	truths, alerts := load(t)
	rep := Score(truths, alerts, Options{Slack: time.Minute})

	ddos := findRow(t, rep, "ddos", "*")
	if ddos.Truths != 4 || ddos.TP != 3 || ddos.Missed != 1 || ddos.Alerts != 4 || ddos.FP != 3 || ddos.VectorOK != 2 {
		t.Errorf("ddos total = %+v, want 4 truths, 3 TP, 1 missed, 4 matched alerts, 3 FP, 2 right vectors", ddos)
	}
	if ddos.Precision != 4.0/7 || ddos.Recall != 0.75 {
		t.Errorf("ddos precision, recall = %v, %v; want 4/7, 0.75", ddos.Precision, ddos.Recall)
	}
	// Latencies: ntp 1 s after first_sent_at; syn 6 s after its start (no first_sent_at,
	// detected_at wins over started_at); carpet 3 s.
	if f(ddos.LatencyP50) != 3 || f(ddos.LatencyP95) != 6 {
		t.Errorf("ddos latency p50, p95 = %v, %v; want 3, 6", f(ddos.LatencyP50), f(ddos.LatencyP95))
	}
	// End lags: ntp's last alert ended 60 s after, syn and carpet 30 s.
	if f(ddos.EndLagP50) != 30 || f(ddos.EndLagP95) != 60 {
		t.Errorf("ddos end lag p50, p95 = %v, %v; want 30, 60", f(ddos.EndLagP50), f(ddos.EndLagP95))
	}
	syn := findRow(t, rep, "ddos", "syn-flood")
	if syn.TP != 1 || syn.VectorOK != 0 || syn.FP != 1 {
		t.Errorf("syn-flood = %+v, want 1 TP with the wrong vector and 1 FP (the flash crowd alert)", syn)
	}
	dns := findRow(t, rep, "ddos", "dns-amplification")
	if dns.Truths != 2 || dns.TP != 1 || dns.Missed != 1 || dns.FP != 1 || dns.Recall != 0.5 {
		t.Errorf("dns-amplification = %+v, want 2 truths, 1 TP (carpet), 1 missed, 1 FP (late)", dns)
	}
	cnc := findRow(t, rep, "cnc", "*")
	if cnc.TP != 1 || cnc.FP != 1 || cnc.Precision != 0.5 || cnc.Recall != 1 || f(cnc.LatencyP50) != 1800 {
		t.Errorf("cnc = %+v, want 1 TP, 1 FP, precision 0.5, recall 1, latency 1800 s", cnc)
	}
	if len(rep.BenignAlerted) != 1 || rep.BenignAlerted[0] != "flash" {
		t.Errorf("benign alerted = %v, want [flash]", rep.BenignAlerted)
	}
	if rep.UnscoredAlerts != 1 || rep.AlertsTotal != 10 {
		t.Errorf("unscored, total = %d, %d; want 1, 10", rep.UnscoredAlerts, rep.AlertsTotal)
	}
	if got := strings.Join(rep.FalsePositives, ","); got != "5,6,8,10" {
		t.Errorf("false positives = %s, want 5,6,8,10", got)
	}

	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ntp-amplification", "75%", "10 alerts, 4 false positives", "benign events alerted on: flash"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Error(err)
	}
}

func TestSlackDecidesOverlap(t *testing.T) {
	truths, alerts := load(t)
	// With a two-hour slack the late DNS alert matches its truth: nothing is missed.
	rep := Score(truths, alerts, Options{Slack: 2 * time.Hour})
	if r := findRow(t, rep, "ddos", "dns-amplification"); r.Missed != 0 {
		t.Errorf("with a wide slack, dns-amplification = %+v, want nothing missed", r)
	}
}

func TestParseAlertsShapes(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		ok         bool
	}{
		{"list", `[{"id":"a","kind":"ddos","victims":["192.0.2.1"],"started_at":"2026-11-25T10:00:00Z"}]`, true},
		{"items", `{"items":[{"id":"a","kind":"cnc","server":"198.18.1.1:23","started_at":"2026-11-25T10:00:00Z"}]}`, true},
		{"empty", `[]`, true},
		{"bad victim", `[{"id":"a","kind":"ddos","victims":["nowhere"],"started_at":"2026-11-25T10:00:00Z"}]`, false},
		{"no start", `[{"id":"a","kind":"ddos","victims":["192.0.2.1"]}]`, false},
		{"not json", `<html>`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseAlerts([]byte(tc.json))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestFetchAlerts(t *testing.T) {
	data, err := os.ReadFile("testdata/alerts.json")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/alerts" {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	}))
	defer srv.Close()
	alerts, err := FetchAlerts(t.Context(), nil, srv.URL, "")
	if err != nil || len(alerts) != 10 {
		t.Fatalf("FetchAlerts = %d alerts, %v; want 10", len(alerts), err)
	}
	if _, err := FetchAlerts(t.Context(), nil, srv.URL+"/nowhere", ""); err == nil {
		t.Error("a 404 gave no error")
	}
}

// TestParseAlertsCnCServerFromKey reads the server of a cnc alert as yocho serves it: named only in
// the alert's key, the victims being the infected subscribers.
func TestParseAlertsCnCServerFromKey(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"cnc:198.18.10.1:23/tcp", "198.18.10.1"},
		{"cnc:[2001:db8:f000::1]:443/udp", "2001:db8:f000::1"},
	} {
		got, err := ParseAlerts([]byte(`[{"id":"a","kind":"cnc","key":"` + tc.key + `","victims":["10.1.70.11","10.0.5.236"],"started_at":"2026-11-25T10:00:00Z"}]`))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || len(got[0].Servers) != 1 || got[0].Servers[0].String() != tc.want {
			t.Errorf("key %s: servers %v, want [%s]", tc.key, got[0].Servers, tc.want)
		}
	}
}

// TestFlowClockLatency: played at --speed 20, a botnet alerted 3 wall minutes after its first
// export; the simulator had fallen behind, so that was 40 simulated minutes, not 60. The flow
// clock measures the 40 from the alert's detected_flow_at; an alert without one is detected but
// has no flow latency.
func TestFlowClockLatency(t *testing.T) {
	sent := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	truths := []simulate.Truth{
		{ID: "mirai-50", Kind: "cnc", Servers: []simulate.Endpoint{{Address: netip.MustParseAddr("198.18.50.5"), Port: 23, Proto: "tcp"}},
			Start: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC), FirstSentAt: &sent},
		{ID: "http-20", Kind: "cnc", Servers: []simulate.Endpoint{{Address: netip.MustParseAddr("198.18.60.6"), Port: 8080, Proto: "tcp"}},
			Start: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC), FirstSentAt: &sent},
	}
	alerts, err := ParseAlerts([]byte(`[
		{"id":"a","kind":"cnc","key":"cnc:198.18.50.5:23/tcp","started_at":"2026-12-07T09:03:00Z","attack_started_at":"2026-12-07T10:01:00Z","detected_flow_at":"2026-12-07T10:40:00Z"},
		{"id":"b","kind":"cnc","key":"cnc:198.18.60.6:8080/tcp","started_at":"2026-12-07T09:04:00Z","attack_started_at":"2026-12-07T10:02:00Z"}]`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		clock      string
		mirai, web float64 // latencies, -1: none
	}{
		{ClockWall, 180, 240},
		{"", 180, 240},
		{ClockFlow, 2400, -1},
	} {
		rep := Score(truths, alerts, Options{Clock: tc.clock})
		got := map[string]float64{}
		for _, m := range rep.Matches {
			if !m.Detected {
				t.Errorf("clock %q: %s not detected", tc.clock, m.Truth)
			}
			got[m.Truth] = f(m.Latency)
		}
		if got["mirai-50"] != tc.mirai || got["http-20"] != tc.web {
			t.Errorf("clock %q: latencies %v, want mirai-50 %v, http-20 %v", tc.clock, got, tc.mirai, tc.web)
		}
	}
}
