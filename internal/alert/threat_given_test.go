package alert

import "testing"

func TestThreatLevelGivenReasons(t *testing.T) {
	given := []Reason{{Factor: "infected", Points: 22, Detail: "120 infected subscribers"}, {Factor: "score", Points: 25, Detail: "C&C score 84"}}
	level, reasons := ThreatLevel(ThreatInput{Given: given, Vector: "cnc", OverThreshold: 50, Criticality: "high"})
	if level != 22+25+15 {
		t.Errorf("level %d, want the given points plus criticality (62)", level)
	}
	for _, r := range reasons {
		if r.Factor == "size" || r.Factor == "vector" || r.Factor == "duration" {
			t.Errorf("DDoS factor %q in a level made of given reasons: %+v", r.Factor, reasons)
		}
	}
	if len(reasons) != 3 || reasons[2].Factor != "criticality" {
		t.Errorf("reasons %+v: want the given two then criticality", reasons)
	}
	if l, _ := ThreatLevel(ThreatInput{Given: []Reason{{Factor: "x", Points: 90}}, Criticality: "high"}); l != 100 {
		t.Errorf("level %d, want capped at 100", l)
	}
}
