package mitigate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"yocho/internal/alert"
)

// fakeSpeaker keeps what would be in the BGP RIB.
type fakeSpeaker struct {
	mu      sync.Mutex
	rib     map[string]Route
	started bool
}

func newFakeSpeaker() *fakeSpeaker { return &fakeSpeaker{rib: map[string]Route{}} }

func (s *fakeSpeaker) Start(context.Context) error {
	s.mu.Lock()
	s.started = true
	s.mu.Unlock()
	return nil
}
func (s *fakeSpeaker) Stop() {
	s.mu.Lock()
	s.started = false
	s.rib = map[string]Route{}
	s.mu.Unlock()
}
func (s *fakeSpeaker) Announce(r Route) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		return errors.New("not started")
	}
	s.rib[r.Key()] = r
	return nil
}
func (s *fakeSpeaker) Withdraw(r Route) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.rib, r.Key())
	return nil
}

// routes lists the RIB as route strings, sorted.
func (s *fakeSpeaker) routes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.rib {
		out = append(out, r.String())
	}
	slices.Sort(out)
	return out
}

// fakeAlerts is the alert manager as the engine sees it.
type fakeAlerts struct {
	mu     sync.Mutex
	alerts map[string]alert.Alert
}

func (f *fakeAlerts) Get(id string) (alert.Alert, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.alerts[id]
	if !ok {
		return alert.Alert{}, fmt.Errorf("alert %s: %w", id, alert.ErrNotFound)
	}
	return a, nil
}

func (f *fakeAlerts) SetMitigation(id string, state any) error {
	b, err := json.Marshal(state)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.alerts[id]
	if !ok {
		return fmt.Errorf("alert %s: %w", id, alert.ErrNotFound)
	}
	a.Mitigation = b
	f.alerts[id] = a
	return nil
}

func (f *fakeAlerts) put(a alert.Alert) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if old, ok := f.alerts[a.ID]; ok {
		a.Mitigation = old.Mitigation
	}
	f.alerts[a.ID] = a
}

// record reads the mitigation record the engine wrote on an alert.
func (f *fakeAlerts) record(t *testing.T, id string) Record {
	t.Helper()
	a, err := f.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	var r Record
	if a.Mitigation == nil {
		return r
	}
	if err := json.Unmarshal(a.Mitigation, &r); err != nil {
		t.Fatalf("alert %s: mitigation record: %v", id, err)
	}
	return r
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// harness is an engine on fakes, with a clock the test moves.
type harness struct {
	t       *testing.T
	m       *Mitigator
	speaker *fakeSpeaker
	alerts  *fakeAlerts
	clock   *clock
	reg     *prometheus.Registry
	cfg     Config
}

var ours = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8:1::/48")}

func testConfig(mode string) Config {
	return Config{Mode: mode, LocalASN: 65001, RouterID: netip.MustParseAddr("192.0.2.1"),
		Method: MethodBoth, HoldTime: time.Minute, MaxRoutes: 100, MatchSourcePort: true,
		Tick: time.Hour, Reconcile: time.Hour} // the test runs the ticks
}

func newHarness(t *testing.T, cfg Config, alerts *fakeAlerts, speaker *fakeSpeaker) *harness {
	t.Helper()
	if alerts == nil {
		alerts = &fakeAlerts{alerts: map[string]alert.Alert{}}
	}
	if speaker == nil {
		speaker = newFakeSpeaker()
	}
	h := &harness{t: t, speaker: speaker, alerts: alerts, clock: &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
		reg: prometheus.NewRegistry(), cfg: cfg}
	h.m = New(cfg, Deps{Alerts: alerts, Networks: ours, Speaker: speaker, Registerer: h.reg,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: h.clock.now})
	if err := h.m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.m.Stop)
	return h
}

