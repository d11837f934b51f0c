package main

import (
	"fmt"
	"os"
	"testing"
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
			var simArgs []string
			if tc.duration != "" {
				simArgs = []string{"-duration", tc.duration}
			}
			rep := playScenario(t, tc.scenario, tc.speed, append(simArgs, "-q"), nil).report
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

// envOr is the environment variable k, or def when it is empty.
func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
