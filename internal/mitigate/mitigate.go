// Package mitigate is yocho's mitigation engine: it subscribes to the alert manager's events,
// decides which DDoS alerts to mitigate and how (FlowSpec rules that filter the attack's vector,
// RTBH routes that blackhole the victim), announces them to the routers through an embedded BGP
// speaker (gobgp), and withdraws them a hold time after the attack ends. What it did for each alert
// is recorded on the alert (alert.Manager.SetMitigation), and the active mitigations are kept in a
// file so that a restart announces them again.
//
// Safety rules, checked for every route right before it is announced: never a default route,
// never a prefix outside our networks, never more than max_routes routes at once.
package mitigate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/alert"
)

// Record states, as the alert's mitigation record shows them.
const (
	StateAnnounced = "announced"             // the routes are in the speaker's RIB, sent to the peers
	StateDryRun    = "dry-run"               // the routes would be announced (dry-run mode)
	StateAwaiting  = "awaiting-confirmation" // confirm mode: waiting for an operator
	StateWithdrawn = "withdrawn"             // the routes were withdrawn (or never announced)
	StateRefused   = "refused"               // the alert does not qualify; Reason says why
)

// Record is what the engine did for one alert: the JSON value of the alert's "mitigation" field.
type Record struct {
	Mode   string  `json:"mode"`
	State  string  `json:"state"`
	Reason string  `json:"reason,omitempty"`
	Routes []Route `json:"routes"`
	// Announcements are the routes as text, for people.
	Announcements []string   `json:"announcements,omitempty"`
	ByOperator    bool       `json:"by_operator,omitempty"`
	UpdatedAt     time.Time  `json:"updated_at"`
	AnnouncedAt   *time.Time `json:"announced_at,omitempty"`
	// WithdrawAt is when the routes go: the attack's end plus the hold time.
	WithdrawAt  *time.Time `json:"withdraw_at,omitempty"`
	WithdrawnAt *time.Time `json:"withdrawn_at,omitempty"`
}

// active says whether the record holds routes (or, in confirm mode, proposes them).
func (r Record) active() bool {
	return r.State == StateAnnounced || r.State == StateDryRun || r.State == StateAwaiting
}

// holds says whether the record's routes are in the table.
func (r Record) holds() bool { return r.State == StateAnnounced || r.State == StateDryRun }

// Alerts is what the engine needs of the alert manager.
type Alerts interface {
	Get(id string) (alert.Alert, error)
	SetMitigation(id string, state any) error
}

// Speaker announces and withdraws routes. The BGP speaker (gobgp) is the real one.
type Speaker interface {
	Start(ctx context.Context) error
	Stop()
	Announce(r Route) error
	Withdraw(r Route) error
}

// Deps are what the engine works with.
type Deps struct {
	Alerts Alerts
	// Networks are our prefixes: no route is ever announced outside them.
	Networks []netip.Prefix
	// Speaker is nil for the embedded BGP speaker built from the configuration.
	Speaker    Speaker
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	Now        func() time.Time // nil for time.Now
}

// entry is the engine's state for one alert; the state file keeps them.
type entry struct {
	AlertID string `json:"alert_id"`
	Record  Record `json:"record"`
	// Ended says the alert ended: only the withdrawal (at Record.WithdrawAt) remains.
	Ended bool `json:"ended,omitempty"`
	// Operator says an operator withdrew the mitigation: it is not announced again by itself.
	Operator bool `json:"operator,omitempty"`
}

// held is one route in the table with the alerts that need it.
type held struct {
	route   Route
	holders map[string]bool
	sent    bool
}

// Mitigator is the mitigation engine. Handle is its alert subscriber; Confirm and Withdraw serve
// the API. It is safe for concurrent use.
type Mitigator struct {
	cfg     Config
	alerts  Alerts
	plan    planner
	speaker Speaker
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics
	file    *stateFile

	mu      sync.Mutex
	entries map[string]*entry // by alert id
	table   map[string]*held  // by Route.Key

	ready    chan struct{} // closed by Start
	done     chan struct{} // closed by Stop
	stopOnce sync.Once
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	started  bool
}