// attack raises (or updates) an ongoing alert and hands the event to the engine.
func (h *harness) attack(id, victim, vector string, threat int) alert.Alert {
	a := alert.Alert{ID: id, Kind: alert.KindDDoS, Direction: alert.Incoming, State: alert.Ongoing,
		ThreatLevel: threat, Vector: vector, StartedAt: h.clock.now()}
	if p, err := netip.ParsePrefix(victim); err == nil {
		a.Prefix = p
	} else {
		a.Victims = []netip.Addr{netip.MustParseAddr(victim)}
	}
	typ := alert.EventUpdated
	if _, err := h.alerts.Get(id); err != nil {
		typ = alert.EventStarted
	}
	h.alerts.put(a)
	a, _ = h.alerts.Get(id)
	h.m.Handle(alert.Event{Type: typ, Alert: a})
	return a
}

func (h *harness) end(id string) {
	a, err := h.alerts.Get(id)
	if err != nil {
		h.t.Fatal(err)
	}
	at := h.clock.now()
	a.State, a.EndedAt = alert.Ended, &at
	h.alerts.put(a)
	a, _ = h.alerts.Get(id)
	h.m.Handle(alert.Event{Type: alert.EventEnded, Alert: a})
}

func (h *harness) tick() {
	h.m.mu.Lock()
	h.m.reconcileLocked()
	h.m.withdrawDueLocked()
	h.m.mu.Unlock()
}

func TestPlanPerVector(t *testing.T) {
	p := planner{cfg: testConfig(ModeAuto).withDefaults(), ours: ours}
	for _, tc := range []struct {
		victim, vector string
		want           []string
	}{
		{"198.51.100.7", alert.VectorDNSAmp, []string{
			"flowspec destination 198.51.100.7/32 protocol udp source-port 53 then discard",
			"rtbh 198.51.100.7/32 next-hop 192.0.2.1 community 65535:666 no-export"}},
		{"198.51.100.7", alert.VectorNTPAmp, []string{"flowspec destination 198.51.100.7/32 protocol udp source-port 123 then discard"}},
		{"198.51.100.7", alert.VectorMemcachedAmp, []string{"flowspec destination 198.51.100.7/32 protocol udp source-port 11211 then discard"}},
		{"198.51.100.7", alert.VectorSSDPAmp, []string{"flowspec destination 198.51.100.7/32 protocol udp source-port 1900 then discard"}},
		{"198.51.100.7", alert.VectorCLDAPAmp, []string{"flowspec destination 198.51.100.7/32 protocol udp source-port 389 then discard"}},
		{"198.51.100.7", alert.VectorChargenAmp, []string{"flowspec destination 198.51.100.7/32 protocol udp source-port 19 then discard"}},
		{"198.51.100.7", alert.VectorWSDAmp, []string{"flowspec destination 198.51.100.7/32 protocol udp source-port 3702 then discard"}},
		{"198.51.100.7", alert.VectorSYNFlood, []string{"flowspec destination 198.51.100.7/32 protocol tcp tcp-flags syn then discard"}},
		{"198.51.100.7", alert.VectorUDPFlood, []string{"flowspec destination 198.51.100.7/32 protocol udp then discard"}},
		{"198.51.100.7", alert.VectorTCPFlood, []string{"flowspec destination 198.51.100.7/32 protocol tcp then discard"}},
		{"198.51.100.7", alert.VectorICMPFlood, []string{"flowspec destination 198.51.100.7/32 protocol icmp then discard"}},
		{"198.51.100.7", alert.VectorFragmentFlood, []string{"flowspec destination 198.51.100.7/32 fragment then discard"}},
		{"2001:db8:1::9", alert.VectorICMPFlood, []string{
			"flowspec destination 2001:db8:1::9/128 protocol ipv6-icmp then discard",
			"rtbh 2001:db8:1::9/128 next-hop 100::1 community 65535:666 no-export"}},
		// carpet bombing: the attacked prefix
		{"198.51.100.0/24", alert.VectorNTPAmp, []string{
			"flowspec destination 198.51.100.0/24 protocol udp source-port 123 then discard",
			"rtbh 198.51.100.0/24 next-hop 192.0.2.1 community 65535:666 no-export"}},
		// no FlowSpec rule for "other": RTBH only
		{"198.51.100.7", alert.VectorOther, []string{"rtbh 198.51.100.7/32 next-hop 192.0.2.1 community 65535:666 no-export"}},
	} {
		a := alert.Alert{Kind: alert.KindDDoS, Direction: alert.Incoming, Vector: tc.vector, ThreatLevel: 50}
		if pr, err := netip.ParsePrefix(tc.victim); err == nil {
			a.Prefix = pr
		} else {
			a.Victims = []netip.Addr{netip.MustParseAddr(tc.victim)}
		}
		routes, why := p.plan(a, false)
		if why != nil {
			t.Errorf("%s %s: refused: %v", tc.victim, tc.vector, why)
			continue
		}
		var got []string
		for _, r := range routes {
			got = append(got, r.String())
		}
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("%s %s: routes %q lack %q", tc.victim, tc.vector, got, w)
			}
		}
		// every route is built into a BGP path without error
		for _, r := range routes {
			if _, err := r.bgpPath(65001); err != nil {
				t.Errorf("%s: %v", r, err)
			}
		}
	}
}

