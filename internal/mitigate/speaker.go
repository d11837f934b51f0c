package mitigate

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/server"

	"yocho/internal/config"
)

// bgpSpeaker is the embedded gobgp speaker. Routes go into its global RIB, from which gobgp sends
// them to every established peer, and again to a peer whose session comes back up.
type bgpSpeaker struct {
	cfg     Config
	metrics *metrics
	log     *slog.Logger

	mu     sync.Mutex
	srv    *server.BgpServer
	cancel context.CancelFunc
}

func newBGPSpeaker(cfg Config, m *metrics, log *slog.Logger) *bgpSpeaker {
	return &bgpSpeaker{cfg: cfg, metrics: m, log: log.With("component", "bgp")}
}

// Start starts the speaker and adds the peers; sessions come up in the background.
func (s *bgpSpeaker) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := server.NewBgpServer(server.LoggerOption(&gobgpLogger{log: s.log}))
	go srv.Serve()
	listen := int32(-1)
	if s.cfg.ListenPort > 0 {
		listen = int32(s.cfg.ListenPort)
	}
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: s.cfg.LocalASN, RouterId: s.cfg.RouterID.String(), ListenPort: listen,
	}}); err != nil {
		srv.Stop()
		return fmt.Errorf("starting: %w", err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	err := srv.WatchEvent(wctx, &api.WatchEventRequest{Peer: &api.WatchEventRequest_Peer{}}, func(r *api.WatchEventResponse) {
		p := r.GetPeer()
		if p == nil || p.Type != api.WatchEventResponse_PeerEvent_STATE || p.Peer == nil || p.Peer.State == nil {
			return
		}
		addr := p.Peer.State.NeighborAddress
		if addr == "" && p.Peer.Conf != nil {
			addr = p.Peer.Conf.NeighborAddress
		}
		up := p.Peer.State.SessionState == api.PeerState_ESTABLISHED
		v := 0.0
		if up {
			v = 1
		}
		s.metrics.peerUp.WithLabelValues(addr).Set(v)
		s.log.Info("bgp peer state", "peer", addr, "state", p.Peer.State.SessionState.String())
	})
	if err != nil {
		cancel()
		srv.Stop()
		return fmt.Errorf("watching peers: %w", err)
	}
	for _, p := range s.cfg.Peers {
		if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: s.peer(p)}); err != nil {
			cancel()
			srv.Stop()
			return fmt.Errorf("peer %s: %w", p.Address, err)
		}
		s.metrics.peerUp.WithLabelValues(p.Address.String()).Set(0)
	}
	s.srv, s.cancel = srv, cancel
	return nil
}

func (s *bgpSpeaker) peer(p Peer) *api.Peer {
	fams := p.Families
	if len(fams) == 0 {
		fams = config.BGPFamilies()
	}
	var afis []*api.AfiSafi
	for _, f := range fams {
		fam := map[string]*api.Family{
			"ipv4-unicast":  {Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST},
			"ipv6-unicast":  {Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST},
			"ipv4-flowspec": {Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_FLOW_SPEC_UNICAST},
			"ipv6-flowspec": {Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_FLOW_SPEC_UNICAST},
		}[f]
		if fam != nil {
			afis = append(afis, &api.AfiSafi{Config: &api.AfiSafiConfig{Family: fam, Enabled: true}})
		}
	}
	port := uint32(179)
	if p.Port > 0 {
		port = uint32(p.Port)
	}
	retry := uint64(max(1, s.cfg.ConnectRetry/time.Second))
	out := &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: p.Address.String(), PeerAsn: p.ASN, AuthPassword: p.Password},
		Transport: &api.Transport{RemotePort: port, PassiveMode: false},
		Timers: &api.Timers{Config: &api.TimersConfig{ConnectRetry: retry, IdleHoldTimeAfterReset: retry,
			HoldTime: 90, KeepaliveInterval: 30}},
		AfiSafis: afis,
	}
	if p.ASN != s.cfg.LocalASN {
		// Routers often peer with a mitigation box over several hops.
		out.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: 255}
	}
	return out
}

// Stop closes the sessions and the speaker.
func (s *bgpSpeaker) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return
	}
	s.cancel()
	s.srv.Stop()
	s.srv = nil
	for _, p := range s.cfg.Peers {
		s.metrics.peerUp.WithLabelValues(p.Address.String()).Set(0)
	}
}

// Announce adds the route to the global RIB: gobgp sends it to the peers.
func (s *bgpSpeaker) Announce(r Route) error {
	return s.apply(r, false)
}

// Withdraw removes the route from the global RIB: gobgp withdraws it from the peers.
func (s *bgpSpeaker) Withdraw(r Route) error {
	return s.apply(r, true)
}

func (s *bgpSpeaker) apply(r Route, withdraw bool) error {
	p, err := r.bgpPath(s.cfg.LocalASN)
	if err != nil {
		return err
	}
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return fmt.Errorf("the speaker is not running")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if withdraw {
		return srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: p.Family, Path: p})
	}
	_, err = srv.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: p})
	return err
}

