// Package eval scores the alerts yocho raised against the ground truth the simulator wrote: per
// kind and vector, true and false positives, misses, precision, recall, detection latency, and
// how long after the true end each alert ended. It feeds `yocho eval`.
//
// Truth comes from the JSON lines of `yocho simulate --truth` (simulate.Truth); alerts come from
// `GET /api/v1/alerts` or a file holding the same JSON (a list, or an object with an "alerts" or
// "items" list). An alert matches a truth when its kind is the same, it names one of the truth's
// victims (a DDoS target or an address of the carpet-bombed prefix; for cnc the C&C server; for
// scan a scanner), and its time span overlaps the truth's, widened by a slack. A truth with at
// least one matching alert is detected (a true positive), else missed; an alert that matches no
// truth is a false positive. Truths of kind "benign" (flash crowds) are never to be detected:
// alerts on them are false positives.
package eval

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"time"

	"yocho/internal/simulate"
)

// Alert is what eval reads of an alert. Unknown fields are ignored.
type Alert struct {
	ID        string
	Kind      string
	Direction string
	State     string
	Vector    string
	Victims   []netip.Addr
	Prefix    netip.Prefix
	Servers   []netip.Addr // cnc: the server's address
	// StartedAt is when the attack began, in flow time (attack_started_at), else when the alert
	// was raised (started_at); with EndedAt it is the span matched against the truth's.
	StartedAt time.Time
	// DetectedAt is when the alert was raised (wall clock): detected_at, raised_at or
	// created_at when the alert has one, else started_at.
	DetectedAt time.Time
	EndedAt    time.Time // zero while ongoing
	// DetectedFlowAt is the flow time at which the alert was raised (detected_flow_at), zero
	// when the alert does not say.
	DetectedFlowAt time.Time
}

// rawAlert is the alert JSON, lenient about the shapes of server and id.
type rawAlert struct {
	ID         json.RawMessage `json:"id"`
	Kind       string          `json:"kind"`
	Direction  string          `json:"direction"`
	State      string          `json:"state"`
	Vector     string          `json:"vector"`
	Victims    []string        `json:"victims"`
	Prefix     string          `json:"prefix"`
	Server     json.RawMessage `json:"server"`
	Address    string          `json:"address"`
	Key        string          `json:"key"` // yocho's cnc alerts: cnc:ADDR:PORT/PROTO
	StartedAt  *time.Time      `json:"started_at"`
	AttackAt   *time.Time      `json:"attack_started_at"`
	DetectedAt *time.Time      `json:"detected_at"`
	RaisedAt   *time.Time      `json:"raised_at"`
	CreatedAt  *time.Time      `json:"created_at"`
	EndedAt    *time.Time      `json:"ended_at"`
	FlowAt     *time.Time      `json:"detected_flow_at"`
}

// ParseAlerts reads alerts from JSON: a list, or an object holding the list under "alerts",
// "items" or "data".
func ParseAlerts(data []byte) ([]Alert, error) {
	data = bytes.TrimSpace(data)
	var raws []rawAlert
	if len(data) > 0 && data[0] == '{' {
		var wrap map[string]json.RawMessage
		if err := json.Unmarshal(data, &wrap); err != nil {
			return nil, fmt.Errorf("alerts: %w", err)
		}
		for _, k := range []string{"alerts", "items", "data"} {
			if v, ok := wrap[k]; ok {
				data = v
				break
			}
		}
	}
	if err := json.Unmarshal(data, &raws); err != nil {
		return nil, fmt.Errorf("alerts: want a JSON list of alerts: %w", err)
	}
	out := make([]Alert, 0, len(raws))
	for i, r := range raws {
		a, err := r.alert()
		if err != nil {
			return nil, fmt.Errorf("alert %d: %w", i, err)
		}
		out = append(out, a)
	}
	return out, nil
}