func TestPlanOptions(t *testing.T) {
	cfg := testConfig(ModeAuto)
	cfg.Method, cfg.FlowSpecAction, cfg.RateLimit, cfg.MatchSourcePort = MethodFlowSpec, ActionRateLimit, 125000, false
	p := planner{cfg: cfg.withDefaults(), ours: ours}
	a := alert.Alert{Kind: alert.KindDDoS, Direction: alert.Incoming, Vector: alert.VectorDNSAmp,
		Victims: []netip.Addr{netip.MustParseAddr("198.51.100.7")}}
	routes, why := p.plan(a, false)
	if why != nil || len(routes) != 1 {
		t.Fatalf("plan: %v %v", routes, why)
	}
	if got, want := routes[0].String(), "flowspec destination 198.51.100.7/32 protocol udp then rate-limit 125000"; got != want {
		t.Errorf("route %q, want %q", got, want)
	}
	a.Vector = alert.VectorOther
	if _, why := p.plan(a, false); why == nil || why.code != "no_rule" {
		t.Errorf("flowspec only, vector other: %v, want a no_rule refusal", why)
	}
}

func TestSafetyRefusals(t *testing.T) {
	p := planner{cfg: testConfig(ModeAuto).withDefaults(), ours: append(slices.Clone(ours), netip.MustParsePrefix("0.0.0.0/0"))}
	strict := planner{cfg: testConfig(ModeAuto).withDefaults(), ours: ours}
	for _, tc := range []struct {
		name string
		p    planner
		a    alert.Alert
		code string
	}{
		{"victim outside our networks", strict, alert.Alert{Kind: "ddos", Direction: "incoming", Vector: alert.VectorUDPFlood,
			Victims: []netip.Addr{netip.MustParseAddr("203.0.113.5")}}, "outside_networks"},
		{"prefix wider than our network", strict, alert.Alert{Kind: "ddos", Direction: "incoming", Vector: alert.VectorUDPFlood,
			Prefix: netip.MustParsePrefix("198.51.0.0/16")}, "outside_networks"},
		{"default route, even when a network is 0.0.0.0/0", p, alert.Alert{Kind: "ddos", Direction: "incoming", Vector: alert.VectorUDPFlood,
			Prefix: netip.MustParsePrefix("0.0.0.0/0")}, "outside_networks"},
		{"IPv6 default route", p, alert.Alert{Kind: "ddos", Direction: "incoming", Vector: alert.VectorUDPFlood,
			Prefix: netip.MustParsePrefix("::/0")}, "outside_networks"},
		{"outgoing attack", strict, alert.Alert{Kind: "ddos", Direction: "outgoing", Vector: alert.VectorUDPFlood,
			Victims: []netip.Addr{netip.MustParseAddr("198.51.100.5")}}, "direction"},
		{"no victim", strict, alert.Alert{Kind: "ddos", Direction: "incoming", Vector: alert.VectorUDPFlood}, "no_victim"},
	} {
		routes, why := tc.p.plan(tc.a, true)
		if why == nil || why.code != tc.code {
			t.Errorf("%s: routes %v, refusal %v; want refusal %s", tc.name, routes, why, tc.code)
		}
	}
	// The table's own check refuses a default route even when handed one directly.
	h := newHarness(t, testConfig(ModeAuto), nil, nil)
	h.m.mu.Lock()
	why := h.m.holdLocked("x", []Route{{Kind: KindRTBH, Prefix: netip.MustParsePrefix("0.0.0.0/0"),
		NextHop: netip.MustParseAddr("192.0.2.1"), Communities: []string{"65535:666"}}})
	h.m.mu.Unlock()
	if why == nil || len(h.speaker.routes()) != 0 {
		t.Errorf("0.0.0.0/0 handed to the table: refusal %v, RIB %v", why, h.speaker.routes())
	}
}

