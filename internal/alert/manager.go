package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config is the alert manager's configuration.
type Config struct {
	// Dir is where alerts are kept (a file alerts.jsonl in it); empty keeps them in memory only.
	Dir string
	// Retention is how long an ended alert is kept.
	Retention time.Duration
	// StaleAfter ends an ongoing alert that no detector has updated for this long (an alert that
	// was ongoing when yocho stopped, and whose attack did not come back).
	StaleAfter time.Duration
	// PersistEvery bounds how often an ongoing alert's updates are written.
	PersistEvery time.Duration
	// SeriesPoints caps an alert's time series; older points are merged two by two beyond it.
	SeriesPoints int
	// QueueSize is each subscriber's queue of events; events beyond it are dropped and counted.
	QueueSize int
}

// DefaultConfig keeps alerts 90 days in memory.
func DefaultConfig() Config {
	return Config{
		Retention:    90 * 24 * time.Hour,
		StaleAfter:   2 * time.Minute,
		PersistEvery: defaultPersistPeriod,
		SeriesPoints: defaultSeriesPoints,
		QueueSize:    1024,
	}
}

// ErrNotFound is returned for an alert id that the manager does not hold.
var ErrNotFound = errors.New("no such alert")

// Manager keeps the alerts and their lifecycle: one ongoing alert per attack key. It is safe for
// concurrent use.
type Manager struct {
	cfg  Config
	log  *slog.Logger
	now  func() time.Time
	file *journal

	mu        sync.Mutex
	alerts    map[string]*Alert // by id
	ongoing   map[string]string // key -> id
	persisted map[string]time.Time
	subs      []*subscriber

	started bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	events  *prometheus.CounterVec
	dropped *prometheus.CounterVec
	open    prometheus.GaugeFunc
	errs    prometheus.Counter
}

type subscriber struct {
	name string
	fn   func(Event)
	ch   chan Event
}

// New returns a manager; it does no I/O (Start loads the saved alerts).
func New(cfg Config, reg prometheus.Registerer, log *slog.Logger) *Manager {
	def := DefaultConfig()
	if cfg.Retention <= 0 {
		cfg.Retention = def.Retention
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = def.StaleAfter
	}
	if cfg.PersistEvery <= 0 {
		cfg.PersistEvery = def.PersistEvery
	}
	if cfg.SeriesPoints < 16 {
		cfg.SeriesPoints = def.SeriesPoints
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = def.QueueSize
	}
	if log == nil {
		log = slog.Default()
	}
	m := &Manager{
		cfg: cfg, log: log, now: time.Now,
		alerts: map[string]*Alert{}, ongoing: map[string]string{}, persisted: map[string]time.Time{},
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "yocho", Subsystem: "alert", Name: "events_total", Help: "Alert events, by type.",
		}, []string{"type"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "yocho", Subsystem: "alert", Name: "subscriber_dropped_total",
			Help: "Alert events a subscriber's full queue dropped, by subscriber.",
		}, []string{"subscriber"}),
		errs: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "yocho", Subsystem: "alert", Name: "persist_errors_total", Help: "Failed writes of the alerts file.",
		}),
	}
	m.open = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "yocho", Subsystem: "alert", Name: "ongoing", Help: "Alerts ongoing now.",
	}, func() float64 { m.mu.Lock(); defer m.mu.Unlock(); return float64(len(m.ongoing)) })
	if cfg.Dir != "" {
		m.file = &journal{dir: cfg.Dir}
	}
	if reg != nil {
		reg.MustRegister(m.events, m.dropped, m.errs, m.open)
	}
	return m
}

// Subscribe hands every later event to fn, in order, from a goroutine of its own: a slow
// subscriber delays only itself, and loses events (counted) once its queue is full. Subscribe
// before Start.
func (m *Manager) Subscribe(name string, fn func(Event)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := &subscriber{name: name, fn: fn, ch: make(chan Event, m.cfg.QueueSize)}
	m.subs = append(m.subs, s)
	if m.started {
		m.runSubscriber(s)
	}
}

// Start loads the saved alerts and starts the subscribers and the sweeper of stale alerts.
func (m *Manager) Start(ctx context.Context) error {
	if m.file != nil {
		loaded, err := m.file.load()
		if err != nil {
			return fmt.Errorf("alerts: %w", err)
		}
		cutoff := m.now().Add(-m.cfg.Retention)
		m.mu.Lock()
		for _, a := range loaded {
			if a.State == Ended && a.EndedAt != nil && a.EndedAt.Before(cutoff) {
				continue
			}
			m.alerts[a.ID] = a
			if a.State == Ongoing {
				m.ongoing[a.Key] = a.ID
			}
		}
		err = m.file.rewrite(m.sortedLocked())
		m.mu.Unlock()
		if err != nil {
			return fmt.Errorf("alerts: %w", err)
		}
		m.log.Info("alerts loaded", "alerts", len(m.alerts), "ongoing", len(m.ongoing), "dir", m.cfg.Dir)
	}
	ctx, m.cancel = context.WithCancel(ctx)
	m.mu.Lock()
	m.started = true
	for _, s := range m.subs {
		m.runSubscriber(s)
	}
	m.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				m.Sweep()
			}
		}
	}()
	return nil
}

