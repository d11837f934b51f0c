package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written as Go writes durations ("90s", "1h30m") or in days ("15d").
type Duration time.Duration

// ParseDuration reads a duration such as "15d", "36h" or "90s".
func ParseDuration(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(d, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q (want e.g. 90s, 10m, 36h, 15d)", s)
	}
	return d, nil
}

// UnmarshalYAML reads a duration, naming the line when it is malformed or negative.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return lineError(n, "%v", err)
	}
	if v < 0 {
		return lineError(n, "duration %q is negative", n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration back in Go's notation.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D is the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Rate is a per-second quantity written with an SI suffix: "1G", "100k", "2.5M", or a plain number.
type Rate float64

// ParseRate reads "1G", "100k", "2.5M", "1500".
func ParseRate(s string) (float64, error) {
	mult := 1.0
	t := strings.TrimSpace(s)
	if t != "" {
		switch t[len(t)-1] {
		case 'k', 'K':
			mult, t = 1e3, t[:len(t)-1]
		case 'M':
			mult, t = 1e6, t[:len(t)-1]
		case 'G':
			mult, t = 1e9, t[:len(t)-1]
		case 'T':
			mult, t = 1e12, t[:len(t)-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad rate %q (want e.g. 1500, 100k, 2.5M, 1G)", s)
	}
	return v * mult, nil
}

// UnmarshalYAML reads a rate, naming the line when it is malformed.
func (r *Rate) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseRate(n.Value)
	if err != nil {
		return lineError(n, "%v", err)
	}
	*r = Rate(v)
	return nil
}

// Addr is an IPv4 or IPv6 address in the file.
type Addr struct{ netip.Addr }

// UnmarshalYAML reads an address, naming the line when it is malformed.
func (a *Addr) UnmarshalYAML(n *yaml.Node) error {
	v, err := netip.ParseAddr(n.Value)
	if err != nil {
		return lineError(n, "bad address %q", n.Value)
	}
	a.Addr = v
	return nil
}

// MarshalYAML writes the address as text.
func (a Addr) MarshalYAML() (any, error) { return a.String(), nil }

// Prefix is an IPv4 or IPv6 prefix in the file, such as 198.51.100.0/24. Host bits must be zero.
type Prefix struct{ netip.Prefix }

// UnmarshalYAML reads a prefix, naming the line when it is malformed or has host bits set.
func (p *Prefix) UnmarshalYAML(n *yaml.Node) error {
	v, err := netip.ParsePrefix(n.Value)
	if err != nil {
		return lineError(n, "bad prefix %q", n.Value)
	}
	if v.Masked() != v {
		return lineError(n, "prefix %q has host bits set (did you mean %s?)", n.Value, v.Masked())
	}
	p.Prefix = v
	return nil
}

// MarshalYAML writes the prefix as text.
func (p Prefix) MarshalYAML() (any, error) { return p.String(), nil }

// ListenAddr is a host:port to listen on; the host must be an IP address.
type ListenAddr string

// UnmarshalYAML reads a listen address, naming the line when it is malformed.
func (l *ListenAddr) UnmarshalYAML(n *yaml.Node) error {
	if _, err := netip.ParseAddrPort(n.Value); err != nil {
		return lineError(n, "bad listen address %q (want IP:port, e.g. 127.0.0.1:2055 or [::1]:2055)", n.Value)
	}
	*l = ListenAddr(n.Value)
	return nil
}

// SamplingRate is a "1 in N packets" sampling rate; N is at least 1.
type SamplingRate uint32

// UnmarshalYAML reads a rate of at least 1, naming the line otherwise.
func (r *SamplingRate) UnmarshalYAML(n *yaml.Node) error {
	v, err := strconv.ParseUint(n.Value, 10, 32)
	if err != nil || v == 0 {
		return lineError(n, "bad sampling rate %q (want a whole number >= 1: 1 in N packets)", n.Value)
	}
	*r = SamplingRate(v)
	return nil
}
