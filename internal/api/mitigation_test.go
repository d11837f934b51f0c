package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/alert"
	"yocho/internal/mitigate"
)

type fakeMitigator struct{ calls []string }

func (f *fakeMitigator) Confirm(id string) error  { return f.act("confirm", id) }
func (f *fakeMitigator) Withdraw(id string) error { return f.act("withdraw", id) }
func (f *fakeMitigator) act(what, id string) error {
	f.calls = append(f.calls, what+" "+id)
	switch id {
	case "missing":
		return fmt.Errorf("alert %s: %w", id, alert.ErrNotFound)
	case "outside":
		return fmt.Errorf("203.0.113.9/32 is outside our networks: %w", mitigate.ErrRefused)
	}
	return nil
}

type oneAlert struct{}

func (oneAlert) List(alert.Filter) []alert.Alert { return nil }
func (oneAlert) Get(id string) (alert.Alert, error) {
	return alert.Alert{ID: id, Kind: alert.KindDDoS, Mitigation: []byte(`{"state":"announced"}`)}, nil
}

func TestMitigationAction(t *testing.T) {
	m := &fakeMitigator{}
	s := New(Config{}, prometheus.NewRegistry(), nil)
	MountMitigation(s, m, oneAlert{})
	off := New(Config{}, prometheus.NewRegistry(), nil)
	MountMitigation(off, nil, oneAlert{})
	for _, tc := range []struct {
		srv          *Server
		id, body     string
		want         int
		wantInBody   string
		wantCallMade string
	}{
		{s, "a1", `{"action":"confirm"}`, 200, `"state": "announced"`, "confirm a1"},
		{s, "a1", `{"action":"withdraw"}`, 200, `"id": "a1"`, "withdraw a1"},
		{s, "missing", `{"action":"confirm"}`, 404, `"error"`, "confirm missing"},
		{s, "outside", `{"action":"confirm"}`, 409, "outside our networks", "confirm outside"},
		{s, "a1", `{"action":"announce"}`, 400, "want confirm or withdraw", ""},
		{s, "a1", `not json`, 400, `"error"`, ""},
		{s, "a1", `{"action":"confirm","extra":1}`, 400, `"error"`, ""},
		{off, "a1", `{"action":"confirm"}`, 409, "mitigation is off", ""},
	} {
		m.calls = nil
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/api/v1/alerts/"+tc.id+"/mitigation", strings.NewReader(tc.body))
		tc.srv.Handler().ServeHTTP(rec, req)
		if rec.Code != tc.want || !strings.Contains(rec.Body.String(), tc.wantInBody) {
			t.Errorf("POST %s %s: %d %s, want %d with %q", tc.id, tc.body, rec.Code, rec.Body.String(), tc.want, tc.wantInBody)
		}
		if got := strings.Join(m.calls, ","); got != tc.wantCallMade {
			t.Errorf("POST %s %s: calls %q, want %q", tc.id, tc.body, got, tc.wantCallMade)
		}
	}
}
