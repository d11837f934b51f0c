package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/alert"
)

func TestAlertsAPI(t *testing.T) {
	m := alert.New(alert.Config{}, nil, nil)
	victim := netip.MustParseAddr("198.51.100.7")
	id := m.Raise(alert.Report{Kind: alert.KindDDoS, Key: "k1", Direction: alert.Incoming, Victims: []netip.Addr{victim},
		Vector: alert.VectorUDPFlood, Series: []alert.Point{{Time: time.Now().UTC().Truncate(time.Second), Bps: 1e9, Pps: 1e5}},
		Threat: alert.ThreatInput{OverThreshold: 3}})
	id2 := m.Raise(alert.Report{Kind: alert.KindDDoS, Key: "k2", Direction: alert.Outgoing, Vector: alert.VectorSYNFlood})
	m.End("k2", time.Now().Add(-2*time.Hour))

	s := New(Config{}, prometheus.NewRegistry(), nil)
	MountAlerts(s, m)
	h := s.Handler()
	get := func(url string, status int, out any) {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
		if rec.Code != status {
			t.Fatalf("GET %s: %d %s, want %d", url, rec.Code, rec.Body, status)
		}
		if out != nil {
			if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
				t.Fatalf("GET %s: %v", url, err)
			}
		}
	}
	var list []alert.Alert
	get("/api/v1/alerts", 200, &list)
	if len(list) != 2 {
		t.Fatalf("%d alerts", len(list))
	}
	get("/api/v1/alerts?state=ongoing&kind=ddos", 200, &list)
	if len(list) != 1 || list[0].ID != id || list[0].Series != nil {
		t.Fatalf("ongoing: %+v", list)
	}
	get("/api/v1/alerts?state=ended", 200, &list)
	if len(list) != 1 || list[0].ID != id2 {
		t.Fatalf("ended: %+v", list)
	}
	get("/api/v1/alerts?since=1h", 200, &list)
	if len(list) != 1 || list[0].ID != id {
		t.Fatalf("since 1h: %+v", list)
	}
	// since as the flow queries read it: a duration (also in days) or an RFC 3339 time.
	for _, tc := range []struct {
		since string
		want  int
	}{
		{"90m", 1}, {"3h", 2}, {"1d", 2}, {"0.01d", 1},
		{time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), 1},
		{time.Now().Add(-3 * time.Hour).UTC().Format(time.RFC3339Nano), 2},
		{time.Now().Add(-3 * time.Hour).In(time.FixedZone("JST", 9*3600)).Format(time.RFC3339), 2},
	} {
		get("/api/v1/alerts?since="+url.QueryEscape(tc.since), 200, &list)
		if len(list) != tc.want {
			t.Errorf("since %s: %d alerts, want %d", tc.since, len(list), tc.want)
		}
	}
	get("/api/v1/alerts?kind=cnc", 200, &list)
	if len(list) != 0 {
		t.Fatalf("kind cnc: %+v", list)
	}
	// The contract's fields, as a script reads them.
	var raw map[string]any
	get("/api/v1/alerts/"+id, 200, &raw)
	for _, k := range []string{"id", "kind", "direction", "state", "threat_level", "threat_reasons", "victims", "vector",
		"peak_bps", "peak_pps", "top_sources", "started_at", "updated_at", "ended_at", "mitigation", "series"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("alert JSON lacks %q", k)
		}
	}
	if raw["victims"].([]any)[0] != "198.51.100.7" || raw["state"] != "ongoing" || raw["ended_at"] != nil {
		t.Errorf("alert JSON = %v", raw)
	}
	// The summary view: the list's fields without the evidence.
	var sums []map[string]any
	get("/api/v1/alerts?state=ongoing&view=summary", 200, &sums)
	if len(sums) != 1 || sums[0]["id"] != id || sums[0]["vector"] != string(alert.VectorUDPFlood) || sums[0]["threat_level"] == nil ||
		sums[0]["victims"].([]any)[0] != "198.51.100.7" || sums[0]["peak_bps"] != 1e9 {
		t.Errorf("summary = %v", sums)
	}
	for _, k := range []string{"top_sources", "threat_reasons", "crossed", "interfaces", "mitigation"} {
		if _, ok := sums[0][k]; ok {
			t.Errorf("the summary has the evidence %q", k)
		}
	}
	get("/api/v1/alerts?view=all", 400, nil)
	get("/api/v1/alerts/nope", 404, nil)
	get("/api/v1/alerts?state=maybe", 400, nil)
	get("/api/v1/alerts?since=yesterday", 400, nil)
}