func TestAutoAnnouncesAndWithdrawsAfterHoldTime(t *testing.T) {
	h := newHarness(t, testConfig(ModeAuto), nil, nil)
	h.attack("a1", "198.51.100.7", alert.VectorDNSAmp, 60)
	want := []string{
		"flowspec destination 198.51.100.7/32 protocol udp source-port 53 then discard",
		"rtbh 198.51.100.7/32 next-hop 192.0.2.1 community 65535:666 no-export",
	}
	if got := h.speaker.routes(); !slices.Equal(got, want) {
		t.Fatalf("RIB %q, want %q", got, want)
	}
	if r := h.alerts.record(t, "a1"); r.State != StateAnnounced || len(r.Routes) != 2 || r.Mode != ModeAuto {
		t.Errorf("record %+v, want announced with 2 routes", r)
	}
	if v := metricValue(t, h.m.metrics.routes.WithLabelValues(KindRTBH)); v != 1 {
		t.Errorf("routes{rtbh} = %v, want 1", v)
	}
	// Updates with the same routes change nothing; the attack ends; the hold time runs.
	h.attack("a1", "198.51.100.7", alert.VectorDNSAmp, 70)
	h.clock.advance(10 * time.Second)
	h.end("a1")
	if r := h.alerts.record(t, "a1"); r.WithdrawAt == nil || !r.WithdrawAt.Equal(h.clock.now().Add(time.Minute)) {
		t.Errorf("record after the end: withdraw_at %v, want end + 1m", r.WithdrawAt)
	}
	h.clock.advance(59 * time.Second)
	h.tick()
	if len(h.speaker.routes()) != 2 {
		t.Fatalf("routes withdrawn before the hold time: %q", h.speaker.routes())
	}
	h.clock.advance(time.Second)
	h.tick()
	if got := h.speaker.routes(); len(got) != 0 {
		t.Fatalf("RIB after the hold time: %q, want empty", got)
	}
	if r := h.alerts.record(t, "a1"); r.State != StateWithdrawn || r.WithdrawnAt == nil {
		t.Errorf("record after the hold time: %+v", r)
	}
	if v := metricValue(t, h.m.metrics.withdrawals.WithLabelValues(KindFlowSpec)); v != 1 {
		t.Errorf("withdrawals{flowspec} = %v, want 1", v)
	}
}

