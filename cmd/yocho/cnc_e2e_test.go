package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"yocho/internal/detect/cnc"
	"yocho/internal/simulate"
)

// TestCnCEndToEnd runs yocho serve with the networks of scenarios/botnet.yaml, plays the scenario
// at it with yocho simulate (speed YOCHO_E2E_SPEED, default 20: two simulated hours in six
// minutes when the machine keeps up; YOCHO_E2E_START sets the simulated start, RFC 3339, for a
// run to compare with one in process) and scores the alerts with yocho eval -clock flow: every
// C&C server of 50 bots or more alerted within one simulated hour of its botnet's start and
// ranked above every benign endpoint, and no false positive. Runs only with YOCHO_E2E=1.
func TestCnCEndToEnd(t *testing.T) {
	if os.Getenv("YOCHO_E2E") != "1" {
		t.Skip("set YOCHO_E2E=1 to run the C&C end-to-end test (about 10 minutes)")
	}
	speed := envOr("YOCHO_E2E_SPEED", "20")
	var simArgs []string
	if v := os.Getenv("YOCHO_E2E_START"); v != "" {
		simArgs = append(simArgs, "-start", v)
	}
	if d := os.Getenv("YOCHO_E2E_DURATION"); d != "" {
		simArgs = append(simArgs, "-duration", d)
	}
	// Latency on the flow clock: simulated time from a botnet's start to the flow time its alert
	// was raised at, whether or not the simulator kept up with the speed asked.
	play := playScenario(t, "botnet.yaml", speed, simArgs, []string{"-clock", "flow"})
	ctx, base, rep, truthPath := context.Background(), play.base, play.report, play.truth

	f, err := os.Open(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	truths, err := simulate.ReadTruth(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Candidates []cnc.Candidate }
	if err := getJSON(ctx, base+"/api/v1/cnc?limit=1000&min_score=0", &list); err != nil {
		t.Fatal(err)
	}
	servers := map[string]simulate.Truth{}
	for _, tr := range truths {
		if tr.Kind == "cnc" {
			for _, s := range tr.Servers {
				servers[fmt.Sprintf("%s/%s", netip.AddrPortFrom(s.Address, s.Port), s.Proto)] = tr
			}
		}
	}
	rank, firstBenign := map[string]int{}, 0
	for i, c := range list.Candidates {
		if _, ok := servers[c.Endpoint()]; ok {
			rank[c.Endpoint()] = i + 1
		} else if firstBenign == 0 {
			firstBenign = i + 1
			t.Logf("best benign endpoint: #%d %s %.1f %v", i+1, c.Endpoint(), c.Score, c.Evidence)
		}
	}
	latency := map[string]*float64{}
	for _, m := range rep.Matches {
		latency[m.Truth] = m.Latency
	}
	sort.Slice(truths, func(i, j int) bool { return truths[i].Sources > truths[j].Sources })
	for _, tr := range truths {
		if tr.Kind != "cnc" {
			continue
		}
		ep := fmt.Sprintf("%s/%s", netip.AddrPortFrom(tr.Servers[0].Address, tr.Servers[0].Port), tr.Servers[0].Proto)
		lat := latency[tr.ID]
		after := "never"
		if lat != nil {
			after = (time.Duration(*lat) * time.Second).String()
		}
		t.Logf("%-10s %4d bots: alerted %s after its start (simulated), rank %d", tr.ID, tr.Sources, after, rank[ep])
		if tr.Sources < 50 {
			continue
		}
		if lat == nil || *lat > time.Hour.Seconds() {
			t.Errorf("%s (%d bots): alerted %s after its start, want within one simulated hour", tr.ID, tr.Sources, after)
		}
		if rank[ep] == 0 || (firstBenign > 0 && rank[ep] > firstBenign) {
			t.Errorf("%s (%d bots): rank %d, want above every benign endpoint (best #%d)", tr.ID, tr.Sources, rank[ep], firstBenign)
		}
	}
	logMetrics(t, ctx, base, "yocho_collector_flows_total", "yocho_collector_sequence_lost_total",
		"yocho_collector_socket_drops_total", "yocho_flows_unknown_sampling_total", "yocho_cnc_records_total")
	for _, m := range rep.Matches {
		if m.Kind == "cnc" && !m.Detected {
			t.Errorf("%s not detected", m.Truth)
		}
	}
	if len(rep.FalsePositives) > 0 {
		t.Errorf("false positives: %v", rep.FalsePositives)
	}
}

// logMetrics logs the server's metrics whose names begin with one of names.
func logMetrics(t *testing.T, ctx context.Context, base string, names ...string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Logf("metrics: %v", err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var b strings.Builder
	for _, line := range strings.Split(string(body), "\n") {
		for _, n := range names {
			if strings.HasPrefix(line, n) {
				b.WriteString(line + "\n")
			}
		}
	}
	t.Logf("metrics:\n%s", b.String())
}
