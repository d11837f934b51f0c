package config

import (
	"fmt"
	"net/url"
	"time"
)

// Detection holds the detectors' settings.
type Detection struct {
	DDoS DDoS `yaml:"ddos"`
}

// DDoS is the DDoS detector: what makes an attack, and the default thresholds of every network.
type DDoS struct {
	Enabled bool `yaml:"enabled"`
	// MinDuration is how long a host must stay over a threshold before an alert.
	MinDuration Duration `yaml:"min_duration"`
	// MinSources is the least number of distinct sources an incoming attack must have.
	MinSources int `yaml:"min_sources"`
	// QuietPeriod is how long an attack must stay under its thresholds before its alert ends.
	QuietPeriod Duration `yaml:"quiet_period"`
	// Outgoing also watches our own hosts attacking others.
	Outgoing bool `yaml:"outgoing"`
	// Thresholds are the per-host defaults under every network's own.
	Thresholds Thresholds `yaml:"thresholds"`
	// PrefixThresholds are the per-/24 (per-/64) defaults, for carpet bombing.
	PrefixThresholds Thresholds `yaml:"prefix_thresholds"`
	// CarpetPrefixV4 and CarpetPrefixV6 are the prefix lengths watched for carpet bombing.
	CarpetPrefixV4 int `yaml:"carpet_prefix_v4"`
	CarpetPrefixV6 int `yaml:"carpet_prefix_v6"`
	// CarpetMinHosts is the least number of distinct hosts a carpet-bombing alert must name.
	CarpetMinHosts int `yaml:"carpet_min_hosts"`
	// LateWindow is how far in the past a flow's end may be and still be counted.
	LateWindow Duration `yaml:"late_window"`
	// MaxHosts caps the hosts and prefixes tracked; idle ones are evicted first.
	MaxHosts int `yaml:"max_hosts"`
	// MaxDetailed caps the hosts tracked in detail (those near a threshold).
	MaxDetailed int `yaml:"max_detailed"`
	// Baseline learns each network's usual traffic by hour of week.
	Baseline Baseline `yaml:"baseline"`
	// Clock is wall (the collector's clock, for live traffic) or flow (the newest flow's end:
	// for traffic replayed faster than real time, e.g. yocho simulate --speed 60).
	Clock string `yaml:"clock"`
}

// Baseline is the learned part of the thresholds: an alert needs the traffic over the static
// threshold (the absolute floor) and over Factor times the usual peak of a host of the network at
// this hour of the week, once that hour has been learned.
type Baseline struct {
	Enabled bool    `yaml:"enabled"`
	Factor  float64 `yaml:"factor"`
	// MinSamples is how many seconds of an hour of the week must be seen before it is used.
	MinSamples int `yaml:"min_samples"`
}

// DefaultThresholds are the per-host thresholds used where no network sets its own: 100 Mbps and
// 20 kpps in total and for each kind of traffic. Flows per second have no default: from sampled
// records they are estimated no higher than packets per second.
func DefaultThresholds() Thresholds {
	t := Thresholds{"bps": 100e6, "pps": 20e3}
	for _, k := range []string{"tcp_syn", "udp", "icmp", "fragments"} {
		t[k+"_pps"] = 20e3
	}
	for _, k := range []string{"dns", "ntp", "memcached", "ssdp", "cldap", "chargen", "wsd"} {
		t[k+"_bps"] = 100e6
	}
	return t
}

// DefaultPrefixThresholds are the per-/24 (per-/64) thresholds used where no network sets its own:
// 400 Mbps and 80 kpps over the whole prefix.
func DefaultPrefixThresholds() Thresholds {
	return Thresholds{"bps": 400e6, "pps": 80e3}
}

// DefaultDetection runs the DDoS detector with thresholds that suit a small carrier's customers.
func DefaultDetection() Detection {
	return Detection{DDoS: DDoS{
		Enabled:          true,
		MinDuration:      Duration(2 * time.Second),
		MinSources:       10,
		QuietPeriod:      Duration(60 * time.Second),
		Outgoing:         true,
		Thresholds:       DefaultThresholds(),
		PrefixThresholds: DefaultPrefixThresholds(),
		CarpetPrefixV4:   24,
		CarpetPrefixV6:   64,
		CarpetMinHosts:   8,
		LateWindow:       Duration(60 * time.Second),
		MaxHosts:         1 << 20,
		MaxDetailed:      2048,
		Baseline:         Baseline{Enabled: true, Factor: 1.5, MinSamples: 30},
		Clock:            "wall",
	}}
}