func TestVectorChangeReplacesRule(t *testing.T) {
	cfg := testConfig(ModeAuto)
	cfg.Method = MethodFlowSpec
	h := newHarness(t, cfg, nil, nil)
	h.attack("a1", "198.51.100.7", alert.VectorUDPFlood, 60)
	h.attack("a1", "198.51.100.7", alert.VectorNTPAmp, 60)
	want := []string{"flowspec destination 198.51.100.7/32 protocol udp source-port 123 then discard"}
	if got := h.speaker.routes(); !slices.Equal(got, want) {
		t.Errorf("RIB %q, want %q", got, want)
	}
}

func TestMinThreatLevel(t *testing.T) {
	cfg := testConfig(ModeAuto)
	cfg.MinThreatLevel = 50
	h := newHarness(t, cfg, nil, nil)
	h.attack("a1", "198.51.100.7", alert.VectorUDPFlood, 30)
	if got := h.speaker.routes(); len(got) != 0 {
		t.Fatalf("threat 30 < 50 announced %q", got)
	}
	if r := h.alerts.record(t, "a1"); r.State != StateRefused || !strings.Contains(r.Reason, "threat level") {
		t.Errorf("record %+v, want refused for the threat level", r)
	}
	h.attack("a1", "198.51.100.7", alert.VectorUDPFlood, 55) // the threat grows
	if got := h.speaker.routes(); len(got) != 2 {
		t.Errorf("threat 55 >= 50: RIB %q, want 2 routes", got)
	}
}

func TestRouteCap(t *testing.T) {
	cfg := testConfig(ModeAuto)
	cfg.MaxRoutes = 3
	h := newHarness(t, cfg, nil, nil)
	h.attack("a1", "198.51.100.7", alert.VectorUDPFlood, 60)
	h.attack("a2", "198.51.100.8", alert.VectorUDPFlood, 60)
	if got := h.speaker.routes(); len(got) != 2 || !strings.Contains(strings.Join(got, " "), "198.51.100.7/32") {
		t.Fatalf("RIB %q, want a1's 2 routes only", got)
	}
	if r := h.alerts.record(t, "a2"); r.State != StateRefused || !strings.Contains(r.Reason, "max_routes 3") {
		t.Errorf("a2 record %+v, want refused by the cap", r)
	}
	if v := metricValue(t, h.m.metrics.refusals.WithLabelValues("route_cap")); v != 1 {
		t.Errorf("refusals{route_cap} = %v, want 1", v)
	}
	// An operator cannot pass the cap either.
	if err := h.m.Confirm("a2"); !errors.Is(err, ErrRefused) {
		t.Errorf("Confirm past the cap: %v, want a refusal", err)
	}
	// Room again once a1's routes go: a2's next update takes it.
	if err := h.m.Withdraw("a1"); err != nil {
		t.Fatal(err)
	}
	h.attack("a2", "198.51.100.8", alert.VectorUDPFlood, 60)
	if got := h.speaker.routes(); len(got) != 2 || !strings.Contains(strings.Join(got, " "), "198.51.100.8/32") {
		t.Errorf("RIB %q, want a2's 2 routes", got)
	}
}

func TestDryRunAnnouncesNothing(t *testing.T) {
	h := newHarness(t, testConfig(ModeDryRun), nil, nil)
	h.speaker.started = true // would accept routes, were any sent
	h.attack("a1", "198.51.100.7", alert.VectorSYNFlood, 60)
	if got := h.speaker.routes(); len(got) != 0 {
		t.Fatalf("dry-run sent %q", got)
	}
	r := h.alerts.record(t, "a1")
	if r.State != StateDryRun || len(r.Announcements) != 2 ||
		r.Announcements[0] != "flowspec destination 198.51.100.7/32 protocol tcp tcp-flags syn then discard" {
		t.Errorf("record %+v, want dry-run with what would be announced", r)
	}
	if err := h.m.Confirm("a1"); !errors.Is(err, ErrRefused) {
		t.Errorf("Confirm in dry-run: %v, want a refusal", err)
	}
	h.end("a1")
	h.clock.advance(time.Minute)
	h.tick()
	if r := h.alerts.record(t, "a1"); r.State != StateWithdrawn {
		t.Errorf("record after the hold time: %+v, want withdrawn", r)
	}
	if v := metricValue(t, h.m.metrics.announcements.WithLabelValues(KindRTBH)); v != 0 {
		t.Errorf("announcements in dry-run: %v", v)
	}
}

