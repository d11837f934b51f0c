package cnc

import (
	"fmt"
	"math"
	"net/netip"
	"time"

	"yocho/internal/alert"
)

// Raiser is what AlertReporter reports to (an *alert.Manager).
type Raiser interface {
	Raise(r alert.Report) string
}

// AlertReporter turns candidates into alerts of kind cnc: one alert per endpoint (its key is
// "cnc:" and the endpoint), the infected subscribers as its victims, and each non-zero part of
// the score as a crossing (kind: the part, metric "points", value: its points, threshold: the
// most it can give), after a first crossing that is the score against the alert score. Its flow
// time is the candidate's last contact: the engine scores on flow time.
type AlertReporter struct {
	Alerts     Raiser
	Subs       Subscribers
	AlertScore float64
}

// CnC implements Alerter.
func (r *AlertReporter) CnC(c Candidate) {
	rep := alert.Report{
		Kind:            "cnc",
		Key:             "cnc:" + c.Endpoint(),
		Direction:       alert.Outgoing,
		Victims:         c.SampleClients,
		Vector:          "cnc",
		DistinctSources: uint64(c.Clients),
		AttackStartedAt: c.FirstSeen,
		FlowTime:        c.LastSeen, // the contact whose scoring raised it
		DestPorts:       []alert.Top{{Value: netip.AddrPortFrom(c.Address, c.Port).String() + "/" + c.Proto, Share: 1}},
		Crossed:         []alert.Crossing{{Kind: "cnc", Metric: "score", Value: c.Score, Threshold: r.AlertScore}},
		Threat:          alert.ThreatInput{Hosts: c.Clients, Given: ThreatReasons(c)},
	}
	if p, ok := ParseProto(c.Proto); ok {
		rep.Protocol = p
	}
	for _, name := range partOrder {
		if pts, ok := c.Parts[name]; ok {
			rep.Crossed = append(rep.Crossed, alert.Crossing{Kind: name, Metric: "points", Value: pts, Threshold: partMax[name]})
		}
	}
	if r.Subs != nil && len(c.SampleClients) > 0 {
		rep.Customer, _ = r.Subs.Subscriber(c.SampleClients[0])
	}
	for _, a := range c.SampleClients {
		rep.TopSources = append(rep.TopSources, alert.Top{Value: a.String()})
	}
	r.Alerts.Raise(rep)
}

// partOrder lists the parts in the order alerts show them.
var partOrder = []string{PartBeacon, PartClients, PartSimilarity, PartNoAnswer, PartRegularity, PartRarity,
	PartIoTClients, PartPortRole, PartIntel, PartGrowth, PartFlatProfile, PartNewness}

// ThreatReasons are the threat level's reasons for a C&C candidate, from the parts of its
// score: how many subscribers are infected (up to 30 points), the score itself (up to 30), an
// indicator feed listing it, with its source and confidence (up to 20), how new it is (up to
// 10: a server first seen within the hour is a fresh outbreak) and IoT-looking clients (up to
// 10). The alert manager adds the criticality of the network.
func ThreatReasons(c Candidate) []alert.Reason {
	var rs []alert.Reason
	add := func(factor string, points int, format string, args ...any) {
		rs = append(rs, alert.Reason{Factor: factor, Points: points, Detail: fmt.Sprintf(format, args...)})
	}
	// 5 points for one infected subscriber, 30 from a thousand on.
	n := max(c.Clients, 1)
	add("infected", min(30, int(math.Round(5+25*math.Log10(float64(n))/3))), "%d infected subscriber%s", n, plural(n))
	add("score", int(math.Round(30*math.Min(c.Score, 100)/100)), "C&C score %.1f of 100", c.Score)
	if len(c.Intel) > 0 {
		best := c.Intel[0]
		for _, m := range c.Intel[1:] {
			if m.Confidence > best.Confidence {
				best = m
			}
		}
		add("indicator", int(math.Round(20*float64(best.Confidence)/100)), "listed by %s (confidence %d)", best.Source, best.Confidence)
	}
	switch age := c.LastSeen.Sub(c.FirstSeen); {
	case age < time.Hour:
		add("new", 10, "first seen %s before its last contact", age.Round(time.Second))
	case age < 24*time.Hour:
		add("new", 6, "first seen %s before its last contact", age.Round(time.Minute))
	case age < 7*24*time.Hour:
		add("new", 3, "first seen %s before its last contact", age.Round(time.Hour))
	}
	if p := c.Parts[PartIoTClients]; p > 0 {
		add("iot", int(math.Round(10*p/partMax[PartIoTClients])), "its clients look like IoT devices (they answer or scan telnet)")
	}
	return rs
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