func (m *Manager) runSubscriber(s *subscriber) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for ev := range s.ch {
			s.fn(ev)
		}
	}()
}

// Stop ends the sweeper, lets the subscribers drain their queues and closes the file.
func (m *Manager) Stop() {
	if m.cancel != nil {
		m.cancel()
	}
	m.mu.Lock()
	if m.started {
		for _, s := range m.subs {
			close(s.ch)
		}
		m.started = false
		m.subs = nil
	}
	m.mu.Unlock()
	m.wg.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.file != nil {
		m.file.close()
	}
}

// Raise opens an alert for the report's key, or updates the one ongoing, and returns its id.
func (m *Manager) Raise(r Report) string {
	now := m.now().UTC()
	m.mu.Lock()
	defer m.mu.Unlock()
	typ := EventUpdated
	a := m.alerts[m.ongoing[r.Key]]
	if a == nil {
		typ = EventStarted
		a = &Alert{
			ID:   fmt.Sprintf("%s-%08x", now.Format("20060102T150405Z"), rand.Uint32()),
			Kind: r.Kind, Key: r.Key, State: Ongoing, StartedAt: now, DetectedFlowAt: r.FlowTime.UTC(),
		}
		m.alerts[a.ID] = a
		m.ongoing[r.Key] = a.ID
	}
	m.apply(a, r, now)
	m.emitLocked(typ, a, typ == EventStarted)
	return a.ID
}

// apply copies a report into its alert: the peaks and the series grow, the rest is replaced.
func (m *Manager) apply(a *Alert, r Report, now time.Time) {
	a.Direction, a.Victims, a.Prefix = r.Direction, r.Victims, r.Prefix
	a.Hostgroup, a.Customer, a.Criticality = r.Hostgroup, r.Customer, r.Criticality
	a.Vector, a.Protocol, a.SourcePort = r.Vector, r.Protocol, r.SourcePort
	a.CurrentBps, a.CurrentPps = r.CurrentBps, r.CurrentPps
	a.UsualBps, a.UsualPps = r.UsualBps, r.UsualPps
	a.TopSources, a.SourcePorts, a.DestPorts, a.SourceASNs = r.TopSources, r.SourcePorts, r.DestPorts, r.SourceASNs
	a.Exporters, a.Interfaces, a.PacketSizes = r.Exporters, r.Interfaces, r.PacketSizes
	a.DistinctSources = max(a.DistinctSources, r.DistinctSources)
	if a.AttackStartedAt.IsZero() || (!r.AttackStartedAt.IsZero() && r.AttackStartedAt.Before(a.AttackStartedAt)) {
		a.AttackStartedAt = r.AttackStartedAt
	}
	if len(r.SampleFlows) > 0 {
		a.SampleFlows = r.SampleFlows
	}
	a.Crossed = mergeCrossed(a.Crossed, r.Crossed)
	for _, p := range r.Series {
		if n := len(a.Series); n > 0 && !p.Time.After(a.Series[n-1].Time) {
			// a late record raised an older second: keep the larger figure
			for i := n - 1; i >= 0 && i >= n-120; i-- {
				if a.Series[i].Time.Equal(p.Time) {
					a.Series[i].Bps, a.Series[i].Pps = max(a.Series[i].Bps, p.Bps), max(a.Series[i].Pps, p.Pps)
					break
				}
			}
		} else {
			a.Series = append(a.Series, p)
		}
		if p.Bps > a.PeakBps || (p.Bps == a.PeakBps && p.Pps > a.PeakPps) {
			a.PeakAt = p.Time
		}
		a.PeakBps, a.PeakPps = max(a.PeakBps, p.Bps), max(a.PeakPps, p.Pps)
	}
	a.PeakBps, a.PeakPps = max(a.PeakBps, r.CurrentBps), max(a.PeakPps, r.CurrentPps)
	if a.PeakAt.IsZero() {
		a.PeakAt = now
	}
	if len(a.Series) > m.cfg.SeriesPoints {
		a.Series = halve(a.Series)
	}
	in := r.Threat
	in.Vector, in.Criticality, in.Duration = a.Vector, a.Criticality, now.Sub(a.StartedAt)
	a.ThreatLevel, a.ThreatReasons = ThreatLevel(in)
	a.UpdatedAt = now
}

// End ends the ongoing alert of key, if any, at the given time (the last second over threshold).
func (m *Manager) End(key string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a := m.alerts[m.ongoing[key]]; a != nil {
		m.endLocked(a, at)
	}
}

func (m *Manager) endLocked(a *Alert, at time.Time) {
	at = at.UTC()
	if at.Before(a.AttackStartedAt) {
		at = a.AttackStartedAt
	}
	a.State, a.EndedAt, a.CurrentBps, a.CurrentPps = Ended, &at, 0, 0
	a.UpdatedAt = m.now().UTC()
	delete(m.ongoing, a.Key)
	m.emitLocked(EventEnded, a, true)
}

