package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/collect"
)

type fakeSource struct {
	exps  []collect.Exporter
	ready bool
}

func (f *fakeSource) Exporters() []collect.Exporter { return f.exps }
func (f *fakeSource) Ready() bool                   { return f.ready }

func TestExportersAndHealth(t *testing.T) {
	seen := time.Date(2026, 3, 1, 12, 30, 5, 0, time.FixedZone("CET", 3600))
	src := &fakeSource{exps: []collect.Exporter{
		{
			Address: netip.MustParseAddr("192.0.2.1"), Packets: 10, PacketsByProtocol: map[string]uint64{"ipfix": 10},
			Flows: 300, Bytes: 123456, FlowPackets: 999, Errors: map[string]uint64{"truncated": 2},
			SequenceLost: 4, Templates: 2, SamplingRates: []uint32{1000}, Versions: []string{"ipfix"}, LastSeen: seen,
		},
		{Overflow: true, Flows: 1, Errors: map[string]uint64{}},
	}}
	s := New(Config{}, prometheus.NewRegistry(), nil)
	MountExporters(s, src)

	get := func(path string, v any) int {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, rec.Body)
		}
		return rec.Code
	}

	var h HealthJSON
	if code := get("/api/v1/health", &h); code != http.StatusServiceUnavailable || h.Status != "starting" {
		t.Errorf("health before the listeners are up: %d %+v", code, h)
	}
	src.ready = true
	if code := get("/api/v1/health", &h); code != http.StatusOK || h.Status != "ok" {
		t.Errorf("health: %d %+v", code, h)
	}

	var raw []map[string]any
	if code := get("/api/v1/exporters", &raw); code != http.StatusOK || len(raw) != 2 {
		t.Fatalf("exporters: %d %v", code, raw)
	}
	for _, key := range []string{"address", "packets", "flows", "bytes", "errors", "sequence_lost", "templates", "sampling_rates", "versions", "last_seen"} {
		if _, ok := raw[0][key]; !ok {
			t.Errorf("exporter JSON has no %q: %v", key, raw[0])
		}
	}
	var exps []ExporterJSON
	get("/api/v1/exporters", &exps)
	e := exps[0]
	if e.Address != "192.0.2.1" || e.Flows != 300 || e.Bytes != 123456 || e.Errors["truncated"] != 2 || e.SequenceLost != 4 ||
		e.Templates != 2 || len(e.SamplingRates) != 1 || e.SamplingRates[0] != 1000 || e.LastSeen != "2026-03-01T11:30:05Z" {
		t.Errorf("exporter: %+v", e)
	}
	if exps[1].Address != "other" || exps[1].SamplingRates == nil || exps[1].Versions == nil {
		t.Errorf("overflow entry: %+v (lists must be [] not null)", exps[1])
	}
}
