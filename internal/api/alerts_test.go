package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
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
	get("/api/v1/alerts/nope", 404, nil)
	get("/api/v1/alerts?state=maybe", 400, nil)
	get("/api/v1/alerts?since=yesterday", 400, nil)
}
