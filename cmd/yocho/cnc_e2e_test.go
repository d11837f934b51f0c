package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"yocho/internal/alert"
	"yocho/internal/detect/cnc"
	"yocho/internal/eval"
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
	dir := t.TempDir()
	nf, web := freePort(t, "udp"), freePort(t, "tcp")
	cfg := fmt.Sprintf(`listen:
  netflow: ["127.0.0.1:%d"]
  http: "127.0.0.1:%d"
storage:
  path: %s
detection:
  ddos:
    clock: flow
networks:
  - {prefix: 10.0.0.0/12, name: subscribers, criticality: low}
  - prefix: "fd00:100::/40"
    name: subscribers-v6
    criticality: low
    prefix_thresholds: {bps: 10G, pps: 2M}   # the simulator numbers its subscribers in one /64
  - {prefix: 198.51.100.0/24, name: hosting-a, criticality: high}
  - {prefix: 203.0.113.0/24, name: hosting-b}
  - {prefix: "2001:db8:100::/48", name: hosting-v6}
`, nf, web, filepath.Join(dir, "data"))
	cfgPath := filepath.Join(dir, "yocho.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan int)
	go func() { served <- serve(ctx, []string{"-c", cfgPath}, io.Discard, io.Discard) }()
	defer func() { cancel(); <-served }()
	time.Sleep(time.Second)
	base := fmt.Sprintf("http://127.0.0.1:%d", web)

	root, _ := filepath.Abs("../..")
	truthPath := filepath.Join(dir, "truth.jsonl")
	args := []string{"-to", fmt.Sprintf("127.0.0.1:%d", nf), "-scenario", filepath.Join(root, "scenarios", "botnet.yaml"),
		"-speed", speed, "-truth", truthPath}
	if v := os.Getenv("YOCHO_E2E_START"); v != "" {
		args = append(args, "-start", v)
	}
	if d := os.Getenv("YOCHO_E2E_DURATION"); d != "" {
		args = append(args, "-duration", d)
	}
	var simOut, simErr bytes.Buffer
	if rc := runSimulate(args, &simOut, &simErr); rc != 0 {
		t.Fatalf("yocho simulate %s: exit %d: %s", strings.Join(args, " "), rc, simErr.String())
	}
	t.Logf("yocho simulate:\n%s", simOut.String())
	time.Sleep(3 * time.Second) // the last exports and one tick

	// Latency on the flow clock: simulated time from a botnet's start to the flow time its alert
	// was raised at, whether or not the simulator kept up with the speed asked.
	var out, errOut bytes.Buffer
	if rc := runEval([]string{"-truth", truthPath, "-server", base, "-format", "json", "-clock", "flow"}, &out, &errOut); rc != 0 {
		t.Fatalf("yocho eval: exit %d: %s", rc, errOut.String())
	}
	var rep eval.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	runEval([]string{"-truth", truthPath, "-server", base, "-clock", "flow"}, &table, io.Discard)
	t.Logf("yocho eval -clock flow, botnet.yaml at speed %s (latencies in simulated seconds):\n%s", speed, table.String())

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
		var all []alert.Alert
		if err := getJSON(ctx, base+"/api/v1/alerts", &all); err == nil {
			for _, a := range all {
				if slices.Contains(rep.FalsePositives, a.ID) {
					t.Logf("false positive %s: %s raised at flow time %s, %+v", a.ID, a.Key, a.DetectedFlowAt.Format(time.RFC3339), a.Crossed)
				}
			}
		}
	}
}

// getJSON decodes the JSON answer of GET url into v.
func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
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