// New returns the engine; it does no I/O (Start loads the state file and starts the speaker).
func New(cfg Config, deps Deps) *Mitigator {
	cfg = cfg.withDefaults()
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	m := &Mitigator{
		cfg: cfg, alerts: deps.Alerts, log: log, now: now,
		plan:    planner{cfg: cfg, ours: slices.Clone(deps.Networks)},
		metrics: newMetrics(deps.Registerer),
		entries: map[string]*entry{}, table: map[string]*held{},
		ready: make(chan struct{}), done: make(chan struct{}),
	}
	m.speaker = deps.Speaker
	if m.speaker == nil && cfg.announces() {
		m.speaker = newBGPSpeaker(cfg, m.metrics, log)
	}
	if cfg.StateFile != "" {
		m.file = &stateFile{path: cfg.StateFile}
	}
	return m
}

// Start loads the active mitigations, starts the speaker and announces them again, reconciles
// them with their alerts (an alert that ended while yocho was stopped gets its withdrawal
// scheduled), then handles events. Start it after the alert manager, so that alerts are loaded.
func (m *Mitigator) Start(ctx context.Context) error {
	if m.cfg.Mode == ModeOff {
		return nil
	}
	var loaded []*entry
	if m.file != nil {
		var err error
		if loaded, err = m.file.load(); err != nil {
			return fmt.Errorf("mitigation: %w", err)
		}
	}
	if m.speaker != nil && m.cfg.announces() {
		if err := m.speaker.Start(ctx); err != nil {
			return fmt.Errorf("mitigation: bgp speaker: %w", err)
		}
	}
	m.mu.Lock()
	for _, e := range loaded {
		m.restoreLocked(e)
	}
	m.reconcileLocked()
	m.saveLocked()
	m.started = true
	m.mu.Unlock()
	if len(loaded) > 0 {
		m.log.Info("mitigations restored", "entries", len(loaded), "routes", len(m.table))
	}
	close(m.ready)

	ctx, m.cancel = context.WithCancel(ctx)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		tick := time.NewTicker(m.cfg.Tick)
		defer tick.Stop()
		last := m.now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				now := m.now()
				reconcile := now.Sub(last) >= m.cfg.Reconcile
				if reconcile {
					last = now
				}
				m.mu.Lock()
				if reconcile {
					m.reconcileLocked()
				}
				m.withdrawDueLocked()
				m.mu.Unlock()
			}
		}
	}()
	return nil
}

// Stop ends event handling and stops the speaker: its sessions close, so the peers drop the
// routes; the state file keeps them for the next start.
func (m *Mitigator) Stop() {
	m.stopOnce.Do(func() { close(m.done) })
	if m.cancel != nil {
		m.cancel()
	}
	m.wg.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started && m.speaker != nil && m.cfg.announces() {
		m.speaker.Stop()
	}
	m.started = false
}

