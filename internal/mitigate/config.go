package mitigate

import (
	"net/netip"
	"path/filepath"
	"time"

	"yocho/internal/config"
)

// Modes.
const (
	ModeOff     = "off"     // nothing is announced or recorded
	ModeDryRun  = "dry-run" // what would be announced is logged and recorded on the alert
	ModeConfirm = "confirm" // announced once an operator confirms through the API
	ModeAuto    = "auto"    // announced as soon as an alert qualifies
)

// Methods.
const (
	MethodFlowSpec = "flowspec"
	MethodRTBH     = "rtbh"
	MethodBoth     = "flowspec+rtbh"
)

// Config is the mitigation engine's configuration (config.Mitigation, resolved).
type Config struct {
	Mode       string
	LocalASN   uint32
	RouterID   netip.Addr
	Peers      []Peer
	ListenPort int // 0: the speaker only connects out
	Method     string
	// RTBHCommunity is added, with NO_EXPORT, to blackhole routes ("65535:666").
	RTBHCommunity string
	// NextHop and NextHopV6 are the next hops of blackhole routes: 192.0.2.1 (TEST-NET-1) and
	// 100::1 (the discard-only prefix) by default; never loopback, which peers refuse.
	NextHop, NextHopV6 netip.Addr
	HoldTime           time.Duration
	MaxRoutes          int
	MinThreatLevel     int
	FlowSpecAction     string  // discard or rate-limit
	RateLimit          float64 // bytes per second, for rate-limit
	MatchSourcePort    bool
	// StateFile keeps the active mitigations across restarts; empty keeps them in memory only.
	StateFile string
	// ConnectRetry is how long the speaker waits before reconnecting to a peer.
	ConnectRetry time.Duration
	// Tick is how often due withdrawals run; Reconcile how often active mitigations are checked
	// against their alerts (an ended event lost from a full queue must not leave a route up).
	Tick, Reconcile time.Duration
}

// Peer is a router the speaker peers with.
type Peer struct {
	Address  netip.Addr
	ASN      uint32
	Port     int // 179 when 0
	Password string
	// Families: ipv4-unicast, ipv6-unicast, ipv4-flowspec, ipv6-flowspec; empty means all four.
	Families []string
}

// DefaultConfig announces nothing.
func DefaultConfig() Config {
	return ConfigFrom(config.DefaultMitigation(), "")
}

// ConfigFrom resolves the configuration file's mitigation section; the state file goes under
// storagePath (none when it is empty).
func ConfigFrom(c config.Mitigation, storagePath string) Config {
	out := Config{
		Mode: c.Mode, LocalASN: c.LocalASN, RouterID: c.RouterID.Addr, ListenPort: c.ListenPort,
		Method: c.Method, RTBHCommunity: c.RTBHCommunity,
		NextHop: c.NextHop.Addr, NextHopV6: c.NextHopV6.Addr,
		HoldTime: c.HoldTime.D(), MaxRoutes: c.MaxRoutes, MinThreatLevel: c.MinThreatLevel,
		FlowSpecAction: c.FlowSpec.Action, RateLimit: float64(c.FlowSpec.RateLimit),
		MatchSourcePort: c.FlowSpec.MatchSourcePort,
	}
	for _, p := range c.Peers {
		out.Peers = append(out.Peers, Peer{Address: p.Address.Addr, ASN: p.ASN, Port: p.Port,
			Password: p.Password, Families: p.Families})
	}
	if storagePath != "" {
		out.StateFile = filepath.Join(storagePath, "mitigation", "active.json")
	}
	return out.withDefaults()
}

func (c Config) withDefaults() Config {
	if c.Mode == "" {
		c.Mode = ModeOff
	}
	if c.Method == "" {
		c.Method = MethodBoth
	}
	if c.RTBHCommunity == "" {
		c.RTBHCommunity = "65535:666"
	}
	if !c.NextHop.IsValid() {
		c.NextHop = netip.MustParseAddr("192.0.2.1")
	}
	if !c.NextHopV6.IsValid() {
		c.NextHopV6 = netip.MustParseAddr("100::1")
	}
	if c.HoldTime <= 0 {
		c.HoldTime = 10 * time.Minute
	}
	if c.MaxRoutes <= 0 {
		c.MaxRoutes = 1000
	}
	if c.FlowSpecAction == "" {
		c.FlowSpecAction = ActionDiscard
	}
	if c.ConnectRetry <= 0 {
		c.ConnectRetry = 5 * time.Second
	}
	if c.Tick <= 0 {
		c.Tick = time.Second
	}
	if c.Reconcile <= 0 {
		c.Reconcile = 10 * time.Second
	}
	return c
}

// announces says whether the mode sends routes to the peers.
func (c Config) announces() bool { return c.Mode == ModeAuto || c.Mode == ModeConfirm }