func TestConfirmWaitsForTheOperator(t *testing.T) {
	cfg := testConfig(ModeConfirm)
	cfg.MinThreatLevel = 90
	h := newHarness(t, cfg, nil, nil)
	h.attack("a1", "198.51.100.7", alert.VectorNTPAmp, 95)
	if got := h.speaker.routes(); len(got) != 0 {
		t.Fatalf("confirm mode announced before confirmation: %q", got)
	}
	if r := h.alerts.record(t, "a1"); r.State != StateAwaiting || len(r.Routes) != 2 {
		t.Fatalf("record %+v, want awaiting-confirmation with the proposed routes", r)
	}
	if err := h.m.Confirm("nope"); !errors.Is(err, alert.ErrNotFound) {
		t.Errorf("Confirm of an unknown alert: %v, want ErrNotFound", err)
	}
	if err := h.m.Confirm("a1"); err != nil {
		t.Fatal(err)
	}
	if got := h.speaker.routes(); len(got) != 2 {
		t.Fatalf("after Confirm: RIB %q, want 2 routes", got)
	}
	if r := h.alerts.record(t, "a1"); r.State != StateAnnounced || !r.ByOperator {
		t.Errorf("record %+v, want announced by an operator", r)
	}
	// Withdrawn by hand: gone at once, and not announced again by the next update.
	if err := h.m.Withdraw("a1"); err != nil {
		t.Fatal(err)
	}
	h.attack("a1", "198.51.100.7", alert.VectorNTPAmp, 99)
	if got := h.speaker.routes(); len(got) != 0 {
		t.Fatalf("after Withdraw and an update: RIB %q, want empty", got)
	}
	// An operator's confirmation overrides the threat level, never the prefix rule.
	h.attack("a2", "198.51.100.9", alert.VectorUDPFlood, 10)
	if err := h.m.Confirm("a2"); err != nil {
		t.Errorf("Confirm below min_threat_level: %v", err)
	}
	h.attack("a3", "203.0.113.9", alert.VectorUDPFlood, 99)
	if err := h.m.Confirm("a3"); !errors.Is(err, ErrRefused) {
		t.Errorf("Confirm outside our networks: %v, want a refusal", err)
	}
	// A proposal nobody confirmed lapses when the attack ends.
	h.attack("a4", "198.51.100.10", alert.VectorUDPFlood, 99)
	h.end("a4")
	if r := h.alerts.record(t, "a4"); r.State != StateWithdrawn {
		t.Errorf("unconfirmed proposal after the end: %+v", r)
	}
	if err := h.m.Confirm("a4"); !errors.Is(err, ErrRefused) {
		t.Errorf("Confirm of an ended alert: %v, want a refusal", err)
	}
}

func TestSharedRouteStaysWhileHeld(t *testing.T) {
	cfg := testConfig(ModeAuto)
	cfg.Method = MethodRTBH
	h := newHarness(t, cfg, nil, nil)
	h.attack("a1", "198.51.100.7", alert.VectorUDPFlood, 60)
	h.end("a1")
	h.attack("a2", "198.51.100.7", alert.VectorUDPFlood, 60) // the attack comes back during the hold
	h.clock.advance(2 * time.Minute)
	h.tick()
	if got := h.speaker.routes(); len(got) != 1 {
		t.Fatalf("a1's hold ended while a2 needs the route: RIB %q", got)
	}
	h.end("a2")
	h.clock.advance(time.Minute)
	h.tick()
	if got := h.speaker.routes(); len(got) != 0 {
		t.Errorf("RIB %q after both holds, want empty", got)
	}
}