// Handle is the alert manager's subscriber: a started or updated alert is evaluated (and
// mitigated when it qualifies), an ended one gets its withdrawal scheduled. Events that come
// before Start wait for it.
func (m *Mitigator) Handle(ev alert.Event) {
	if m.cfg.Mode == ModeOff || ev.Type == alert.EventMitigation {
		return
	}
	select {
	case <-m.ready:
	case <-m.done:
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch ev.Type {
	case alert.EventStarted, alert.EventUpdated:
		if ev.Alert.State == alert.Ended {
			m.endLocked(ev.Alert)
			return
		}
		m.evaluateLocked(ev.Alert)
	case alert.EventEnded:
		m.endLocked(ev.Alert)
	}
}

// Confirm announces an alert's mitigation by hand (confirm mode, or auto mode after an operator
// withdrew it). The threat-level rule does not apply; the prefix and cap rules do.
func (m *Mitigator) Confirm(id string) error {
	if !m.cfg.announces() {
		return refuse("mode", "mitigation mode is %s: nothing can be announced", m.cfg.Mode)
	}
	if !m.isReady() {
		return refuse("not_running", "the mitigation engine is not running")
	}
	a, err := m.alerts.Get(id)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if a.State == alert.Ended {
		return refuse("ended", "alert %s has ended", id)
	}
	e := m.entries[id]
	if e != nil && e.Record.State == StateAnnounced {
		return nil
	}
	routes, why := m.plan.plan(a, true)
	if why != nil {
		m.metrics.refused(why)
		return why
	}
	if e == nil {
		e = &entry{AlertID: id}
		m.entries[id] = e
	}
	if why := m.holdLocked(id, routes); why != nil {
		m.metrics.refused(why)
		return why
	}
	now := m.now().UTC()
	e.Operator = false
	e.Record = Record{State: StateAnnounced, Routes: routes, ByOperator: true, AnnouncedAt: &now,
		Reason: "confirmed by an operator"}
	m.recordLocked(e)
	return nil
}

// Withdraw withdraws an alert's mitigation by hand, at once; it is not announced again unless an
// operator confirms it. Withdrawing an alert with nothing announced records the operator's wish.
func (m *Mitigator) Withdraw(id string) error {
	if m.cfg.Mode == ModeOff {
		return refuse("mode", "mitigation mode is off")
	}
	if !m.isReady() {
		return refuse("not_running", "the mitigation engine is not running")
	}
	a, err := m.alerts.Get(id)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[id]
	if e == nil {
		if a.State == alert.Ended {
			return refuse("ended", "alert %s has ended and has nothing announced", id)
		}
		e = &entry{AlertID: id}
		m.entries[id] = e
	}
	if e.Record.holds() {
		m.releaseLocked(id, e.Record.Routes)
	}
	now := m.now().UTC()
	e.Operator = true
	e.Record.State, e.Record.Reason, e.Record.ByOperator = StateWithdrawn, "withdrawn by an operator", true
	e.Record.WithdrawnAt, e.Record.WithdrawAt = &now, nil
	m.recordLocked(e)
	if a.State == alert.Ended {
		delete(m.entries, id)
		m.saveLocked()
	}
	return nil
}

// Routes lists the routes held now (announced, or recorded only in dry-run), sorted by key.
func (m *Mitigator) Routes() []Route {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Route, 0, len(m.table))
	for _, h := range m.table {
		out = append(out, h.route)
	}
	slices.SortFunc(out, func(a, b Route) int { return compareStrings(a.Key(), b.Key()) })
	return out
}

func (m *Mitigator) isReady() bool {
	select {
	case <-m.ready:
		select {
		case <-m.done:
			return false
		default:
			return true
		}
	default:
		return false
	}
}

// evaluateLocked decides what an ongoing alert gets, or updates what it has when its routes
// change (a vector classified better).
func (m *Mitigator) evaluateLocked(a alert.Alert) {
	e := m.entries[a.ID]
	if e != nil && (e.Operator || e.Ended) {
		return
	}
	routes, why := m.plan.plan(a, false)
	if e == nil {
		e = &entry{AlertID: a.ID}
		m.entries[a.ID] = e
	}
	switch {
	case e.Record.active():
		if why != nil || slices.EqualFunc(routes, e.Record.Routes, sameRoute) {
			return // a refusal never takes back what was decided; unchanged routes need nothing
		}
		if e.Record.State == StateAwaiting {
			e.Record.Routes = routes
		} else {
			if w := m.holdLocked(a.ID, routes); w != nil {
				m.metrics.refused(w)
				return // keep the routes held now
			}
			m.releaseLocked(a.ID, minus(e.Record.Routes, routes))
			e.Record.Routes = routes
		}
	case why != nil:
		if e.Record.State == StateRefused && e.Record.Reason == why.reason {
			return
		}
		m.metrics.refused(why)
		e.Record = Record{State: StateRefused, Reason: why.reason}
	case m.cfg.Mode == ModeConfirm:
		e.Record = Record{State: StateAwaiting, Routes: routes,
			Reason: "POST /api/v1/alerts/" + a.ID + "/mitigation {\"action\":\"confirm\"} announces it"}
	default: // auto, dry-run
		if w := m.holdLocked(a.ID, routes); w != nil {
			if e.Record.State == StateRefused && e.Record.Reason == w.reason {
				return
			}
			m.metrics.refused(w)
			e.Record = Record{State: StateRefused, Reason: w.reason, Routes: routes}
			break
		}
		now := m.now().UTC()
		state := StateAnnounced
		if m.cfg.Mode == ModeDryRun {
			state = StateDryRun
		}
		e.Record = Record{State: state, Routes: routes, AnnouncedAt: &now}
	}
	m.recordLocked(e)
}

