package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/detect/cnc"
	"yocho/internal/flow"
)

func TestCnCEndpoints(t *testing.T) {
	e, err := cnc.New(cnc.DefaultConfig(), cnc.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	srv := netip.MustParseAddr("41.108.179.197")
	b := flow.NewBatch(256)
	for i := range 200 {
		ms := int64(1_700_000_000_000 + i*23000)
		b.Append(&flow.Record{StartMs: ms, EndMs: ms, ReceivedMs: ms, SrcAddr: netip.MustParseAddr("192.168.1.115"), DstAddr: srv,
			SrcPort: 49162, DstPort: 1177, Proto: 6, TCPFlags: 0x02, Packets: 2, Bytes: 104, SamplingRate: 1})
	}
	e.Consume(b)
	s := New(Config{}, prometheus.NewRegistry(), nil)
	MountCnC(s, e)
	get := func(path string, want int, v any) {
		t.Helper()
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want {
			t.Fatalf("GET %s: %d %s, want %d", path, rec.Code, rec.Body, want)
		}
		if v != nil {
			if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
				t.Fatal(err)
			}
		}
	}
	var list struct {
		Candidates []map[string]any `json:"candidates"`
	}
	get("/api/v1/cnc?alert=true", http.StatusOK, &list)
	if len(list.Candidates) != 1 {
		t.Fatalf("candidates %v, want the beaconing endpoint", list.Candidates)
	}
	c := list.Candidates[0]
	for _, k := range []string{"address", "port", "proto", "score", "parts", "clients", "first_seen", "last_seen", "alert"} {
		if _, ok := c[k]; !ok {
			t.Errorf("candidate has no %q: %v", k, c)
		}
	}
	if c["address"] != "41.108.179.197" || c["port"].(float64) != 1177 || c["proto"] != "tcp" || c["alert"] != true {
		t.Errorf("candidate %v", c)
	}
	var cl CnCClients
	get("/api/v1/cnc/41.108.179.197:1177%2Ftcp/clients", http.StatusOK, &cl)
	if len(cl.Clients) != 1 || cl.Clients[0].Address.String() != "192.168.1.115" || cl.Clients[0].Contacts != 200 {
		t.Errorf("clients %+v", cl)
	}
	get("/api/v1/cnc/41.108.179.197:1177/clients?proto=tcp", http.StatusOK, &cl)
	get("/api/v1/cnc/198.51.100.1:1177/clients", http.StatusNotFound, nil)
	get("/api/v1/cnc/nonsense/clients", http.StatusBadRequest, nil)
	get("/api/v1/cnc?limit=-1", http.StatusBadRequest, nil)
}
