package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"yocho/internal/eval"
)

// TestDDoSEndToEnd runs yocho serve, plays scenarios/ddos-mix.yaml and scenarios/benign-day.yaml
// at it with yocho simulate, and scores the alerts with yocho eval: every attack detected with
// its victim, the vector right for at least 95 %, detection latency p95 at most 2 s, no alert on
// the benign day. It takes the scenarios' length divided by the speed (YOCHO_E2E_SPEED, default 4
// for ddos-mix, 60 for benign-day; latency is only meaningful at speed 1), so it runs only with
// YOCHO_E2E=1.
func TestDDoSEndToEnd(t *testing.T) {
	if os.Getenv("YOCHO_E2E") != "1" {
		t.Skip("set YOCHO_E2E=1 to run the DDoS end-to-end test (15 to 60 minutes)")
	}
	for _, tc := range []struct {
		scenario, speed, duration string
	}{
		{"ddos-mix.yaml", envOr("YOCHO_E2E_SPEED", "4"), envOr("YOCHO_E2E_DURATION", "")},
		{"benign-day.yaml", "60", envOr("YOCHO_E2E_DURATION", "")},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			rep := runScenario(t, tc.scenario, tc.speed, tc.duration)
			if tc.scenario == "benign-day.yaml" {
				if rep.AlertsTotal != 0 || len(rep.BenignAlerted) != 0 {
					t.Errorf("benign day: %d alerts, flash crowds alerted %v", rep.AlertsTotal, rep.BenignAlerted)
				}
				return
			}
			truths, vectorOK := 0, 0
			for _, m := range rep.Matches {
				if m.Kind != "ddos" {
					continue
				}
				truths++
				t.Logf("%s (%s): latency %s, end lag %s", m.Truth, m.Vector, seconds(m.Latency), seconds(m.EndLag))
				if !m.Detected {
					t.Errorf("%s (%s) not detected", m.Truth, m.Vector)
				}
				if m.VectorOK {
					vectorOK++
				}
			}
			if truths == 0 || float64(vectorOK) < 0.95*float64(truths) {
				t.Errorf("vector right for %d of %d attacks, want 95 %%", vectorOK, truths)
			}
			if len(rep.FalsePositives) > 0 {
				t.Errorf("false positives: %v", rep.FalsePositives)
			}
			for _, r := range rep.Rows {
				if r.Kind == "ddos" && r.Vector == "*" && tc.speed == "1" && (r.LatencyP95 == nil || *r.LatencyP95 > 2) {
					t.Errorf("latency p95 %s, want at most 2 s", seconds(r.LatencyP95))
				}
			}
		})
	}
}

// seconds writes an optional figure of seconds.
func seconds(s *float64) string {
	if s == nil {
		return "none"
	}
	return fmt.Sprintf("%.1f s", *s)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// runScenario serves, simulates and evaluates one scenario.
func runScenario(t *testing.T, scenario, speed, duration string) eval.Report {
	dir := t.TempDir()
	nf, sf, web := freePort(t, "udp"), freePort(t, "udp"), freePort(t, "tcp")
	cfg := fmt.Sprintf(`listen:
  netflow: ["127.0.0.1:%d"]
  sflow: ["127.0.0.1:%d"]
  http: "127.0.0.1:%d"
storage:
  path: %s
detection:
  ddos:
    clock: %s
networks:
  - {prefix: 10.0.0.0/12, name: subscribers, criticality: low}
  - prefix: "fd00:100::/40"
    name: subscribers-v6
    criticality: low
    prefix_thresholds: {bps: 10G, pps: 2M}   # the simulator numbers its subscribers in one /64
  - {prefix: 198.51.100.0/24, name: hosting-a, criticality: high}
  - {prefix: 203.0.113.0/24, name: hosting-b}
  - {prefix: 192.0.2.0/24, name: hosting-c}
  - {prefix: "2001:db8:100::/48", name: hosting-v6}
`, nf, sf, web, filepath.Join(dir, "data"), map[bool]string{true: "wall", false: "flow"}[speed == "1"])
	cfgPath := filepath.Join(dir, "yocho.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan int)
	go func() { served <- serve(ctx, []string{"-c", cfgPath}, io.Discard, io.Discard) }()
	defer func() { cancel(); <-served }()
	time.Sleep(time.Second)

	root, _ := filepath.Abs("../..")
	truth := filepath.Join(dir, "truth.jsonl")
	args := []string{"-to", fmt.Sprintf("127.0.0.1:%d", nf), "-sflow-to", fmt.Sprintf("127.0.0.1:%d", sf),
		"-scenario", filepath.Join(root, "scenarios", scenario), "-speed", speed, "-truth", truth, "-q"}
	if duration != "" {
		args = append(args, "-duration", duration)
	}
	var simErr bytes.Buffer
	if rc := runSimulate(args, io.Discard, &simErr); rc != 0 {
		t.Fatalf("yocho simulate %s: exit %d: %s", strings.Join(args, " "), rc, simErr.String())
	}
	time.Sleep(3 * time.Second) // the last exports and one evaluation
	var out, errOut bytes.Buffer
	if rc := runEval([]string{"-truth", truth, "-server", fmt.Sprintf("http://127.0.0.1:%d", web), "-format", "json"}, &out, &errOut); rc != 0 {
		t.Fatalf("yocho eval: exit %d: %s", rc, errOut.String())
	}
	var rep eval.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	runEval([]string{"-truth", truth, "-server", fmt.Sprintf("http://127.0.0.1:%d", web)}, &table, io.Discard)
	t.Logf("yocho eval, %s at speed %s:\n%s", scenario, speed, table.String())
	for _, id := range rep.FalsePositives {
		t.Logf("false positive %s: %s", id, alertJSON(web, id))
	}
	return rep
}

// alertJSON is alert id's report as the API gives it, so that a false positive can be judged from
// the test's log after its data directory is gone.
func alertJSON(port int, id string) string {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/alerts/%s", port, id))
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
