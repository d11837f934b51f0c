// Package intel holds the indicator feeds of C&C servers: addresses, prefixes and domains named
// by threat-intelligence sources, each with the source's name and its confidence.
//
// Feeds are files on disk (plain lists, CSV, STIX 2.1 bundles, honeypot exports; see Format),
// named in the config. A Store parses them all into one index on Start and re-parses a feed
// whenever its file changes (checked every Interval); a feed that fails to parse keeps its last
// good content. Detectors look addresses and domains up; nothing is sent anywhere.
package intel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Format is how a feed file is written.
type Format string

// The feed formats.
const (
	// FormatList is one indicator a line: an address, a prefix or a domain; "#" starts a comment.
	FormatList Format = "list"
	// FormatCSV has one indicator a row, in the column named indicator, ip, ip_address, dst_ip,
	// value, domain or host (else the first); a confidence column, when present, overrides the
	// feed's. Lines starting with "#" are comments.
	FormatCSV Format = "csv"
	// FormatSTIX is a STIX 2.1 bundle: indicators whose pattern compares ipv4-addr:value,
	// ipv6-addr:value or domain-name:value to a constant (= or ISSUBSET), joined by OR.
	FormatSTIX Format = "stix"
	// FormatHoneypot is a honeypot's JSON-lines export (Cowrie style): the hosts of "url" fields
	// (where captured malware was fetched from) and "c2"/"cnc" fields. Source addresses are not
	// taken: they are the bots that attacked the honeypot, not their servers.
	FormatHoneypot Format = "honeypot"
)

// Feed is one indicator file.
type Feed struct {
	Name   string
	Path   string
	Format Format
	// Confidence (0–100) is given to indicators that carry none.
	Confidence int
}

// Config is the store's configuration.
type Config struct {
	Feeds []Feed
	// Interval is how often files are checked for changes.
	Interval time.Duration
}

// DefaultConfig has no feeds and checks files every 30 seconds.
func DefaultConfig() Config { return Config{Interval: 30 * time.Second} }

// Kind is what an indicator names.
type Kind string

// Indicator kinds.
const (
	KindAddr   Kind = "address"
	KindPrefix Kind = "prefix"
	KindDomain Kind = "domain"
)

// Indicator is one entry of a feed.
type Indicator struct {
	Kind       Kind
	Value      string // the address, prefix or domain as text (domains in lower case)
	Confidence int
	Name       string // what the feed calls it (malware family, STIX name), may be empty
}

// Match is an indicator that matched, with its source.
type Match struct {
	Source     string `json:"source"`
	Indicator  string `json:"indicator"`
	Kind       Kind   `json:"kind"`
	Confidence int    `json:"confidence"`
	Name       string `json:"name,omitempty"`
}

// index is every feed's indicators, ready for lookups. It is replaced on each reload, never
// modified once published.
type index struct {
	addrs    map[netip.Addr][]Match
	prefixes []prefixMatch
	domains  map[string][]Match
}

type prefixMatch struct {
	p netip.Prefix
	m Match
}

// feedState is a feed's last good content and the file version it came from.
type feedState struct {
	inds    []Indicator
	modTime time.Time
	size    int64
	loaded  bool
}

// Store is the set of feeds, reloaded on change. Lookups are safe for concurrent use.
type Store struct {
	cfg   Config
	log   *slog.Logger
	idx   atomic.Pointer[index]
	mu    sync.Mutex // serialises reloads
	state []feedState

	reloads  *prometheus.CounterVec
	rejected *prometheus.CounterVec
	count    *prometheus.GaugeVec

	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a store for cfg's feeds; it reads nothing until Start or Reload.
func New(cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Store, error) {
	for i, f := range cfg.Feeds {
		switch f.Format {
		case FormatList, FormatCSV, FormatSTIX, FormatHoneypot:
		default:
			return nil, fmt.Errorf("feed %d (%s): unknown format %q (want list, csv, stix or honeypot)", i, f.Name, f.Format)
		}
		if f.Path == "" || f.Name == "" {
			return nil, fmt.Errorf("feed %d: name and path are required", i)
		}
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultConfig().Interval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{cfg: cfg, log: log, state: make([]feedState, len(cfg.Feeds)),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "yocho_intel_reloads_total",
			Help: "Feed files read, by feed and result (ok, error)."}, []string{"feed", "result"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "yocho_intel_rejected_total",
			Help: "Feed entries that were not usable indicators, by feed and reason."}, []string{"feed", "reason"}),
		count: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "yocho_intel_indicators",
			Help: "Indicators loaded, by feed."}, []string{"feed"}),
	}
	s.idx.Store(&index{})
	if reg != nil {
		for _, c := range []prometheus.Collector{s.reloads, s.rejected, s.count} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// Start loads every feed, then checks for changes every Interval until Stop. A feed that cannot
// be read at start is logged and retried; it does not stop the store.
func (s *Store) Start(ctx context.Context) error {
	if err := s.Reload(); err != nil {
		s.log.Warn("intel feeds", "err", err)
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := s.Reload(); err != nil {
					s.log.Warn("intel feeds", "err", err)
				}
			}
		}
	}()
	return nil
}

