package cnc

import (
	"net/netip"

	"yocho/internal/alert"
)

// Raiser is what AlertReporter reports to (an *alert.Manager).
type Raiser interface {
	Raise(r alert.Report) string
}

// AlertReporter turns candidates into alerts of kind cnc: one alert per endpoint (its key is
// "cnc:" and the endpoint), the infected subscribers as its victims, and each non-zero part of
// the score as a crossing (kind: the part, metric "points", value: its points, threshold: the
// most it can give), after a first crossing that is the score against the alert score.
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
		DestPorts:       []alert.Top{{Value: netip.AddrPortFrom(c.Address, c.Port).String() + "/" + c.Proto, Share: 1}},
		Crossed:         []alert.Crossing{{Kind: "cnc", Metric: "score", Value: c.Score, Threshold: r.AlertScore}},
		Threat:          alert.ThreatInput{OverThreshold: c.Score / max(r.AlertScore, 1), Hosts: c.Clients},
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
