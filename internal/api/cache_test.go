package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/query"
)

func TestQueryCacheSingleFlightAndTTL(t *testing.T) {
	c := newQueryCache(5 * time.Second)
	now := time.Unix(1_800_000_000, 0)
	c.now = func() time.Time { return now }
	var runs atomic.Int32
	release := make(chan struct{})
	run := func(ctx context.Context) (any, error) {
		runs.Add(1)
		<-release
		return "answer", nil
	}
	// Five identical queries at once: one run, five answers.
	var wg sync.WaitGroup
	outcomes := make(chan string, 5)
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, o, err := c.do(context.Background(), "k", run)
			if err != nil || v != "answer" {
				t.Errorf("do = %v, %v", v, err)
			}
			outcomes <- o
		}()
	}
	for c.waiting("k") < 5 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(outcomes)
	count := map[string]int{}
	for o := range outcomes {
		count[o]++
	}
	if runs.Load() != 1 || count[cacheMiss] != 1 || count[cacheShared] != 4 {
		t.Errorf("runs %d, outcomes %v: want 1 run, 1 miss and 4 shared", runs.Load(), count)
	}
	// Within the TTL: a hit; after it: a new run.
	if _, o, _ := c.do(context.Background(), "k", run); o != cacheHit || runs.Load() != 1 {
		t.Errorf("within the TTL: %s after %d runs", o, runs.Load())
	}
	if _, o, _ := c.do(context.Background(), "other", run); o != cacheMiss || runs.Load() != 2 {
		t.Errorf("another key: %s after %d runs", o, runs.Load())
	}
	now = now.Add(5 * time.Second)
	if _, o, _ := c.do(context.Background(), "k", run); o != cacheMiss || runs.Load() != 3 {
		t.Errorf("after the TTL: %s after %d runs", o, runs.Load())
	}
}

// waiting is how many requests wait for the running query of key.
func (c *queryCache) waiting(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[key]; e != nil {
		return e.waiters
	}
	return 0
}

func TestQueryCacheErrorsAndCancellation(t *testing.T) {
	c := newQueryCache(time.Minute)
	var runs atomic.Int32
	fail := func(ctx context.Context) (any, error) { runs.Add(1); return nil, errors.New("store down") }
	for range 2 {
		if _, _, err := c.do(context.Background(), "k", fail); err == nil {
			t.Fatal("no error")
		}
	}
	if runs.Load() != 2 {
		t.Errorf("an error was kept: %d runs for 2 requests", runs.Load())
	}
	// The only requester leaves: the query is cancelled, and the next request runs afresh.
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	block := func(rctx context.Context) (any, error) { <-rctx.Done(); stopped <- rctx.Err(); return nil, rctx.Err() }
	go func() {
		for c.waiting("slow") < 1 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	if _, _, err := c.do(ctx, "slow", block); !errors.Is(err, context.Canceled) {
		t.Errorf("do = %v, want the request's cancellation", err)
	}
	select {
	case err := <-stopped:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the query stopped with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the query kept running after its only requester left")
	}
	if v, o, err := c.do(context.Background(), "slow", func(context.Context) (any, error) { return 1, nil }); v != 1 || o != cacheMiss || err != nil {
		t.Errorf("after a cancelled run: %v %s %v", v, o, err)
	}
	// Turned off: every request runs.
	off := newQueryCache(-1)
	for range 2 {
		if _, o, _ := off.do(context.Background(), "k", fail); o != cacheOff {
			t.Errorf("cache off: %s", o)
		}
	}
}

// countingStore counts the store queries the API runs.
type countingStore struct {
	tops, series atomic.Int32
}

func (s *countingStore) Top(_ context.Context, req query.TopRequest) (*query.TopResult, error) {
	s.tops.Add(1)
	return &query.TopResult{Tier: "raw", Rows: []query.TopRow{{Key: []string{"198.51.100.1"}, Bytes: uint64(len(req.By))}}}, nil
}

func (s *countingStore) Series(context.Context, query.SeriesRequest) (*query.SeriesResult, error) {
	s.series.Add(1)
	return &query.SeriesResult{Tier: "1m"}, nil
}

func (s *countingStore) Flows(context.Context, query.FlowsRequest) (*query.FlowsResult, error) {
	return &query.FlowsResult{}, nil
}

// The API answers a repeated query from the cache, says so in Server-Timing, and counts it; a
// different query (another field, another range, another filter) runs.
func TestFlowsAPICache(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := New(Config{}, reg, nil)
	st := &countingStore{}
	MountFlows(s, st, nil)
	h := s.Handler()
	get := func(u string) http.Header {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, u, nil))
		if rec.Code != 200 {
			t.Fatalf("GET %s: %d %s", u, rec.Code, rec.Body)
		}
		return rec.Header()
	}
	timing := func(hd http.Header) string { return strings.Join(hd.Values("Server-Timing"), ", ") }
	first := get("/api/v1/flows/top?by=dst_addr&metric=bps&since=6h")
	if tm := timing(first); !strings.Contains(tm, "cache;desc=miss") || !strings.Contains(tm, "app;dur=") {
		t.Errorf("first answer's Server-Timing: %q", tm)
	}
	if tm := timing(get("/api/v1/flows/top?since=6h&metric=bps&by=dst_addr")); !strings.Contains(tm, "cache;desc=hit") {
		t.Errorf("same query, parameters in another order: %q", tm)
	}
	get("/api/v1/flows/top?by=src_addr&metric=bps&since=6h")
	get("/api/v1/flows/top?by=dst_addr&metric=bps&since=1h")
	get("/api/v1/flows/top?by=dst_addr&metric=bps&since=6h&filter=proto%20%3D%20udp")
	get("/api/v1/flows/series?by=proto&metric=bps&since=6h")
	get("/api/v1/flows/series?by=proto&metric=pps&since=6h")
	get("/api/v1/flows/series?by=proto&metric=pps&since=6h")
	if st.tops.Load() != 4 || st.series.Load() != 2 {
		t.Errorf("%d top and %d series queries ran, want 4 and 2", st.tops.Load(), st.series.Load())
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var hits float64
	routes := map[string]uint64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				switch {
				case f.GetName() == "yocho_api_query_cache_requests_total" && l.GetValue() == cacheHit:
					hits = m.GetCounter().GetValue()
				case f.GetName() == "yocho_api_request_duration_seconds":
					routes[l.GetValue()] = m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	if hits != 2 {
		t.Errorf("yocho_api_query_cache_requests_total{result=hit} = %v, want 2", hits)
	}
	if routes["GET /api/v1/flows/top"] != 5 || routes["GET /api/v1/flows/series"] != 3 {
		t.Errorf("yocho_api_request_duration_seconds counts %v", routes)
	}

	off := New(Config{CacheTTL: -1}, prometheus.NewRegistry(), nil)
	st2 := &countingStore{}
	MountFlows(off, st2, nil)
	for range 2 {
		rec := httptest.NewRecorder()
		off.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/flows/top?by=dst_addr", nil))
	}
	if st2.tops.Load() != 2 {
		t.Errorf("cache off: %d queries for 2 requests", st2.tops.Load())
	}
}
