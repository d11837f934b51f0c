package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"yocho/internal/alert"
	"yocho/internal/mitigate"
)

// Mitigator is what the mitigation API drives: the mitigation engine (mitigate.Mitigator).
type Mitigator interface {
	Confirm(id string) error
	Withdraw(id string) error
}

// MitigationAction is the body of POST /api/v1/alerts/{id}/mitigation.
type MitigationAction struct {
	Action string `json:"action"` // confirm or withdraw
}

// MountMitigation serves POST /api/v1/alerts/{id}/mitigation with {"action": "confirm"} (announce
// the alert's routes now: confirm mode, or after a withdrawal) or {"action": "withdraw"} (withdraw
// them now, and keep them withdrawn). It answers the alert with its mitigation record updated;
// 404 for an unknown alert, 409 when the action does not apply (mode, prefix outside our networks,
// route cap, alert ended), with the reason. A nil m answers 409: mitigation is off.
func MountMitigation(s *Server, m Mitigator, src AlertSource) {
	s.Mount("POST /api/v1/alerts/{id}/mitigation", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		var body MitigationAction
		dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			WriteError(w, http.StatusBadRequest, "body: want {\"action\": \"confirm\"} or {\"action\": \"withdraw\"}: %v", err)
			return
		}
		var err error
		switch body.Action {
		case "confirm", "withdraw":
			if m == nil {
				WriteError(w, http.StatusConflict, "mitigation is off")
				return
			}
			if body.Action == "confirm" {
				err = m.Confirm(id)
			} else {
				err = m.Withdraw(id)
			}
		default:
			WriteError(w, http.StatusBadRequest, "action %q: want confirm or withdraw", body.Action)
			return
		}
		switch {
		case errors.Is(err, alert.ErrNotFound):
			WriteError(w, http.StatusNotFound, "no alert %q", id)
			return
		case errors.Is(err, mitigate.ErrRefused):
			WriteError(w, http.StatusConflict, "%v", err)
			return
		case err != nil:
			WriteError(w, http.StatusInternalServerError, "%v", err)
			return
		}
		a, err := src.Get(id)
		if err != nil {
			WriteError(w, http.StatusInternalServerError, "%v", err)
			return
		}
		WriteJSON(w, http.StatusOK, a)
	})
}
