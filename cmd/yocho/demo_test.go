package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// demoPort is a free loopback port (the listener is closed before the demo binds it).
func demoPort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// `yocho demo`, built and run from the repository root as a newcomer would, shows traffic in
// the API within 60 seconds of its start.
func TestDemoShowsTrafficWithin60s(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "yocho")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", demoPort(t, "tcp"))
	cmd := exec.Command(bin, "demo", "-http", httpAddr,
		"-netflow", fmt.Sprintf("127.0.0.1:%d", demoPort(t, "udp")),
		"-sflow", fmt.Sprintf("127.0.0.1:%d", demoPort(t, "udp")))
	cmd.Dir = "../.."
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("yocho demo did not stop on SIGINT")
		}
	}()
	client := &http.Client{Timeout: 2 * time.Second}
	var flows uint64
	var exporters int
	for time.Since(start) < 60*time.Second && flows == 0 {
		time.Sleep(500 * time.Millisecond)
		resp, err := client.Get("http://" + httpAddr + "/api/v1/exporters")
		if err != nil {
			continue
		}
		var list []struct {
			Address string `json:"address"`
			Flows   uint64 `json:"flows"`
		}
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("GET /api/v1/exporters: %v", err)
		}
		flows, exporters = 0, len(list)
		for _, e := range list {
			flows += e.Flows
		}
	}
	if flows == 0 {
		t.Fatalf("no flows in /api/v1/exporters after %s; output:\n%s", time.Since(start).Round(time.Second), out.String())
	}
	t.Logf("%d flows from %d exporters after %s", flows, exporters, time.Since(start).Round(100*time.Millisecond))
	if !strings.Contains(out.String(), "open http://"+httpAddr+"/") {
		t.Errorf("the demo does not print the URL to open:\n%s", out.String())
	}
}

// `yocho eval` on the hand-made files prints the known answers, in JSON and as a table.
func TestEvalCommand(t *testing.T) {
	args := []string{"-truth", "../../internal/eval/testdata/truth.jsonl", "-alerts", "../../internal/eval/testdata/alerts.json", "-slack", "1m"}
	var stdout, stderr bytes.Buffer
	if code := run(append([]string{"eval", "-format", "json"}, args...), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var rep struct {
		Rows []struct {
			Kind, Vector string
			TP           int `json:"tp"`
			Missed       int `json:"missed"`
			FP           int `json:"fp"`
		} `json:"rows"`
		AlertsTotal int `json:"alerts_total"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	found := false
	for _, r := range rep.Rows {
		if r.Kind == "ddos" && r.Vector == "*" {
			found = true
			if r.TP != 3 || r.Missed != 1 || r.FP != 3 {
				t.Errorf("ddos total: %+v, want 3 TP, 1 missed, 3 FP", r)
			}
		}
	}
	if !found || rep.AlertsTotal != 10 {
		t.Errorf("report %+v", rep)
	}
	stdout.Reset()
	if code := run(append([]string{"eval"}, args...), &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "RECALL") {
		t.Errorf("table: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	if code := run([]string{"eval", "-alerts", "x.json"}, &stdout, &stderr); code != 2 {
		t.Errorf("eval without -truth: exit %d, want 2", code)
	}
}
