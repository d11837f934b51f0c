package alert

import "slices"

// givenLevel is the threat level of an alert whose detector gave its own reasons (a cnc alert:
// infected subscribers, score, indicator, newness, IoT clients): their points plus the
// criticality of the network, capped at 0..100. No DDoS factor (size, vector...) is added: they
// would not say why a C&C server matters.
func givenLevel(in ThreatInput) (int, []Reason) {
	reasons := slices.Clone(in.Given)
	cp := map[string]int{"low": 0, "medium": 7, "high": 15}[in.Criticality]
	reasons = append(reasons, Reason{Factor: "criticality", Points: cp,
		Detail: orDefault(in.Criticality, "medium") + " criticality network"})
	total := 0
	for _, r := range reasons {
		total += r.Points
	}
	return clamp(total, 0, 100), reasons
}