// Stop ends the change checks.
func (s *Store) Stop() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
	}
}

// Reload re-reads the feeds whose files changed since they were last read, and publishes a new
// index when any did. It returns the errors of the feeds that failed (they keep their content).
func (s *Store) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	var errs []error
	for i, f := range s.cfg.Feeds {
		st := &s.state[i]
		fi, err := os.Stat(f.Path)
		if err != nil {
			s.reloads.WithLabelValues(f.Name, "error").Inc()
			errs = append(errs, fmt.Errorf("feed %s: %w", f.Name, err))
			continue
		}
		if st.loaded && fi.ModTime().Equal(st.modTime) && fi.Size() == st.size {
			continue
		}
		data, err := os.ReadFile(f.Path)
		if err != nil {
			s.reloads.WithLabelValues(f.Name, "error").Inc()
			errs = append(errs, fmt.Errorf("feed %s: %w", f.Name, err))
			continue
		}
		inds, rej, err := Parse(f.Format, data, f.Confidence)
		for reason, n := range rej {
			s.rejected.WithLabelValues(f.Name, reason).Add(float64(n))
		}
		if err != nil {
			s.reloads.WithLabelValues(f.Name, "error").Inc()
			errs = append(errs, fmt.Errorf("feed %s (%s): %w", f.Name, f.Path, err))
			continue
		}
		*st = feedState{inds: inds, modTime: fi.ModTime(), size: fi.Size(), loaded: true}
		s.reloads.WithLabelValues(f.Name, "ok").Inc()
		s.count.WithLabelValues(f.Name).Set(float64(len(inds)))
		s.log.Info("intel feed loaded", "feed", f.Name, "indicators", len(inds))
		changed = true
	}
	if changed {
		s.publish()
	}
	return errors.Join(errs...)
}

func (s *Store) publish() {
	idx := &index{addrs: map[netip.Addr][]Match{}, domains: map[string][]Match{}}
	for i, f := range s.cfg.Feeds {
		for _, ind := range s.state[i].inds {
			m := Match{Source: f.Name, Indicator: ind.Value, Kind: ind.Kind, Confidence: ind.Confidence, Name: ind.Name}
			switch ind.Kind {
			case KindAddr:
				a := netip.MustParseAddr(ind.Value)
				idx.addrs[a] = append(idx.addrs[a], m)
			case KindPrefix:
				idx.prefixes = append(idx.prefixes, prefixMatch{netip.MustParsePrefix(ind.Value), m})
			case KindDomain:
				idx.domains[ind.Value] = append(idx.domains[ind.Value], m)
			}
		}
	}
	s.idx.Store(idx)
}

// LookupAddr returns the indicators naming a, directly or by a prefix holding it.
func (s *Store) LookupAddr(a netip.Addr) []Match {
	idx := s.idx.Load()
	a = a.Unmap()
	out := idx.addrs[a]
	for _, p := range idx.prefixes {
		if p.p.Contains(a) {
			out = append(out[:len(out):len(out)], p.m)
		}
	}
	return out
}

// LookupDomain returns the indicators naming domain or one of its parents.
func (s *Store) LookupDomain(domain string) []Match {
	idx := s.idx.Load()
	d := strings.TrimSuffix(strings.ToLower(domain), ".")
	var out []Match
	for d != "" {
		out = append(out, idx.domains[d]...)
		i := strings.IndexByte(d, '.')
		if i < 0 {
			break
		}
		d = d[i+1:]
	}
	return out
}

// Len is the number of indicators loaded.
func (s *Store) Len() int {
	idx := s.idx.Load()
	n := len(idx.prefixes)
	for _, m := range idx.addrs {
		n += len(m)
	}
	for _, m := range idx.domains {
		n += len(m)
	}
	return n
}
