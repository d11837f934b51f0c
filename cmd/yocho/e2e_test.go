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

// e2eNetworks are the networks of the simulator's scenarios, as the end-to-end tests serve them.
const e2eNetworks = `networks:
  - {prefix: 10.0.0.0/12, name: subscribers, criticality: low}
  - prefix: "fd00:100::/40"
    name: subscribers-v6
    criticality: low
    prefix_thresholds: {bps: 10G, pps: 2M}   # the simulator numbers its subscribers in one /64
  - {prefix: 198.51.100.0/24, name: hosting-a, criticality: high}
  - {prefix: 203.0.113.0/24, name: hosting-b}
  - {prefix: 192.0.2.0/24, name: hosting-c}
  - {prefix: "2001:db8:100::/48", name: hosting-v6}
`

// e2ePlay is what playScenario leaves for the test: the server still running (until the test
// ends), its base URL, the scenario's ground truth and yocho eval's report.
type e2ePlay struct {
	base, truth string
	report      eval.Report
}

// playScenario runs yocho serve (DDoS on the wall clock at speed 1, else on the flow clock), plays
// scenario at it with yocho simulate at speed (simArgs added), and scores the alerts with yocho
// eval (evalArgs added); it logs eval's table and the report of every false positive.
func playScenario(t *testing.T, scenario, speed string, simArgs, evalArgs []string) e2ePlay {
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
`, nf, sf, web, filepath.Join(dir, "data"), map[bool]string{true: "wall", false: "flow"}[speed == "1"]) + e2eNetworks
	cfgPath := filepath.Join(dir, "yocho.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan int)
	go func() { served <- serve(ctx, []string{"-c", cfgPath}, io.Discard, io.Discard) }()
	t.Cleanup(func() { cancel(); <-served })
	time.Sleep(time.Second)
	p := e2ePlay{base: fmt.Sprintf("http://127.0.0.1:%d", web), truth: filepath.Join(dir, "truth.jsonl")}

	root, _ := filepath.Abs("../..")
	args := append([]string{"-to", fmt.Sprintf("127.0.0.1:%d", nf), "-sflow-to", fmt.Sprintf("127.0.0.1:%d", sf),
		"-scenario", filepath.Join(root, "scenarios", scenario), "-speed", speed, "-truth", p.truth}, simArgs...)
	var simOut, simErr bytes.Buffer
	if rc := runSimulate(args, &simOut, &simErr); rc != 0 {
		t.Fatalf("yocho simulate %s: exit %d: %s", strings.Join(args, " "), rc, simErr.String())
	}
	if simOut.Len() > 0 {
		t.Logf("yocho simulate:\n%s", simOut.String())
	}
	time.Sleep(3 * time.Second) // the last exports and one evaluation

	evalArgs = append([]string{"-truth", p.truth, "-server", p.base}, evalArgs...)
	var out, errOut bytes.Buffer
	if rc := runEval(append(evalArgs, "-format", "json"), &out, &errOut); rc != 0 {
		t.Fatalf("yocho eval: exit %d: %s", rc, errOut.String())
	}
	if err := json.Unmarshal(out.Bytes(), &p.report); err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	runEval(evalArgs, &table, io.Discard)
	t.Logf("%s, %s at speed %s:\n%s", strings.Join(append([]string{"yocho eval"}, evalArgs[4:]...), " "), scenario, speed, table.String())
	for _, id := range p.report.FalsePositives { // judged from the log once the data is gone
		var a json.RawMessage
		if err := getJSON(ctx, p.base+"/api/v1/alerts/"+id, &a); err != nil {
			t.Logf("false positive %s: %v", id, err)
		} else {
			t.Logf("false positive %s: %s", id, a)
		}
	}
	return p
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
