package api

import (
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"yocho/internal/alert"
	"yocho/internal/query"
)

// AlertSource is what the alerts API reads: the alert.Manager.
type AlertSource interface {
	List(f alert.Filter) []alert.Alert
	Get(id string) (alert.Alert, error)
}

// MountAlerts serves GET /api/v1/alerts?state=&kind=&direction=&since=&limit=&view= (a JSON array,
// newest first, without series and sample flows; view=summary leaves the evidence out too, see
// AlertSummary) and GET /api/v1/alerts/{id} (the whole report: time series and
// evidence). since is read as the flow queries read it (query.ParseTime): an RFC 3339 time or a
// duration back from now ("15m", "36h", "7d").
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
			t, err := query.ParseTime(v, time.Now())
			if err != nil {
				WriteError(w, http.StatusBadRequest, "since: %v", err)
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
		list := src.List(f)
		switch v := q.Get("view"); v {
		case "", "full":
			WriteJSON(w, http.StatusOK, list)
		case "summary":
			out := make([]AlertSummary, len(list))
			for i := range list {
				out[i] = summarize(&list[i])
			}
			WriteJSON(w, http.StatusOK, out)
		default:
			WriteError(w, http.StatusBadRequest, "view %q: want full or summary", v)
		}
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

// AlertSummary is an alert without its evidence (threat reasons, thresholds crossed, top sources,
// ports, AS numbers, exporters, interfaces, packet sizes, mitigation): what a list shows, about
// a seventh of the size. GET /api/v1/alerts/{id} gives the rest.
type AlertSummary struct {
	ID              string       `json:"id"`
	Kind            string       `json:"kind"`
	Key             string       `json:"key"`
	Direction       string       `json:"direction"`
	State           alert.State  `json:"state"`
	ThreatLevel     int          `json:"threat_level"`
	Victims         []netip.Addr `json:"victims"`
	Prefix          netip.Prefix `json:"prefix,omitzero"`
	Hostgroup       string       `json:"hostgroup,omitempty"`
	Customer        string       `json:"customer,omitempty"`
	Vector          string       `json:"vector"`
	PeakBps         float64      `json:"peak_bps"`
	PeakPps         float64      `json:"peak_pps"`
	CurrentBps      float64      `json:"current_bps"`
	CurrentPps      float64      `json:"current_pps"`
	DistinctSources uint64       `json:"distinct_sources"`
	StartedAt       time.Time    `json:"started_at"`
	UpdatedAt       time.Time    `json:"updated_at"`
	EndedAt         *time.Time   `json:"ended_at"`
}

func summarize(a *alert.Alert) AlertSummary {
	return AlertSummary{ID: a.ID, Kind: a.Kind, Key: a.Key, Direction: a.Direction, State: a.State, ThreatLevel: a.ThreatLevel,
		Victims: a.Victims, Prefix: a.Prefix, Hostgroup: a.Hostgroup, Customer: a.Customer, Vector: a.Vector,
		PeakBps: a.PeakBps, PeakPps: a.PeakPps, CurrentBps: a.CurrentBps, CurrentPps: a.CurrentPps,
		DistinctSources: a.DistinctSources, StartedAt: a.StartedAt, UpdatedAt: a.UpdatedAt, EndedAt: a.EndedAt}
}
