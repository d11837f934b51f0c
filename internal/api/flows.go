package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"yocho/internal/query"
)

// FlowStore answers flow queries: *store.Store and *store.Reader implement it.
type FlowStore interface {
	Top(ctx context.Context, req query.TopRequest) (*query.TopResult, error)
	Series(ctx context.Context, req query.SeriesRequest) (*query.SeriesResult, error)
	Flows(ctx context.Context, req query.FlowsRequest) (*query.FlowsResult, error)
}

// MountFlows serves the flow queries of st:
//
//	GET /api/v1/flows/top?by=dst_addr&metric=bytes&limit=10&since=1h&until=&filter=...
//	GET /api/v1/flows/series?metric=bps&by=proto&limit=5&bucket=1m&since=6h&filter=...
//	GET /api/v1/flows?filter=...&since=...&until=...&limit=...
//
// since and until take RFC 3339 times or durations before now ("1h", "7d"). A bad parameter
// answers 400 with a message; a filter's syntax error says where (column) and what was expected.
func MountFlows(s *Server, st FlowStore, now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	s.Mount("GET /api/v1/flows/top", func(w http.ResponseWriter, r *http.Request) {
		req, err := ParseTopRequest(r.URL.Query(), now())
		if err != nil {
			writeBadRequest(w, err)
			return
		}
		s.answerCached(w, r, "top", req.By, req.Metric, req.Limit, 0, req.Filter, func(ctx context.Context) (any, error) { return st.Top(ctx, req) })
	})
	s.Mount("GET /api/v1/flows/series", func(w http.ResponseWriter, r *http.Request) {
		req, err := ParseSeriesRequest(r.URL.Query(), now())
		if err != nil {
			writeBadRequest(w, err)
			return
		}
		s.answerCached(w, r, "series", req.By, req.Metric, req.Limit, req.Bucket, req.Filter, func(ctx context.Context) (any, error) { return st.Series(ctx, req) })
	})
	s.Mount("GET /api/v1/flows", func(w http.ResponseWriter, r *http.Request) {
		req, err := ParseFlowsRequest(r.URL.Query(), now())
		if err != nil {
			writeBadRequest(w, err)
			return
		}
		s.answerCached(w, r, "flows", nil, "", req.Limit, 0, req.Filter, func(ctx context.Context) (any, error) { return st.Flows(ctx, req) })
	})
}

// FilterError is the body of a 400 answer to a filter that does not parse.
type FilterError struct {
	Error    string `json:"error"`
	Position int    `json:"position"` // byte offset, from 0
	Column   int    `json:"column"`   // from 1
	Expected string `json:"expected,omitempty"`
}

func writeBadRequest(w http.ResponseWriter, err error) {
	var pe *query.ParseError
	if errors.As(err, &pe) {
		WriteJSON(w, http.StatusBadRequest, FilterError{Error: err.Error(), Position: pe.Pos, Column: pe.Column, Expected: pe.Expected})
		return
	}
	WriteError(w, http.StatusBadRequest, "%v", err)
}

// queryTimeout bounds one query.
const queryTimeout = 60 * time.Second

// answerCached answers a flow query through the server's query cache. The key is the query
// normalised: the route, the fields, metric, limit and bucket as parsed, the filter as written
// (trimmed), and since and until as written (trimmed), so that "since=6h" asked twice within the
// cache's TTL is one query; an answer is reused for that TTL at most.
func (s *Server) answerCached(w http.ResponseWriter, r *http.Request, route string, by []query.Field, metric query.Metric,
	limit int, bucket time.Duration, f *query.Filter, run func(ctx context.Context) (any, error)) {
	q := r.URL.Query()
	var key strings.Builder
	fmt.Fprintf(&key, "%s\x00%s\x00%d\x00%d", route, metric, limit, bucket)
	for _, d := range by {
		key.WriteString("\x00" + d.Name)
	}
	fmt.Fprintf(&key, "\x00since=%s\x00until=%s\x00filter=%s",
		strings.TrimSpace(q.Get("since")), strings.TrimSpace(q.Get("until")), strings.TrimSpace(f.String()))
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	res, outcome, err := s.cache.do(ctx, key.String(), run)
	s.m.cache.WithLabelValues(outcome).Inc()
	w.Header().Add("Server-Timing", "cache;desc="+outcome)
	if err != nil {
		WriteError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	WriteJSON(w, http.StatusOK, res)
}

func intParam(q url.Values, key string) (int, error) {
	s := q.Get(key)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, errors.New(key + ": want a whole number")
	}
	return n, nil
}

// common reads since, until and filter.
func common(q url.Values, now time.Time, def time.Duration) (query.Range, *query.Filter, error) {
	rg, err := query.ParseRange(q.Get("since"), q.Get("until"), now, def)
	if err != nil {
		return query.Range{}, nil, err
	}
	f, err := query.ParseFilter(q.Get("filter"))
	if err != nil {
		return query.Range{}, nil, err
	}
	return rg, f, nil
}

// ParseTopRequest reads the parameters of /api/v1/flows/top (and of `yocho query top`).
// by defaults to dst_addr, metric to bytes, since to 1h.
func ParseTopRequest(q url.Values, now time.Time) (query.TopRequest, error) {
	rg, f, err := common(q, now, time.Hour)
	if err != nil {
		return query.TopRequest{}, err
	}
	by := q.Get("by")
	if by == "" {
		by = "dst_addr"
	}
	dims, err := query.ParseDims(by)
	if err != nil {
		return query.TopRequest{}, err
	}
	m, err := query.ParseMetric(q.Get("metric"))
	if err != nil {
		return query.TopRequest{}, err
	}
	limit, err := intParam(q, "limit")
	if err != nil {
		return query.TopRequest{}, err
	}
	return query.TopRequest{Range: rg, By: dims, Metric: m, Limit: limit, Filter: f}, nil
}

// ParseSeriesRequest reads the parameters of /api/v1/flows/series. by may be empty (one series);
// bucket is a duration, chosen from the range when empty; since defaults to 6h.
func ParseSeriesRequest(q url.Values, now time.Time) (query.SeriesRequest, error) {
	rg, f, err := common(q, now, 6*time.Hour)
	if err != nil {
		return query.SeriesRequest{}, err
	}
	dims, err := query.ParseDims(q.Get("by"))
	if err != nil {
		return query.SeriesRequest{}, err
	}
	m, err := query.ParseMetric(q.Get("metric"))
	if err != nil {
		return query.SeriesRequest{}, err
	}
	limit, err := intParam(q, "limit")
	if err != nil {
		return query.SeriesRequest{}, err
	}
	var bucket time.Duration
	if b := q.Get("bucket"); b != "" {
		if bucket, err = time.ParseDuration(b); err != nil || bucket < time.Second {
			return query.SeriesRequest{}, errors.New("bucket: want a duration of at least 1s, e.g. 1m")
		}
	}
	return query.SeriesRequest{Range: rg, By: dims, Metric: m, Limit: limit, Bucket: bucket, Filter: f}, nil
}

// ParseFlowsRequest reads the parameters of /api/v1/flows; since defaults to 1h.
func ParseFlowsRequest(q url.Values, now time.Time) (query.FlowsRequest, error) {
	rg, f, err := common(q, now, time.Hour)
	if err != nil {
		return query.FlowsRequest{}, err
	}
	limit, err := intParam(q, "limit")
	if err != nil {
		return query.FlowsRequest{}, err
	}
	return query.FlowsRequest{Range: rg, Limit: limit, Filter: f}, nil
}