// Sweep ends the ongoing alerts not updated for StaleAfter, and forgets ended alerts past their
// retention. Start runs it every second.
func (m *Manager) Sweep() {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range m.ongoing {
		if a := m.alerts[id]; now.Sub(a.UpdatedAt) > m.cfg.StaleAfter {
			m.endLocked(a, a.UpdatedAt)
		}
	}
	cutoff := now.Add(-m.cfg.Retention)
	for id, a := range m.alerts {
		if a.State == Ended && a.EndedAt != nil && a.EndedAt.Before(cutoff) {
			delete(m.alerts, id)
			delete(m.persisted, id)
		}
	}
}

// SetMitigation records the mitigation engine's state for an alert (any JSON value; nil clears
// it), saves it and tells the subscribers.
func (m *Manager) SetMitigation(id string, state any) error {
	var raw json.RawMessage
	if state != nil {
		b, err := json.Marshal(state)
		if err != nil {
			return fmt.Errorf("alert %s: mitigation state: %w", id, err)
		}
		raw = b
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.alerts[id]
	if a == nil {
		return fmt.Errorf("alert %s: %w", id, ErrNotFound)
	}
	a.Mitigation = raw
	m.emitLocked(EventMitigation, a, true)
	return nil
}

// emitLocked saves the alert (always when force, else at most every PersistEvery) and queues the
// event for each subscriber.
func (m *Manager) emitLocked(typ EventType, a *Alert, force bool) {
	m.events.WithLabelValues(string(typ)).Inc()
	now := m.now()
	if m.file != nil && (force || now.Sub(m.persisted[a.ID]) >= m.cfg.PersistEvery) {
		if err := m.file.append(a); err != nil {
			m.errs.Inc()
			m.log.Error("saving an alert", "id", a.ID, "err", err)
		}
		m.persisted[a.ID] = now
		if m.file.lines > 8*len(m.alerts)+1024 {
			if err := m.file.rewrite(m.sortedLocked()); err != nil {
				m.errs.Inc()
				m.log.Error("compacting the alerts file", "err", err)
			}
		}
	}
	if len(m.subs) == 0 || !m.started {
		return
	}
	ev := Event{Type: typ, Alert: a.clone()}
	for _, s := range m.subs {
		select {
		case s.ch <- ev:
		default:
			m.dropped.WithLabelValues(s.name).Inc()
		}
	}
}

// Filter selects alerts for List.
type Filter struct {
	State     State     // empty: any
	Kind      string    // empty: any
	Direction string    // empty: any
	Since     time.Time // alerts still ongoing or ended at or after Since
	Limit     int       // 0: all
}

// List returns the alerts the filter selects, newest first, without their series and samples.
func (m *Manager) List(f Filter) []Alert {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []Alert{}
	for _, a := range m.sortedLocked() {
		if (f.State != "" && a.State != f.State) || (f.Kind != "" && a.Kind != f.Kind) ||
			(f.Direction != "" && a.Direction != f.Direction) ||
			(!f.Since.IsZero() && a.EndedAt != nil && a.EndedAt.Before(f.Since)) {
			continue
		}
		out = append(out, a.clone().Summary())
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
	}
	return out
}

// Get returns one alert, whole.
func (m *Manager) Get(id string) (Alert, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.alerts[id]
	if a == nil {
		return Alert{}, fmt.Errorf("alert %s: %w", id, ErrNotFound)
	}
	return a.clone(), nil
}

// sortedLocked lists the alerts newest first.
func (m *Manager) sortedLocked() []*Alert {
	all := make([]*Alert, 0, len(m.alerts))
	for _, a := range m.alerts {
		all = append(all, a)
	}
	slices.SortFunc(all, func(x, y *Alert) int {
		if c := y.StartedAt.Compare(x.StartedAt); c != 0 {
			return c
		}
		return compareStrings(y.ID, x.ID)
	})
	return all
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

// mergeCrossed keeps, for each kind and metric, the highest value seen.
func mergeCrossed(old, cur []Crossing) []Crossing {
	out := append([]Crossing(nil), old...)
	for _, c := range cur {
		found := false
		for i := range out {
			if out[i].Kind == c.Kind && out[i].Metric == c.Metric {
				found = true
				if c.Value > out[i].Value {
					out[i] = c
				}
			}
		}
		if !found {
			out = append(out, c)
		}
	}
	return out
}

// halve merges a series' points two by two, keeping each pair's larger figures.
func halve(s []Point) []Point {
	out := s[:0]
	for i := 0; i < len(s); i += 2 {
		p := s[i]
		if i+1 < len(s) {
			p.Bps, p.Pps = max(p.Bps, s[i+1].Bps), max(p.Pps, s[i+1].Pps)
		}
		out = append(out, p)
	}
	return out
}
