package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"yocho/internal/alert"
)

// AlertSource is what the alerts API reads: the alert.Manager.
type AlertSource interface {
	List(f alert.Filter) []alert.Alert
	Get(id string) (alert.Alert, error)
}

// MountAlerts serves GET /api/v1/alerts?state=&kind=&direction=&since=&limit= (a JSON array,
// newest first, without series and sample flows) and GET /api/v1/alerts/{id} (the whole report: time series and
// evidence). since is RFC 3339 or a duration back from now ("15m").
func MountAlerts(s *Server, src AlertSource) {
	s.Mount("GET /api/v1/alerts", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f := alert.Filter{State: alert.State(q.Get("state")), Kind: q.Get("kind"), Direction: q.Get("direction")}
		switch f.State {
		case "", alert.Ongoing, alert.Ended:
		default:
			WriteError(w, http.StatusBadRequest, "state %q: want ongoing or ended", f.State)
			return
		}
		switch f.Direction {
		case "", alert.Incoming, alert.Outgoing:
		default:
			WriteError(w, http.StatusBadRequest, "direction %q: want incoming or outgoing", f.Direction)
			return
		}
		if v := q.Get("since"); v != "" {
			t, err := parseSince(v, time.Now())
			if err != nil {
				WriteError(w, http.StatusBadRequest, "since %q: want an RFC 3339 time or a duration such as 15m", v)
				return
			}
			f.Since = t
		}
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				WriteError(w, http.StatusBadRequest, "limit %q: want a whole number", v)
				return
			}
			f.Limit = n
		}
		WriteJSON(w, http.StatusOK, src.List(f))
	})
	s.Mount("GET /api/v1/alerts/{id}", func(w http.ResponseWriter, r *http.Request) {
		a, err := src.Get(r.PathValue("id"))
		if errors.Is(err, alert.ErrNotFound) {
			WriteError(w, http.StatusNotFound, "no alert %q", r.PathValue("id"))
			return
		}
		if err != nil {
			WriteError(w, http.StatusInternalServerError, "%v", err)
			return
		}
		WriteJSON(w, http.StatusOK, a)
	})
}

func parseSince(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return time.Time{}, errors.New("bad since")
	}
	return now.Add(-d), nil
}