// endLocked schedules the withdrawal of an ended alert's routes: the attack's end plus the hold
// time. A proposal nobody confirmed lapses.
func (m *Mitigator) endLocked(a alert.Alert) {
	e := m.entries[a.ID]
	if e == nil || e.Ended {
		return
	}
	e.Ended = true
	switch {
	case e.Record.holds():
		at := m.now().UTC()
		if a.EndedAt != nil {
			at = a.EndedAt.UTC()
		}
		w := at.Add(m.cfg.HoldTime)
		e.Record.WithdrawAt = &w
		m.recordLocked(e)
	case e.Record.State == StateAwaiting:
		now := m.now().UTC()
		e.Record.State, e.Record.Reason, e.Record.WithdrawnAt = StateWithdrawn, "the attack ended before an operator confirmed", &now
		m.recordLocked(e)
		delete(m.entries, a.ID)
		m.saveLocked()
	default:
		delete(m.entries, a.ID)
		m.saveLocked()
	}
}

// withdrawDueLocked withdraws the routes whose hold time has passed.
func (m *Mitigator) withdrawDueLocked() {
	now := m.now().UTC()
	for id, e := range m.entries {
		if e.Record.WithdrawAt == nil || now.Before(*e.Record.WithdrawAt) {
			continue
		}
		m.releaseLocked(id, e.Record.Routes)
		e.Record.State = StateWithdrawn
		e.Record.Reason = fmt.Sprintf("hold time (%s) after the attack's end elapsed", m.cfg.HoldTime)
		e.Record.WithdrawnAt, e.Record.WithdrawAt = &now, nil
		m.recordLocked(e)
		delete(m.entries, id)
		m.saveLocked()
	}
}

// reconcileLocked checks the entries of ongoing alerts against the manager: an alert that ended
// unseen (an event lost, or yocho stopped) gets its withdrawal scheduled; one the manager no
// longer knows ends now.
func (m *Mitigator) reconcileLocked() {
	for id, e := range m.entries {
		if e.Ended {
			continue
		}
		a, err := m.alerts.Get(id)
		switch {
		case errors.Is(err, alert.ErrNotFound):
			now := m.now().UTC()
			m.endLocked(alert.Alert{ID: id, State: alert.Ended, EndedAt: &now})
		case err == nil && a.State == alert.Ended:
			m.endLocked(a)
		}
	}
}

// restoreLocked takes back an entry of the state file under the current configuration: routes
// that were announced are announced again (after the safety checks), a mode change drops what
// the new mode would not do.
func (m *Mitigator) restoreLocked(e *entry) {
	r := &e.Record
	want := map[string]string{ModeAuto: StateAnnounced, ModeConfirm: StateAnnounced, ModeDryRun: StateDryRun}[m.cfg.Mode]
	switch {
	case r.holds() && r.State == want:
		if why := m.holdLocked(e.AlertID, r.Routes); why != nil {
			now := m.now().UTC()
			r.State, r.Reason, r.WithdrawnAt, r.WithdrawAt = StateWithdrawn, "not announced again after a restart: "+why.reason, &now, nil
			m.recordLocked(e)
			return
		}
	case r.holds():
		now := m.now().UTC()
		r.State, r.Reason, r.WithdrawnAt, r.WithdrawAt = StateWithdrawn, "mitigation mode is now "+m.cfg.Mode, &now, nil
		m.recordLocked(e)
		return // an ongoing alert is re-planned at its next update
	case r.State == StateAwaiting && m.cfg.Mode != ModeConfirm:
		return // re-planned at the alert's next update
	case e.Ended:
		return
	}
	m.entries[e.AlertID] = e
}

