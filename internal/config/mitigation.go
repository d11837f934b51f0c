package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Mitigation is the embedded BGP speaker that announces RTBH and FlowSpec routes for attacked
// hosts of our networks, and withdraws them a hold time after the attack ends.
type Mitigation struct {
	// Mode is off (nothing announced), dry-run (logged, never announced), confirm (announced once
	// an operator confirms through the API) or auto.
	Mode     string    `yaml:"mode"`
	LocalASN uint32    `yaml:"local_asn"`
	RouterID Addr      `yaml:"router_id"`
	Peers    []BGPPeer `yaml:"peers"`
	// ListenPort is the port the speaker listens on for peers' connections; 0 only connects out.
	ListenPort int `yaml:"listen_port"`
	// Method is flowspec (filter the vector), rtbh (blackhole the victim) or flowspec+rtbh.
	Method string `yaml:"method"`
	// RTBHCommunity is the community of blackhole routes ("65535:666" by default); NO_EXPORT is
	// always added.
	RTBHCommunity string `yaml:"rtbh_community"`
	// NextHop and NextHopV6 are the next hops of RTBH routes (a TEST-NET address by default: some
	// speakers refuse loopback next hops).
	NextHop   Addr `yaml:"next_hop"`
	NextHopV6 Addr `yaml:"next_hop_v6"`
	// HoldTime is how long a route stays after its attack ends.
	HoldTime Duration `yaml:"hold_time"`
	// MaxRoutes caps the routes announced at once.
	MaxRoutes int `yaml:"max_routes"`
	// MinThreatLevel is the least threat level an alert needs to be mitigated.
	MinThreatLevel int      `yaml:"min_threat_level"`
	FlowSpec       FlowSpec `yaml:"flowspec"`
}

// BGPPeer is a router the speaker peers with.
type BGPPeer struct {
	Address  Addr   `yaml:"address"`
	ASN      uint32 `yaml:"asn"`
	Port     int    `yaml:"port"` // default 179
	Password string `yaml:"password"`
	// Families are the address families sent: ipv4-unicast, ipv6-unicast, ipv4-flowspec,
	// ipv6-flowspec; empty means all four.
	Families []string `yaml:"families"`
}

// FlowSpec says what FlowSpec rules do with the attack's traffic.
type FlowSpec struct {
	// Action is discard or rate-limit.
	Action string `yaml:"action"`
	// RateLimit is the rate (bytes per second as FlowSpec counts it) for rate-limit.
	RateLimit Rate `yaml:"rate_limit"`
	// MatchSourcePort adds the vector's source port (53 for DNS amplification...) to the rule.
	MatchSourcePort bool `yaml:"match_source_port"`
}

// DefaultMitigation announces nothing.
func DefaultMitigation() Mitigation {
	return Mitigation{
		Mode:          "off",
		Method:        "flowspec+rtbh",
		RTBHCommunity: "65535:666",
		HoldTime:      Duration(10 * time.Minute),
		MaxRoutes:     1000,
		FlowSpec:      FlowSpec{Action: "discard", MatchSourcePort: true},
	}
}

// BGPFamilies are the address families a peer can be sent.
func BGPFamilies() []string {
	return []string{"ipv4-unicast", "ipv6-unicast", "ipv4-flowspec", "ipv6-flowspec"}
}

// ParseCommunity reads a standard community "A:B" (each part 0-65535) into its 32-bit value.
func ParseCommunity(s string) (uint32, error) {
	a, b, ok := strings.Cut(s, ":")
	hi, err1 := strconv.ParseUint(a, 10, 16)
	lo, err2 := strconv.ParseUint(b, 10, 16)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad community %q (want A:B, each 0-65535)", s)
	}
	return uint32(hi)<<16 | uint32(lo), nil
}

func (m *Mitigation) validate() error {
	if indexOf([]string{"off", "dry-run", "confirm", "auto"}, m.Mode) < 0 {
		return fmt.Errorf("mitigation.mode: %q, want off, dry-run, confirm or auto", m.Mode)
	}
	if indexOf([]string{"flowspec", "rtbh", "flowspec+rtbh"}, m.Method) < 0 {
		return fmt.Errorf("mitigation.method: %q, want flowspec, rtbh or flowspec+rtbh", m.Method)
	}
	if _, err := ParseCommunity(m.RTBHCommunity); err != nil {
		return fmt.Errorf("mitigation.rtbh_community: %v", err)
	}
	if m.MaxRoutes < 1 {
		return fmt.Errorf("mitigation.max_routes: %d, want at least 1", m.MaxRoutes)
	}
	if m.MinThreatLevel < 0 || m.MinThreatLevel > 100 {
		return fmt.Errorf("mitigation.min_threat_level: %d, want 0 to 100", m.MinThreatLevel)
	}
	if m.ListenPort < 0 || m.ListenPort > 65535 {
		return fmt.Errorf("mitigation.listen_port: %d, want 0 to 65535", m.ListenPort)
	}
	if m.NextHop.IsValid() && !m.NextHop.Is4() {
		return fmt.Errorf("mitigation.next_hop: %s is not IPv4", m.NextHop)
	}
	if m.NextHopV6.IsValid() && !m.NextHopV6.Is6() {
		return fmt.Errorf("mitigation.next_hop_v6: %s is not IPv6", m.NextHopV6)
	}
	if indexOf([]string{"discard", "rate-limit"}, m.FlowSpec.Action) < 0 {
		return fmt.Errorf("mitigation.flowspec.action: %q, want discard or rate-limit", m.FlowSpec.Action)
	}
	if m.FlowSpec.Action == "rate-limit" && m.FlowSpec.RateLimit <= 0 {
		return fmt.Errorf("mitigation.flowspec.rate_limit: needed with action rate-limit")
	}
	if m.Mode == "off" {
		return nil
	}
	if m.LocalASN == 0 {
		return fmt.Errorf("mitigation.local_asn: needed when mode is %s", m.Mode)
	}
	if !m.RouterID.IsValid() || !m.RouterID.Is4() {
		return fmt.Errorf("mitigation.router_id: an IPv4 address is needed when mode is %s", m.Mode)
	}
	if len(m.Peers) == 0 {
		return fmt.Errorf("mitigation.peers: at least one peer is needed when mode is %s", m.Mode)
	}
	for i, p := range m.Peers {
		key := fmt.Sprintf("mitigation.peers[%d]", i)
		if !p.Address.IsValid() {
			return fmt.Errorf("%s.address: missing", key)
		}
		if p.ASN == 0 {
			return fmt.Errorf("%s.asn: missing", key)
		}
		if p.Port < 0 || p.Port > 65535 {
			return fmt.Errorf("%s.port: %d, want 1 to 65535", key, p.Port)
		}
		for _, f := range p.Families {
			if indexOf(BGPFamilies(), f) < 0 {
				return fmt.Errorf("%s.families: %q, want one of %s", key, f, strings.Join(BGPFamilies(), ", "))
			}
		}
	}
	return nil
}
