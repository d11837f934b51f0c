package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
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
		answer(w, r, func(ctx context.Context) (any, error) { return st.Top(ctx, req) })
	})
	s.Mount("GET /api/v1/flows/series", func(w http.ResponseWriter, r *http.Request) {
		req, err := ParseSeriesRequest(r.URL.Query(), now())
		if err != nil {
			writeBadRequest(w, err)
			return
		}
		answer(w, r, func(ctx context.Context) (any, error) { return st.Series(ctx, req) })
	})
	s.Mount("GET /api/v1/flows", func(w http.ResponseWriter, r *http.Request) {
		req, err := ParseFlowsRequest(r.URL.Query(), now())
		if err != nil {
			writeBadRequest(w, err)
			return
		}
		answer(w, r, func(ctx context.Context) (any, error) { return st.Flows(ctx, req) })
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

func answer(w http.ResponseWriter, r *http.Request, run func(ctx context.Context) (any, error)) {
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	res, err := run(ctx)
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
