package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/query"
)

// fakeFlows records the requests it gets and answers with the request's shape.
type fakeFlows struct {
	top    query.TopRequest
	series query.SeriesRequest
	flows  query.FlowsRequest
}

func (f *fakeFlows) Top(_ context.Context, req query.TopRequest) (*query.TopResult, error) {
	f.top = req
	return &query.TopResult{Tier: "raw", By: []string{req.By[0].Name}, Metric: req.Metric, Rows: []query.TopRow{{Key: []string{"203.0.113.1"}, Value: 42, Bytes: 42}}}, nil
}

func (f *fakeFlows) Series(_ context.Context, req query.SeriesRequest) (*query.SeriesResult, error) {
	f.series = req
	return &query.SeriesResult{Tier: "1m", Metric: req.Metric}, nil
}

func (f *fakeFlows) Flows(_ context.Context, req query.FlowsRequest) (*query.FlowsResult, error) {
	f.flows = req
	return &query.FlowsResult{Tier: "raw", Flows: []query.FlowRow{}}, nil
}

func TestFlowsEndpoints(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	fake := &fakeFlows{}
	s := New(Config{}, prometheus.NewRegistry(), nil)
	MountFlows(s, fake, func() time.Time { return now })
	get := func(url string) (int, map[string]any) {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: not JSON: %s", url, rec.Body)
		}
		return rec.Code, body
	}

	code, body := get("/api/v1/flows/top?by=dst_addr&metric=bytes&limit=10&since=1h&filter=" +
		"dst_addr+in+203.0.113.0/24+and+proto+%3D+udp")
	if code != 200 || body["tier"] != "raw" || fake.top.Limit != 10 || fake.top.Metric != query.Bytes ||
		!fake.top.From.Equal(now.Add(-time.Hour)) || !fake.top.To.Equal(now) || fake.top.Filter.String() != "dst_addr in 203.0.113.0/24 and proto = udp" {
		t.Errorf("top: %d %v, request %+v", code, body, fake.top)
	}
	code, _ = get("/api/v1/flows/series?metric=bps&by=proto&since=6h&bucket=5m")
	if code != 200 || fake.series.Metric != query.BPS || fake.series.Bucket != 5*time.Minute || fake.series.By[0].Name != "proto" ||
		!fake.series.From.Equal(now.Add(-6*time.Hour)) {
		t.Errorf("series: %d, request %+v", code, fake.series)
	}
	code, _ = get("/api/v1/flows?since=2026-11-25T10:00:00Z&until=2026-11-25T11:00:00Z&limit=5&filter=src_port+%3D+53")
	if code != 200 || fake.flows.Limit != 5 || fake.flows.From.Hour() != 10 || fake.flows.To.Hour() != 11 {
		t.Errorf("flows: %d, request %+v", code, fake.flows)
	}

	for _, tc := range []struct{ url, want string }{
		{"/api/v1/flows/top?filter=proto+%3D+udp+and", "column 16: expected a field name"},
		{"/api/v1/flows/top?filter=dstaddr+%3D+1.2.3.4", "unknown field \"dstaddr\"; known fields:"},
		{"/api/v1/flows/top?metric=bits", "unknown metric"},
		{"/api/v1/flows/top?by=nothing", "unknown field \"nothing\" in by"},
		{"/api/v1/flows/series?since=tomorrow", "since: bad time"},
		{"/api/v1/flows?limit=-3", "limit"},
		{"/api/v1/flows/series?bucket=0s", "bucket"},
	} {
		code, body := get(tc.url)
		if code != 400 || !strings.Contains(body["error"].(string), tc.want) {
			t.Errorf("%s: %d %v, want 400 with %q", tc.url, code, body, tc.want)
		}
	}
	_, body = get("/api/v1/flows/top?filter=proto+%3D+udp+and")
	if body["position"] != float64(15) || body["column"] != float64(16) || !strings.Contains(body["expected"].(string), "field name") {
		t.Errorf("filter error body: %v", body)
	}
}