func (d *Detection) validate() error {
	c := &d.DDoS
	switch {
	case c.MinDuration.D() < time.Second:
		return fmt.Errorf("detection.ddos.min_duration: %s is under the 1s step", c.MinDuration.D())
	case c.QuietPeriod.D() < time.Second:
		return fmt.Errorf("detection.ddos.quiet_period: %s is under the 1s step", c.QuietPeriod.D())
	case c.MinSources < 1:
		return fmt.Errorf("detection.ddos.min_sources: %d, want at least 1", c.MinSources)
	case c.CarpetPrefixV4 < 8 || c.CarpetPrefixV4 > 31:
		return fmt.Errorf("detection.ddos.carpet_prefix_v4: %d, want 8 to 31", c.CarpetPrefixV4)
	case c.CarpetPrefixV6 < 16 || c.CarpetPrefixV6 > 127:
		return fmt.Errorf("detection.ddos.carpet_prefix_v6: %d, want 16 to 127", c.CarpetPrefixV6)
	case c.CarpetMinHosts < 2:
		return fmt.Errorf("detection.ddos.carpet_min_hosts: %d, want at least 2", c.CarpetMinHosts)
	case c.LateWindow.D() < 4*time.Second || c.LateWindow.D() > 10*time.Minute:
		return fmt.Errorf("detection.ddos.late_window: %s, want 4s to 10m", c.LateWindow.D())
	case c.LateWindow.D() <= c.MinDuration.D():
		return fmt.Errorf("detection.ddos.late_window: %s must exceed min_duration %s", c.LateWindow.D(), c.MinDuration.D())
	case c.MaxHosts < 1024:
		return fmt.Errorf("detection.ddos.max_hosts: %d, want at least 1024", c.MaxHosts)
	case c.MaxDetailed < 16:
		return fmt.Errorf("detection.ddos.max_detailed: %d, want at least 16", c.MaxDetailed)
	case c.Clock != "wall" && c.Clock != "flow":
		return fmt.Errorf("detection.ddos.clock: %q, want wall or flow", c.Clock)
	case c.Baseline.Enabled && c.Baseline.Factor < 1:
		return fmt.Errorf("detection.ddos.baseline.factor: %v, want at least 1", c.Baseline.Factor)
	}
	return nil
}

// Alerts is where alerts are kept.
type Alerts struct {
	// Retention is how long an ended alert is kept.
	Retention Duration `yaml:"retention"`
}

// DefaultAlerts keeps alerts 90 days.
func DefaultAlerts() Alerts { return Alerts{Retention: Duration(90 * 24 * time.Hour)} }

func (a *Alerts) validate() error {
	if a.Retention.D() < time.Hour {
		return fmt.Errorf("alerts.retention: %s, want at least 1h", a.Retention.D())
	}
	return nil
}

// Notify lists where alert events are sent. Nothing is sent anywhere this section does not name.
type Notify struct {
	// Log writes every alert event to yocho's log.
	Log      bool            `yaml:"log"`
	Webhooks []WebhookNotify `yaml:"webhooks"`
	Syslog   []SyslogNotify  `yaml:"syslog"`
}

// WebhookNotify posts each alert event as JSON to a URL.
type WebhookNotify struct {
	URL string `yaml:"url"`
	// Secret signs each body: header X-Yocho-Signature: sha256=<hex HMAC-SHA256(secret, body)>.
	Secret     string   `yaml:"secret"`
	Events     []string `yaml:"events"` // started, updated, ended, mitigation; empty = started, ended
	Timeout    Duration `yaml:"timeout"`
	MaxRetries int      `yaml:"max_retries"`
}

// SyslogNotify sends each alert event as an RFC 5424 message.
type SyslogNotify struct {
	Address  string   `yaml:"address"`  // host:port
	Network  string   `yaml:"network"`  // udp (default) or tcp
	Facility int      `yaml:"facility"` // 0-23, default 16 (local0)
	Events   []string `yaml:"events"`
}

// DefaultNotify logs alert events and sends nothing.
func DefaultNotify() Notify { return Notify{Log: true} }

func alertEvents() []string { return []string{"started", "updated", "ended", "mitigation"} }

func (n *Notify) validate() error {
	for i, w := range n.Webhooks {
		key := fmt.Sprintf("notify.webhooks[%d]", i)
		u, err := url.Parse(w.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s.url: %q is not an http(s) URL", key, w.URL)
		}
		if w.MaxRetries < 0 {
			return fmt.Errorf("%s.max_retries: %d is negative", key, w.MaxRetries)
		}
		if err := checkEvents(key, w.Events); err != nil {
			return err
		}
	}
	for i, s := range n.Syslog {
		key := fmt.Sprintf("notify.syslog[%d]", i)
		if s.Address == "" {
			return fmt.Errorf("%s.address: missing", key)
		}
		if s.Network != "" && s.Network != "udp" && s.Network != "tcp" {
			return fmt.Errorf("%s.network: %q, want udp or tcp", key, s.Network)
		}
		if s.Facility < 0 || s.Facility > 23 {
			return fmt.Errorf("%s.facility: %d, want 0 to 23", key, s.Facility)
		}
		if err := checkEvents(key, s.Events); err != nil {
			return err
		}
	}
	return nil
}

func checkEvents(key string, events []string) error {
	for _, e := range events {
		if indexOf(alertEvents(), e) < 0 {
			return fmt.Errorf("%s.events: %q, want started, updated, ended or mitigation", key, e)
		}
	}
	return nil
}