func (r *rawAlert) alert() (Alert, error) {
	a := Alert{Kind: r.Kind, Direction: r.Direction, State: r.State, Vector: r.Vector}
	a.ID = strings.Trim(string(r.ID), `"`)
	for _, v := range r.Victims {
		addr, err := netip.ParseAddr(v)
		if err != nil {
			if p, perr := netip.ParsePrefix(v); perr == nil {
				a.Prefix = p
				continue
			}
			return a, fmt.Errorf("victim %q: %w", v, err)
		}
		a.Victims = append(a.Victims, addr)
	}
	if r.Prefix != "" {
		p, err := netip.ParsePrefix(r.Prefix)
		if err != nil {
			return a, fmt.Errorf("prefix %q: %w", r.Prefix, err)
		}
		a.Prefix = p
	}
	if len(r.Server) > 0 && string(r.Server) != "null" {
		var obj struct {
			Address string `json:"address"`
		}
		var s string
		switch {
		case json.Unmarshal(r.Server, &obj) == nil && obj.Address != "":
			s = obj.Address
		case json.Unmarshal(r.Server, &s) == nil:
		}
		if s != "" {
			if ap, err := netip.ParseAddrPort(s); err == nil {
				a.Servers = append(a.Servers, ap.Addr())
			} else if addr, err := netip.ParseAddr(s); err == nil {
				a.Servers = append(a.Servers, addr)
			} else {
				return a, fmt.Errorf("server %q: not an address", s)
			}
		}
	}
	if r.Address != "" {
		if addr, err := netip.ParseAddr(r.Address); err == nil {
			a.Servers = append(a.Servers, addr)
		}
	}
	if ep, ok := strings.CutPrefix(r.Key, "cnc:"); ok && len(a.Servers) == 0 {
		ep, _, _ = strings.Cut(ep, "/")
		if ap, err := netip.ParseAddrPort(ep); err == nil {
			a.Servers = append(a.Servers, ap.Addr())
		}
	}
	if r.StartedAt == nil {
		return a, fmt.Errorf("started_at missing")
	}
	a.StartedAt = r.StartedAt.UTC()
	a.DetectedAt = a.StartedAt
	if r.AttackAt != nil && !r.AttackAt.IsZero() {
		a.StartedAt = r.AttackAt.UTC()
	}
	for _, t := range []*time.Time{r.DetectedAt, r.RaisedAt, r.CreatedAt} {
		if t != nil {
			a.DetectedAt = t.UTC()
			break
		}
	}
	if r.EndedAt != nil {
		a.EndedAt = r.EndedAt.UTC()
	}
	if r.FlowAt != nil {
		a.DetectedFlowAt = r.FlowAt.UTC()
	}
	return a, nil
}

// FetchAlerts gets every alert from a yocho server's API (GET {base}/api/v1/alerts).
func FetchAlerts(ctx context.Context, client *http.Client, base, token string) ([]Alert, error) {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	url := strings.TrimRight(base, "/") + "/api/v1/alerts"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	return ParseAlerts(body)
}

// Options tune the matching.
type Options struct {
	// Slack widens each truth's span on both sides before overlap is checked (exporters'
	// timeouts, detectors' minimum durations and quiet periods). Default 2 minutes.
	Slack time.Duration
	// Clock is what detection latency is measured on: ClockWall (the default), from the first
	// export reaching the collector to the alert being raised, in wall seconds; or ClockFlow,
	// from the truth's start to the flow time at which the alert was raised (detected_flow_at),
	// in simulated seconds, for detectors that judge on flow time. ClockFlow does not depend on
	// how fast the simulator kept up with its --speed; alerts without a flow time are left out
	// of its latencies.
	Clock string
}

// Clocks that latency is measured on.
const (
	ClockWall = "wall"
	ClockFlow = "flow"
)

// Row is the score of one kind and vector (Vector "*" is the kind's total). For DDoS, false
// positives are counted under the vector the alert gave.
type Row struct {
	Kind      string  `json:"kind"`
	Vector    string  `json:"vector"`
	Truths    int     `json:"truths"`
	TP        int     `json:"tp"`     // truths detected
	Missed    int     `json:"missed"` // truths not detected
	FP        int     `json:"fp"`     // alerts matching no truth
	Alerts    int     `json:"alerts"` // alerts matching a truth of this row
	VectorOK  int     `json:"vector_ok"`
	Precision float64 `json:"precision"` // matched alerts / all alerts; 1 with no alert
	Recall    float64 `json:"recall"`    // TP / truths; 1 with no truth
	// Latency is from the first export of the attack reaching the collector (the truth's
	// first_sent_at, else its start) to the first matching alert being raised, in seconds; with
	// Options.Clock ClockFlow, from the truth's start to the earliest detected_flow_at.
	LatencyP50 *float64 `json:"latency_p50_s"`
	LatencyP95 *float64 `json:"latency_p95_s"`
	// EndLag is how long after the true end the last matching alert ended, in seconds
	// (negative: before); alerts still ongoing are not counted.
	EndLagP50 *float64 `json:"end_lag_p50_s"`
	EndLagP95 *float64 `json:"end_lag_p95_s"`
	latencies []float64
	endLags   []float64
}

