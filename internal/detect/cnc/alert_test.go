package cnc

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"yocho/internal/alert"
	"yocho/internal/intel"
)

// TestCnCAlertThreatReasons raises cnc alerts through a real alert manager and checks that the
// threat level is made of the C&C evidence (infected subscribers, score, the indicator with its
// source and confidence, newness, IoT clients), not of DDoS factors, and that it ranks a large,
// listed, fresh IoT botnet above a single beaconing host.
func TestCnCAlertThreatReasons(t *testing.T) {
	m := alert.New(alert.Config{}, nil, nil)
	r := &AlertReporter{Alerts: m, AlertScore: 50}
	first := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	big := Candidate{Address: ext(7), Port: 23, Proto: "tcp", Score: 88.9, Clients: 751,
		Parts:     map[string]float64{PartClients: 25, PartIoTClients: 10, PartPortRole: 10},
		FirstSeen: first, LastSeen: first.Add(40 * time.Minute), SampleClients: []netip.Addr{sub(1)},
		Intel: []intel.Match{{Source: "feodo", Confidence: 60}, {Source: "local", Confidence: 90}}}
	one := Candidate{Address: ext(8), Port: 1177, Proto: "tcp", Score: 55, Clients: 1,
		Parts:     map[string]float64{PartBeacon: 30, PartPortRole: 10},
		FirstSeen: first, LastSeen: first.Add(72 * time.Hour), SampleClients: []netip.Addr{sub(2)}}
	levels := map[string]int{}
	for _, c := range []Candidate{big, one} {
		r.CnC(c)
	}
	for _, a := range m.List(alert.Filter{}) {
		if a.Kind != "cnc" {
			continue
		}
		factors := map[string]alert.Reason{}
		for _, rs := range a.ThreatReasons {
			factors[rs.Factor] = rs
		}
		for _, ddos := range []string{"size", "usual", "vector", "duration", "spread"} {
			if _, ok := factors[ddos]; ok {
				t.Errorf("%s: DDoS factor %q in its threat reasons %+v", a.Key, ddos, a.ThreatReasons)
			}
		}
		for _, want := range []string{"infected", "score", "criticality"} {
			if _, ok := factors[want]; !ok {
				t.Errorf("%s: no %q reason in %+v", a.Key, want, a.ThreatReasons)
			}
		}
		levels[a.Key] = a.ThreatLevel
		if a.Key == "cnc:"+big.Endpoint() && !a.DetectedFlowAt.Equal(big.LastSeen) {
			t.Errorf("detected_flow_at %s, want the flow time of the contact that raised it, %s", a.DetectedFlowAt, big.LastSeen)
		}
		if a.Key == "cnc:"+big.Endpoint() {
			ind, ok := factors["indicator"]
			if !ok || !strings.Contains(ind.Detail, "local") || !strings.Contains(ind.Detail, "90") {
				t.Errorf("indicator reason %+v: want the most confident source named with its confidence", ind)
			}
			if factors["new"].Points != 10 || factors["iot"].Points != 10 || !strings.Contains(factors["infected"].Detail, "751") {
				t.Errorf("reasons %+v: want new 10, iot 10, 751 infected", a.ThreatReasons)
			}
		}
	}
	if len(levels) != 2 {
		t.Fatalf("%d cnc alerts, want 2", len(levels))
	}
	if levels["cnc:"+big.Endpoint()] <= levels["cnc:"+one.Endpoint()] {
		t.Errorf("threat levels %v: the listed 751-bot IoT botnet should rank above one beaconing host", levels)
	}
}