func TestRestartRebuildsAnnouncements(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(ModeAuto)
	cfg.StateFile = filepath.Join(dir, "mitigation", "active.json")
	alerts := &fakeAlerts{alerts: map[string]alert.Alert{}}
	h := newHarness(t, cfg, alerts, nil)
	h.attack("a1", "198.51.100.7", alert.VectorDNSAmp, 60)
	h.attack("a2", "198.51.100.8", alert.VectorUDPFlood, 60)
	h.attack("a3", "198.51.100.9", alert.VectorUDPFlood, 60)
	h.end("a3") // in its hold time when yocho stops
	want := h.speaker.routes()
	h.m.Stop()
	if len(h.speaker.routes()) != 0 {
		t.Fatal("the fake speaker kept routes across Stop")
	}
	// While yocho is down, a2's attack ends (the manager ends it as stale).
	at := h.clock.now()
	a2, _ := alerts.Get("a2")
	a2.State, a2.EndedAt = alert.Ended, &at
	alerts.put(a2)

	h2 := newHarness(t, cfg, alerts, nil)
	h2.clock.t = h.clock.now().Add(30 * time.Second)
	if got := h2.speaker.routes(); !slices.Equal(got, want) {
		t.Fatalf("after the restart: RIB %q, want %q", got, want)
	}
	if r := alerts.record(t, "a2"); r.WithdrawAt == nil || !r.WithdrawAt.Equal(at.Add(time.Minute)) {
		t.Errorf("a2 ended while down: withdraw_at %v, want %v", r.WithdrawAt, at.Add(time.Minute))
	}
	h2.clock.advance(30 * time.Second)
	h2.tick()
	if got := h2.speaker.routes(); len(got) != 2 || !strings.Contains(strings.Join(got, " "), "198.51.100.7/32") {
		t.Errorf("after a2's and a3's hold: RIB %q, want a1's 2 routes", got)
	}

	// Restarted in dry-run: nothing is announced, and the records say why.
	h2.m.Stop()
	cfg.Mode = ModeDryRun
	h3 := newHarness(t, cfg, alerts, nil)
	if got := h3.speaker.routes(); len(got) != 0 {
		t.Errorf("restarted in dry-run: RIB %q", got)
	}
	if r := alerts.record(t, "a1"); r.State != StateWithdrawn || !strings.Contains(r.Reason, "dry-run") {
		t.Errorf("a1 after a restart in dry-run: %+v", r)
	}
}

func TestReconcileEndsLostAlerts(t *testing.T) {
	h := newHarness(t, testConfig(ModeAuto), nil, nil)
	h.attack("a1", "198.51.100.7", alert.VectorUDPFlood, 60)
	// The ended event is lost (a full queue): the alert ended in the manager only.
	a, _ := h.alerts.Get("a1")
	at := h.clock.now()
	a.State, a.EndedAt = alert.Ended, &at
	h.alerts.put(a)
	h.clock.advance(time.Minute)
	h.tick() // reconcile schedules the withdrawal at end + hold: due now
	h.tick()
	if got := h.speaker.routes(); len(got) != 0 {
		t.Errorf("RIB %q, want empty", got)
	}
}

func TestModeOff(t *testing.T) {
	h := newHarness(t, testConfig(ModeOff), nil, nil)
	h.attack("a1", "198.51.100.7", alert.VectorUDPFlood, 90)
	if got := h.speaker.routes(); len(got) != 0 || h.speaker.started {
		t.Errorf("mode off: speaker started %v, RIB %q", h.speaker.started, got)
	}
	if r := h.alerts.record(t, "a1"); r.State != "" {
		t.Errorf("mode off recorded %+v", r)
	}
	if err := h.m.Confirm("a1"); !errors.Is(err, ErrRefused) {
		t.Errorf("Confirm with mode off: %v", err)
	}
}

// metricValue reads a counter's or a gauge's value.
func metricValue(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}
