package alert

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// ThreatInput is what the threat level of an attack is made of.
type ThreatInput struct {
	// OverThreshold is the attack's peak divided by the threshold it crossed (≥ 1).
	OverThreshold float64
	// OverUsual is the attack's peak divided by the victim's usual traffic at this hour; 0 when the
	// usual traffic is not known.
	OverUsual float64
	Vector    string
	Duration  time.Duration
	// Criticality of the victim's network: low, medium or high.
	Criticality string
	// Hosts is how many of our hosts the attack reaches (more than one for carpet bombing).
	Hosts int
	// Given are reasons a detector computed itself (a C&C server's: infected subscribers,
	// score, indicators...). When set, they replace the DDoS factors above; see givenLevel.
	Given []Reason
}

// ThreatLevel scores an attack from 0 to 100 and says why: size against the threshold (up to 35
// points) and against the victim's usual traffic (up to 15), the vector (up to 15), the duration
// (up to 15), the criticality of the victim's network (up to 15) and its spread over many hosts
// (up to 5).
func ThreatLevel(in ThreatInput) (int, []Reason) {
	if len(in.Given) > 0 {
		return givenLevel(in)
	}
	var reasons []Reason
	add := func(factor string, points int, format string, args ...any) {
		reasons = append(reasons, Reason{Factor: factor, Points: points, Detail: fmt.Sprintf(format, args...)})
	}
	over := math.Max(in.OverThreshold, 1)
	// 10 points at the threshold, +8.3 per doubling, 35 from 8x on.
	add("size", clamp(int(math.Round(10+25*math.Log2(over)/3)), 10, 35), "%.1fx the threshold", over)
	if in.OverUsual > 0 {
		p := clamp(int(math.Round(15*math.Log2(math.Max(in.OverUsual, 1))/5)), 0, 15)
		add("usual", p, "%.1fx the victim's usual traffic at this hour", in.OverUsual)
	}
	var vp int
	switch {
	case strings.HasSuffix(in.Vector, "-amplification"):
		vp = 15
	case in.Vector == VectorSYNFlood || in.Vector == VectorFragmentFlood:
		vp = 12
	case in.Vector == VectorUDPFlood || in.Vector == VectorTCPFlood:
		vp = 10
	case in.Vector == VectorICMPFlood:
		vp = 6
	default:
		vp = 5
	}
	add("vector", vp, "%s", in.Vector)
	var dp int
	switch d := in.Duration; {
	case d >= 30*time.Minute:
		dp = 15
	case d >= 10*time.Minute:
		dp = 12
	case d >= 5*time.Minute:
		dp = 9
	case d >= time.Minute:
		dp = 5
	default:
		dp = 2
	}
	add("duration", dp, "lasting %s", in.Duration.Truncate(time.Second))
	cp := map[string]int{"low": 0, "medium": 7, "high": 15}[in.Criticality]
	add("criticality", cp, "%s criticality network", orDefault(in.Criticality, "medium"))
	if in.Hosts > 1 {
		add("spread", clamp(int(math.Round(math.Log2(float64(in.Hosts)))), 1, 5), "%d hosts attacked", in.Hosts)
	}
	total := 0
	for _, r := range reasons {
		total += r.Points
	}
	return clamp(total, 0, 100), reasons
}

func clamp(v, lo, hi int) int { return min(max(v, lo), hi) }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
