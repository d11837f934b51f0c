package notify

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"yocho/internal/alert"
)

// SyslogConfig is one syslog destination.
type SyslogConfig struct {
	Address  string // host:port
	Network  string // udp (default) or tcp
	Facility int    // 0-23; default 16 (local0)
	Events   []string
	Hostname string // default: the machine's name
	Timeout  time.Duration
}

// Syslog sends alert events as RFC 5424 messages: one datagram each over UDP, octet-counted
// frames (RFC 6587) over TCP, reconnecting when the connection breaks.
type Syslog struct {
	cfg     SyslogConfig
	metrics *Metrics
	log     *slog.Logger

	mu   sync.Mutex
	conn net.Conn
}

// NewSyslog returns a syslog notifier; it does no I/O (it connects on the first event).
func NewSyslog(cfg SyslogConfig, metrics *Metrics, log *slog.Logger) *Syslog {
	if cfg.Network == "" {
		cfg.Network = "udp"
	}
	if cfg.Facility == 0 {
		cfg.Facility = 16
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	return &Syslog{cfg: cfg, metrics: metrics, log: log}
}

// Handle sends one event if it is of a wanted type; it is the function to subscribe.
func (s *Syslog) Handle(ev alert.Event) {
	if !wants(s.cfg.Events, ev.Type) {
		return
	}
	if err := s.Send(ev, time.Now()); err != nil {
		s.log.Warn("syslog failed", "address", s.cfg.Address, "alert", ev.Alert.ID, "err", err)
	}
}

// Stop closes the connection.
func (s *Syslog) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// Send writes one event; over TCP a broken connection is reopened once.
func (s *Syslog) Send(ev alert.Event, now time.Time) error {
	msg := Format5424(ev, s.cfg.Facility, s.cfg.Hostname, now)
	if s.cfg.Network == "tcp" {
		msg = fmt.Sprintf("%d %s", len(msg), msg)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		if s.conn == nil {
			s.conn, err = net.DialTimeout(s.cfg.Network, s.cfg.Address, s.cfg.Timeout)
			if err != nil {
				continue
			}
		}
		_ = s.conn.SetWriteDeadline(time.Now().Add(s.cfg.Timeout))
		if _, err = s.conn.Write([]byte(msg)); err == nil {
			s.metrics.count("syslog", "sent")
			return nil
		}
		s.conn.Close()
		s.conn = nil
	}
	s.metrics.count("syslog", "failed")
	return fmt.Errorf("syslog %s/%s: %w", s.cfg.Network, s.cfg.Address, err)
}

// Severity maps an event to a syslog severity: the threat level of a started or updated attack
// (critical from 80, error from 60, warning from 40, else notice); informational once ended.
func Severity(ev alert.Event) int {
	if ev.Type == alert.EventEnded {
		return 6
	}
	switch t := ev.Alert.ThreatLevel; {
	case t >= 80:
		return 2
	case t >= 60:
		return 3
	case t >= 40:
		return 4
	}
	return 5
}

// sdID is yocho's structured data id (an enterprise number for private use; see RFC 5424 7.2.2).
const sdID = "yocho@32473"

// Format5424 renders an event as one RFC 5424 message:
// <PRI>1 TIMESTAMP HOSTNAME yocho - MSGID [yocho@32473 ...] text.
func Format5424(ev alert.Event, facility int, hostname string, now time.Time) string {
	a := ev.Alert
	pri := facility*8 + Severity(ev)
	victims := make([]string, len(a.Victims))
	for i, v := range a.Victims {
		victims[i] = v.String()
	}
	var sd strings.Builder
	sd.WriteString("[" + sdID)
	param := func(k, v string) { fmt.Fprintf(&sd, ` %s="%s"`, k, sdEscape(v)) }
	param("event", string(ev.Type))
	param("id", a.ID)
	param("kind", a.Kind)
	param("direction", a.Direction)
	param("state", string(a.State))
	param("vector", a.Vector)
	param("victims", strings.Join(victims, ","))
	if a.Prefix.IsValid() {
		param("prefix", a.Prefix.String())
	}
	param("threat_level", fmt.Sprint(a.ThreatLevel))
	param("peak_bps", fmt.Sprintf("%.0f", a.PeakBps))
	param("peak_pps", fmt.Sprintf("%.0f", a.PeakPps))
	sd.WriteString("]")
	target := strings.Join(victims, ",")
	if a.Prefix.IsValid() {
		target = a.Prefix.String()
	}
	text := fmt.Sprintf("%s %s %s on %s: %s, peak %.0f bps %.0f pps, threat level %d",
		a.Kind, a.Direction, ev.Type, target, a.Vector, a.PeakBps, a.PeakPps, a.ThreatLevel)
	host := hostname
	if host == "" {
		host = "-"
	}
	return fmt.Sprintf("<%d>1 %s %s yocho - %s %s %s", pri, now.UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
		printUS(host, 255), "alert-"+string(ev.Type), sd.String(), text)
}

// sdEscape escapes a structured data parameter value (RFC 5424 6.3.3).
func sdEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(s)
}

// printUS keeps the printable US-ASCII characters RFC 5424 allows in header fields.
func printUS(s string, n int) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < n; i++ {
		if s[i] >= 33 && s[i] <= 126 {
			b = append(b, s[i])
		}
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}