// bgpPath builds the route's BGP path: an IPv4/IPv6 unicast prefix with the RTBH community and
// NO_EXPORT, or a FlowSpec NLRI with a traffic-rate action (rate 0 discards).
func (r Route) bgpPath(localASN uint32) (*api.Path, error) {
	addr, bits := r.Prefix.Addr(), uint8(r.Prefix.Bits())
	v4 := addr.Is4()
	attrs := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP)}
	var nlri bgp.AddrPrefixInterface
	switch r.Kind {
	case KindRTBH:
		if r.NextHop.Is4() != v4 || !r.NextHop.IsValid() || r.NextHop.IsLoopback() {
			return nil, fmt.Errorf("route %s: next hop %s does not fit (not loopback, same family)", r.Prefix, r.NextHop)
		}
		var comms []uint32
		for _, c := range r.Communities {
			if c == "no-export" {
				comms = append(comms, uint32(bgp.COMMUNITY_NO_EXPORT))
				continue
			}
			v, err := config.ParseCommunity(c)
			if err != nil {
				return nil, fmt.Errorf("route %s: %w", r.Prefix, err)
			}
			comms = append(comms, v)
		}
		if v4 {
			nlri = bgp.NewIPAddrPrefix(bits, addr.String())
			attrs = append(attrs, bgp.NewPathAttributeNextHop(r.NextHop.String()))
		} else {
			nlri = bgp.NewIPv6AddrPrefix(bits, addr.String())
			attrs = append(attrs, bgp.NewPathAttributeMpReachNLRI(r.NextHop.String(), []bgp.AddrPrefixInterface{nlri}))
		}
		attrs = append(attrs, bgp.NewPathAttributeCommunities(comms))
	case KindFlowSpec:
		var comps []bgp.FlowSpecComponentInterface
		eq := func(typ bgp.BGPFlowSpecType, v uint64) *bgp.FlowSpecComponent {
			return bgp.NewFlowSpecComponent(typ, []*bgp.FlowSpecComponentItem{
				bgp.NewFlowSpecComponentItem(uint8(bgp.DEC_NUM_OP_EQ|bgp.DEC_NUM_OP_END), v)})
		}
		if v4 {
			comps = append(comps, bgp.NewFlowSpecDestinationPrefix(bgp.NewIPAddrPrefix(bits, addr.String())))
		} else {
			comps = append(comps, bgp.NewFlowSpecDestinationPrefix6(bgp.NewIPv6AddrPrefix(bits, addr.String()), 0))
		}
		if r.Protocol != 0 {
			comps = append(comps, eq(bgp.FLOW_SPEC_TYPE_IP_PROTO, uint64(r.Protocol)))
		}
		if r.SourcePort != 0 {
			comps = append(comps, eq(bgp.FLOW_SPEC_TYPE_SRC_PORT, uint64(r.SourcePort)))
		}
		if r.TCPFlags == TCPFlagsSYN { // SYN set, and ACK clear
			comps = append(comps, bgp.NewFlowSpecComponent(bgp.FLOW_SPEC_TYPE_TCP_FLAG, []*bgp.FlowSpecComponentItem{
				bgp.NewFlowSpecComponentItem(uint8(bgp.BITMASK_FLAG_OP_MATCH), uint64(bgp.TCP_FLAG_SYN)),
				bgp.NewFlowSpecComponentItem(uint8(bgp.BITMASK_FLAG_OP_AND|bgp.BITMASK_FLAG_OP_NOT|bgp.BITMASK_FLAG_OP_END), uint64(bgp.TCP_FLAG_ACK)),
			}))
		}
		if r.Fragment {
			comps = append(comps, bgp.NewFlowSpecComponent(bgp.FLOW_SPEC_TYPE_FRAGMENT, []*bgp.FlowSpecComponentItem{
				bgp.NewFlowSpecComponentItem(uint8(bgp.BITMASK_FLAG_OP_MATCH|bgp.BITMASK_FLAG_OP_END), uint64(bgp.FRAG_FLAG_IS))}))
		}
		nh := "0.0.0.0"
		if v4 {
			nlri = bgp.NewFlowSpecIPv4Unicast(comps)
		} else {
			nlri, nh = bgp.NewFlowSpecIPv6Unicast(comps), "::"
		}
		rate := float32(0)
		if r.Action == ActionRateLimit {
			rate = float32(r.RateLimit)
		}
		as := uint16(0)
		if localASN <= 0xffff {
			as = uint16(localASN)
		}
		attrs = append(attrs, bgp.NewPathAttributeMpReachNLRI(nh, []bgp.AddrPrefixInterface{nlri}),
			bgp.NewPathAttributeExtendedCommunities([]bgp.ExtendedCommunityInterface{bgp.NewTrafficRateExtended(as, rate)}))
	default:
		return nil, fmt.Errorf("route kind %q", r.Kind)
	}
	return apiutil.NewPath(nlri, false, attrs, time.Now())
}

// gobgpLogger hands gobgp's logs to slog: its chatter at debug level, its errors as errors
// (never exiting the process).
type gobgpLogger struct{ log *slog.Logger }

func (l *gobgpLogger) attrs(f gobgplog.Fields) []any {
	out := make([]any, 0, 2*len(f))
	for k, v := range f {
		out = append(out, k, v)
	}
	return out
}

func (l *gobgpLogger) Panic(msg string, f gobgplog.Fields) { l.log.Error(msg, l.attrs(f)...) }
func (l *gobgpLogger) Fatal(msg string, f gobgplog.Fields) { l.log.Error(msg, l.attrs(f)...) }
func (l *gobgpLogger) Error(msg string, f gobgplog.Fields) { l.log.Error(msg, l.attrs(f)...) }
func (l *gobgpLogger) Warn(msg string, f gobgplog.Fields)  { l.log.Warn(msg, l.attrs(f)...) }
func (l *gobgpLogger) Info(msg string, f gobgplog.Fields)  { l.log.Debug(msg, l.attrs(f)...) }
func (l *gobgpLogger) Debug(msg string, f gobgplog.Fields) { l.log.Debug(msg, l.attrs(f)...) }
func (l *gobgpLogger) SetLevel(gobgplog.LogLevel)          {}
func (l *gobgpLogger) GetLevel() gobgplog.LogLevel {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		return gobgplog.DebugLevel
	}
	return gobgplog.InfoLevel
}