// Match is one truth and what matched it.
type Match struct {
	Truth    string   `json:"truth"`
	Kind     string   `json:"kind"`
	Vector   string   `json:"vector"`
	Alerts   []string `json:"alerts"`
	Detected bool     `json:"detected"`
	VectorOK bool     `json:"vector_ok"`
	Latency  *float64 `json:"latency_s,omitempty"`
	EndLag   *float64 `json:"end_lag_s,omitempty"`
}

// Report is the whole score.
type Report struct {
	Rows           []Row    `json:"rows"`
	Matches        []Match  `json:"matches"`
	FalsePositives []string `json:"false_positives"` // alert ids
	AlertsTotal    int      `json:"alerts_total"`
	BenignAlerted  []string `json:"benign_alerted,omitempty"` // benign truths (flash crowds) alerted on
	UnscoredAlerts int      `json:"unscored_alerts"`          // alerts of kinds eval does not score
}

// Score matches alerts to truths.
func Score(truths []simulate.Truth, alerts []Alert, opt Options) Report {
	if opt.Slack == 0 {
		opt.Slack = 2 * time.Minute
	}
	rows := map[[2]string]*Row{}
	row := func(kind, vector string) *Row {
		k := [2]string{kind, vector}
		if rows[k] == nil {
			rows[k] = &Row{Kind: kind, Vector: vector}
		}
		return rows[k]
	}
	matched := make([]bool, len(alerts))
	var rep Report
	rep.AlertsTotal = len(alerts)
	for _, t := range truths {
		var ids []string
		var first, firstFlow, lastEnd time.Time
		ongoing, vecOK := false, false
		for i, a := range alerts {
			if !matches(&t, &a, opt.Slack) {
				continue
			}
			if t.Kind == "benign" {
				continue // scored below as false positives
			}
			matched[i] = true
			ids = append(ids, a.ID)
			if first.IsZero() || a.DetectedAt.Before(first) {
				first = a.DetectedAt
			}
			if f := a.DetectedFlowAt; !f.IsZero() && (firstFlow.IsZero() || f.Before(firstFlow)) {
				firstFlow = f
			}
			if a.EndedAt.IsZero() {
				ongoing = true
			} else if a.EndedAt.After(lastEnd) {
				lastEnd = a.EndedAt
			}
			vecOK = vecOK || a.Vector == t.Vector || t.Kind != "ddos"
		}
		if t.Kind == "benign" {
			for _, a := range alerts {
				if matches(&t, &a, opt.Slack) {
					rep.BenignAlerted = append(rep.BenignAlerted, t.ID)
					break
				}
			}
			continue
		}
		m := Match{Truth: t.ID, Kind: t.Kind, Vector: t.Vector, Alerts: ids, Detected: len(ids) > 0, VectorOK: len(ids) > 0 && vecOK}
		for _, r := range []*Row{row(t.Kind, t.Vector), row(t.Kind, "*")} {
			r.Truths++
			r.Alerts += len(ids)
			if !m.Detected {
				r.Missed++
				continue
			}
			r.TP++
			if m.VectorOK {
				r.VectorOK++
			}
		}
		if m.Detected {
			ref, at := t.Start, first
			if t.FirstSentAt != nil {
				ref = *t.FirstSentAt
			}
			if opt.Clock == ClockFlow {
				ref, at = t.Start, firstFlow
			}
			if !at.IsZero() {
				lat := at.Sub(ref).Seconds()
				m.Latency = &lat
				row(t.Kind, t.Vector).latencies = append(row(t.Kind, t.Vector).latencies, lat)
				row(t.Kind, "*").latencies = append(row(t.Kind, "*").latencies, lat)
			}
			if !ongoing && !lastEnd.IsZero() {
				lag := lastEnd.Sub(t.End).Seconds()
				m.EndLag = &lag
				row(t.Kind, t.Vector).endLags = append(row(t.Kind, t.Vector).endLags, lag)
				row(t.Kind, "*").endLags = append(row(t.Kind, "*").endLags, lag)
			}
		}
		rep.Matches = append(rep.Matches, m)
	}
	for i, a := range alerts {
		if matched[i] {
			continue
		}
		if a.Kind != "ddos" && a.Kind != "cnc" && a.Kind != "scan" {
			rep.UnscoredAlerts++
			continue
		}
		rep.FalsePositives = append(rep.FalsePositives, a.ID)
		v := a.Vector
		if a.Kind != "ddos" || v == "" {
			v = "*"
		}
		if v != "*" {
			row(a.Kind, v).FP++
		}
		row(a.Kind, "*").FP++
	}
	for _, r := range rows {
		if n := r.Alerts + r.FP; n > 0 {
			r.Precision = float64(r.Alerts) / float64(n)
		} else {
			r.Precision = 1
		}
		if r.Truths > 0 {
			r.Recall = float64(r.TP) / float64(r.Truths)
		} else {
			r.Recall = 1
		}
		r.LatencyP50, r.LatencyP95 = quantile(r.latencies, 0.5), quantile(r.latencies, 0.95)
		r.EndLagP50, r.EndLagP95 = quantile(r.endLags, 0.5), quantile(r.endLags, 0.95)
		rep.Rows = append(rep.Rows, *r)
	}
	sort.Slice(rep.Rows, func(i, j int) bool {
		a, b := rep.Rows[i], rep.Rows[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if (a.Vector == "*") != (b.Vector == "*") {
			return b.Vector == "*"
		}
		return a.Vector < b.Vector
	})
	return rep
}

// matches says whether alert a reports truth t.
func matches(t *simulate.Truth, a *Alert, slack time.Duration) bool {
	kind := t.Kind
	if kind == "benign" {
		kind = "ddos"
	}
	if a.Kind != kind {
		return false
	}
	from, to := t.Start.Add(-slack), t.End.Add(slack)
	if a.StartedAt.After(to) || (!a.EndedAt.IsZero() && a.EndedAt.Before(from)) {
		return false
	}
	var want []netip.Addr
	var prefix netip.Prefix
	switch t.Kind {
	case "cnc":
		for _, s := range t.Servers {
			want = append(want, s.Address)
		}
		for _, s := range a.Servers {
			for _, w := range want {
				if s == w {
					return true
				}
			}
		}
	case "scan":
		want = t.Bots
	default:
		want = t.Targets
		if t.Prefix != "" {
			prefix, _ = netip.ParsePrefix(t.Prefix)
		}
	}
	for _, v := range a.Victims {
		for _, w := range want {
			if v == w {
				return true
			}
		}
		if prefix.IsValid() && prefix.Contains(v) {
			return true
		}
	}
	return prefix.IsValid() && a.Prefix.IsValid() && a.Prefix.Overlaps(prefix)
}

// quantile is the q-quantile (nearest rank) of xs, nil when xs is empty.
func quantile(xs []float64, q float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(q*float64(len(s))+0.999999) - 1
	i = min(max(i, 0), len(s)-1)
	v := s[i]
	return &v
}

// WriteTable prints the report as a table, one row per kind and vector, then each kind's total.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%-6s %-24s %6s %4s %6s %4s %9s %6s %9s %8s %8s %9s %9s\n",
		"KIND", "VECTOR", "TRUTHS", "TP", "MISSED", "FP", "PRECISION", "RECALL", "VECTOR_OK", "LAT_P50", "LAT_P95", "END_P50", "END_P95")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "%-6s %-24s %6d %4d %6d %4d %9s %6s %9s %8s %8s %9s %9s\n",
			row.Kind, row.Vector, row.Truths, row.TP, row.Missed, row.FP,
			pct(row.Precision), pct(row.Recall), ratio(row.VectorOK, row.TP),
			secs(row.LatencyP50), secs(row.LatencyP95), secs(row.EndLagP50), secs(row.EndLagP95))
	}
	fmt.Fprintf(&b, "\n%d alerts, %d false positives", r.AlertsTotal, len(r.FalsePositives))
	if len(r.BenignAlerted) > 0 {
		fmt.Fprintf(&b, "; benign events alerted on: %s", strings.Join(r.BenignAlerted, ", "))
	}
	if r.UnscoredAlerts > 0 {
		fmt.Fprintf(&b, "; %d alerts of other kinds not scored", r.UnscoredAlerts)
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func pct(x float64) string { return fmt.Sprintf("%.0f%%", 100*x) }

func ratio(a, b int) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d", a, b)
}

func secs(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.1fs", *p)
}
