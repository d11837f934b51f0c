// Package notify sends alert events to the outside world: a webhook (signed JSON), syslog
// (RFC 5424 over UDP or TCP) and yocho's own log. Each notifier subscribes to the alert manager's
// events (alert.Manager.Subscribe) and sends only where the configuration names.
package notify

import (
	"context"
	"log/slog"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/alert"
)

// Metrics are the notifiers' counters, shared by every notifier of a process.
type Metrics struct {
	sent *prometheus.CounterVec
}

// NewMetrics registers the notifiers' metrics on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{sent: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "yocho", Subsystem: "notify", Name: "events_total",
		Help: "Alert events sent by notifiers, by notifier and result (sent, retried, failed, dropped).",
	}, []string{"notifier", "result"})}
	if reg != nil {
		reg.MustRegister(m.sent)
	}
	return m
}

func (m *Metrics) count(notifier, result string) {
	if m != nil {
		m.sent.WithLabelValues(notifier, result).Inc()
	}
}

// wants reports whether an event type is among those asked for; none asked means started and ended.
func wants(events []string, t alert.EventType) bool {
	if len(events) == 0 {
		return t == alert.EventStarted || t == alert.EventEnded
	}
	return slices.Contains(events, string(t))
}

// Log writes alert events to a structured log.
type Log struct{ log *slog.Logger }

// NewLog returns a notifier that writes to log.
func NewLog(log *slog.Logger) *Log {
	if log == nil {
		log = slog.Default()
	}
	return &Log{log: log}
}

// Handle logs one event: a warning when an alert starts, information when it ends or its
// mitigation changes; updates (every second of an attack) are not logged.
func (l *Log) Handle(ev alert.Event) {
	if ev.Type == alert.EventUpdated {
		return
	}
	a := ev.Alert
	level := slog.LevelInfo
	if ev.Type == alert.EventStarted {
		level = slog.LevelWarn
	}
	l.log.Log(context.Background(), level, "alert "+string(ev.Type),
		"id", a.ID, "kind", a.Kind, "direction", a.Direction, "vector", a.Vector,
		"victims", a.Victims, "prefix", a.Prefix, "threat_level", a.ThreatLevel,
		"peak_bps", a.PeakBps, "peak_pps", a.PeakPps, "state", a.State)
}
