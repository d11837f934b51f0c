package api

import (
	"net/http"
	"net/netip"
	"strconv"

	"yocho/internal/detect/cnc"
)

// CnCSource is what the C&C endpoints read: the C&C engine.
type CnCSource interface {
	Candidates(minScore float64, limit int) []cnc.Candidate
	Clients(addr netip.Addr, port uint16, proto uint8) ([]cnc.Client, bool)
}

// CnCList is the answer of GET /api/v1/cnc.
type CnCList struct {
	Candidates []cnc.Candidate `json:"candidates"`
}

// CnCClients is the answer of GET /api/v1/cnc/{endpoint}/clients.
type CnCClients struct {
	Endpoint string       `json:"endpoint"`
	Clients  []cnc.Client `json:"clients"`
}

// MountCnC serves the C&C candidates:
//
//	GET /api/v1/cnc?min_score=S&limit=N&alert=true   ranked candidates, highest score first
//	GET /api/v1/cnc/{endpoint}/clients               the subscribers that contacted an endpoint
//
// {endpoint} is "address:port/proto" with the slash escaped (%2F), or "address:port" with
// ?proto=udp (tcp by default); IPv6 addresses are bracketed.
func MountCnC(s *Server, src CnCSource) {
	s.Mount("GET /api/v1/cnc", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		minScore, limit := 1.0, 100
		if v := q.Get("min_score"); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 100 {
				WriteError(w, http.StatusBadRequest, "min_score must be a number from 0 to 100")
				return
			}
			minScore = f
		}
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 10000 {
				WriteError(w, http.StatusBadRequest, "limit must be a whole number from 0 to 10000")
				return
			}
			limit = n
		}
		cands := src.Candidates(minScore, limit)
		if q.Get("alert") == "true" {
			kept := cands[:0]
			for _, c := range cands {
				if c.Alert {
					kept = append(kept, c)
				}
			}
			cands = kept
		}
		if cands == nil {
			cands = []cnc.Candidate{}
		}
		WriteJSON(w, http.StatusOK, CnCList{Candidates: cands})
	})
	s.Mount("GET /api/v1/cnc/{endpoint}/clients", func(w http.ResponseWriter, r *http.Request) {
		ep := r.PathValue("endpoint")
		if p := r.URL.Query().Get("proto"); p != "" {
			ep += "/" + p
		}
		addr, port, proto, err := cnc.ParseEndpoint(ep)
		if err != nil {
			WriteError(w, http.StatusBadRequest, "%v", err)
			return
		}
		clients, ok := src.Clients(addr, port, proto)
		if !ok {
			WriteError(w, http.StatusNotFound, "endpoint %s is not tracked", ep)
			return
		}
		if clients == nil {
			clients = []cnc.Client{}
		}
		name := netip.AddrPortFrom(addr, port).String() + "/" + cnc.ProtoName(proto)
		WriteJSON(w, http.StatusOK, CnCClients{Endpoint: name, Clients: clients})
	})
}
