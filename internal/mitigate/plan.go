package mitigate

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"yocho/internal/alert"
)

// ErrRefused is what every refusal wraps: the mitigation does not apply (mode, direction, prefix
// outside our networks, route cap, alert ended...). The API answers 409 Conflict for it.
var ErrRefused = errors.New("mitigation refused")

// refusal is a reason not to announce, kept on the alert's record.
type refusal struct {
	code   string // a metric label: direction, threat_level, outside_networks, route_cap...
	reason string
}

func (r *refusal) Error() string { return r.reason }
func (r *refusal) Unwrap() error { return ErrRefused }

func refuse(code, format string, args ...any) *refusal {
	return &refusal{code: code, reason: fmt.Sprintf(format, args...)}
}

// planner turns an alert into the routes that mitigate it, applying the rules that do not depend
// on what is announced already.
type planner struct {
	cfg  Config
	ours []netip.Prefix
}

// plan lists the routes for an alert, FlowSpec rules first (filter the attack, keep the victim
// reachable), then RTBH. byOperator skips the threat-level rule: an operator's confirmation
// overrides it, never the prefix rules.
func (p *planner) plan(a alert.Alert, byOperator bool) ([]Route, *refusal) {
	if a.Kind != alert.KindDDoS {
		return nil, refuse("kind", "alert kind %q is not mitigated", a.Kind)
	}
	if a.Direction != alert.Incoming {
		return nil, refuse("direction", "%s attack: its victims are not our hosts", a.Direction)
	}
	if !byOperator && a.ThreatLevel < p.cfg.MinThreatLevel {
		return nil, refuse("threat_level", "threat level %d is below min_threat_level %d", a.ThreatLevel, p.cfg.MinThreatLevel)
	}
	var targets []netip.Prefix
	if a.Prefix.IsValid() { // carpet bombing: the attacked prefix
		targets = append(targets, a.Prefix.Masked())
	} else {
		for _, v := range a.Victims {
			v = v.Unmap()
			if v.IsValid() {
				targets = append(targets, netip.PrefixFrom(v, v.BitLen()))
			}
		}
	}
	if len(targets) == 0 {
		return nil, refuse("no_victim", "the alert names no victim")
	}
	var kept []netip.Prefix
	for _, t := range targets {
		if err := p.checkPrefix(t); err == nil && !slices.Contains(kept, t) {
			kept = append(kept, t)
		}
	}
	if len(kept) == 0 {
		return nil, refuse("outside_networks", "%s is outside our networks", targets[0])
	}
	var routes []Route
	var why *refusal
	if p.cfg.Method == MethodFlowSpec || p.cfg.Method == MethodBoth {
		m, ok := vectorMatch[a.Vector]
		if !ok {
			why = refuse("no_rule", "vector %q has no FlowSpec rule", a.Vector)
		} else {
			for _, t := range kept {
				r := m
				r.Kind, r.Prefix, r.Action = KindFlowSpec, t, p.cfg.FlowSpecAction
				if r.Action == ActionRateLimit {
					r.RateLimit = p.cfg.RateLimit
				}
				if !p.cfg.MatchSourcePort {
					r.SourcePort = 0
				}
				if r.Protocol == 1 && t.Addr().Is6() {
					r.Protocol = 58
				}
				routes = append(routes, r)
			}
		}
	}
	if p.cfg.Method == MethodRTBH || p.cfg.Method == MethodBoth {
		for _, t := range kept {
			nh := p.cfg.NextHop
			if t.Addr().Is6() {
				nh = p.cfg.NextHopV6
			}
			routes = append(routes, Route{Kind: KindRTBH, Prefix: t, NextHop: nh,
				Communities: []string{p.cfg.RTBHCommunity, "no-export"}})
		}
	}
	if len(routes) == 0 {
		return nil, why
	}
	return routes, nil
}

// checkPrefix is the rule every route obeys, checked again right before each announcement: a
// valid prefix, never a default route, inside one of our networks.
func (p *planner) checkPrefix(t netip.Prefix) *refusal {
	if !t.IsValid() {
		return refuse("outside_networks", "invalid prefix")
	}
	if t.Bits() == 0 {
		return refuse("outside_networks", "%s is a default route", t)
	}
	if t.Masked() != t {
		return refuse("outside_networks", "%s has host bits set", t)
	}
	for _, n := range p.ours {
		if n.Addr().Is4() == t.Addr().Is4() && n.Bits() <= t.Bits() && n.Contains(t.Addr()) {
			return nil
		}
	}
	return refuse("outside_networks", "%s is outside our networks", t)
}