// holdLocked puts an alert's routes in the table, announcing the new ones; nothing is held when
// one breaks a rule or the cap would be passed.
func (m *Mitigator) holdLocked(id string, routes []Route) *refusal {
	fresh := 0
	for _, r := range routes {
		if err := m.plan.checkPrefix(r.Prefix); err != nil {
			return err
		}
		if m.table[r.Key()] == nil {
			fresh++
		}
	}
	if len(m.table)+fresh > m.cfg.MaxRoutes {
		return refuse("route_cap", "route cap reached: %d routes announced, %d more needed, max_routes %d",
			len(m.table), fresh, m.cfg.MaxRoutes)
	}
	var added []Route
	for _, r := range routes {
		h := m.table[r.Key()]
		if h == nil {
			h = &held{route: r, holders: map[string]bool{}}
			if m.cfg.announces() && m.speaker != nil {
				if err := m.speaker.Announce(r); err != nil {
					m.metrics.errors.WithLabelValues("announce").Inc()
					m.log.Error("announcing a route", "route", r.String(), "alert", id, "err", err)
					m.releaseLocked(id, added)
					return refuse("bgp", "announcing %s: %v", r, err)
				}
				h.sent = true
				m.metrics.announcements.WithLabelValues(r.Kind).Inc()
			}
			m.table[r.Key()] = h
			m.log.Info("route announced", "route", r.String(), "alert", id, "mode", m.cfg.Mode)
		}
		h.holders[id] = true
		added = append(added, r)
	}
	m.metrics.setRoutes(m.table)
	return nil
}

// releaseLocked drops an alert's hold on routes; a route no alert holds any more is withdrawn.
func (m *Mitigator) releaseLocked(id string, routes []Route) {
	for _, r := range routes {
		h := m.table[r.Key()]
		if h == nil || !h.holders[id] {
			continue
		}
		delete(h.holders, id)
		if len(h.holders) > 0 {
			continue
		}
		delete(m.table, r.Key())
		if h.sent {
			if err := m.speaker.Withdraw(h.route); err != nil {
				m.metrics.errors.WithLabelValues("withdraw").Inc()
				m.log.Error("withdrawing a route", "route", h.route.String(), "err", err)
			}
			m.metrics.withdrawals.WithLabelValues(r.Kind).Inc()
		}
		m.log.Info("route withdrawn", "route", h.route.String(), "alert", id, "mode", m.cfg.Mode)
	}
	m.metrics.setRoutes(m.table)
}

// recordLocked writes the entry's record on its alert and saves the state file.
func (m *Mitigator) recordLocked(e *entry) {
	e.Record.Mode = m.cfg.Mode
	e.Record.UpdatedAt = m.now().UTC()
	e.Record.Announcements = e.Record.Announcements[:0]
	for _, r := range e.Record.Routes {
		e.Record.Announcements = append(e.Record.Announcements, r.String())
	}
	if err := m.alerts.SetMitigation(e.AlertID, e.Record); err != nil && !errors.Is(err, alert.ErrNotFound) {
		m.log.Error("recording a mitigation on its alert", "alert", e.AlertID, "err", err)
	}
	m.log.Debug("mitigation", "alert", e.AlertID, "state", e.Record.State, "reason", e.Record.Reason)
	m.saveLocked()
}

func (m *Mitigator) saveLocked() {
	if m.file == nil {
		return
	}
	all := make([]*entry, 0, len(m.entries))
	for _, e := range m.entries {
		all = append(all, e)
	}
	slices.SortFunc(all, func(a, b *entry) int { return compareStrings(a.AlertID, b.AlertID) })
	if err := m.file.save(all); err != nil {
		m.metrics.errors.WithLabelValues("state_file").Inc()
		m.log.Error("saving the active mitigations", "file", m.file.path, "err", err)
	}
}

func sameRoute(a, b Route) bool { return a.String() == b.String() }

// minus lists the routes of a that b does not have (by key).
func minus(a, b []Route) []Route {
	var out []Route
	for _, r := range a {
		if !slices.ContainsFunc(b, func(x Route) bool { return x.Key() == r.Key() }) {
			out = append(out, r)
		}
	}
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
