package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/config"
	"yocho/internal/flow"
	"yocho/internal/query"
)

// Config is the store's configuration.
type Config struct {
	Dir       string          // where the tiers live
	Retention query.Retention // per tier name; see DefaultRetention
	// FlushInterval is how often staged flows are written to disk: the most traffic a kill -9
	// loses (with the queue).
	FlushInterval time.Duration
	FlushRows     int // flush earlier when this many flows are staged
	QueueFlows    int // flows queued between Consume and the writer; more are dropped
	// CompactInterval is how often partitions are merged and retention is applied.
	CompactInterval time.Duration
	// MergeChunks is how many chunk files a still-open partition gathers before it is merged.
	MergeChunks int
	Threads     int    // DuckDB threads of the writer (ingest runs on one)
	MemoryLimit string // DuckDB memory limit of the writer, e.g. "2GB"
}

// DefaultRetention keeps raw flows 15 days, 1-minute roll-ups 30 days, 5-minute 90 days and
// hourly 400 days.
func DefaultRetention() query.Retention {
	return query.Retention{"raw": 15 * 24 * time.Hour, "1m": 30 * 24 * time.Hour, "5m": 90 * 24 * time.Hour, "1h": 400 * 24 * time.Hour}
}

// DefaultConfig keeps data in ./yocho-data, flushed every 5 seconds.
func DefaultConfig() Config {
	return Config{
		Dir:             "./yocho-data",
		Retention:       DefaultRetention(),
		FlushInterval:   5 * time.Second,
		FlushRows:       2_000_000,
		QueueFlows:      1 << 20,
		CompactInterval: time.Minute,
		MergeChunks:     12,
		Threads:         1,
		MemoryLimit:     "2GB",
	}
}

// FromConfig is the store configuration of the storage section of the config file.
func FromConfig(c config.Storage) Config {
	cfg := DefaultConfig()
	cfg.Dir = c.Path
	cfg.Retention = RetentionFromConfig(c)
	if c.FlushInterval > 0 {
		cfg.FlushInterval = c.FlushInterval.D()
	}
	if c.QueueFlows > 0 {
		cfg.QueueFlows = c.QueueFlows
	}
	return cfg
}

// RetentionFromConfig is the per-tier retention of the storage section.
func RetentionFromConfig(c config.Storage) query.Retention {
	return query.Retention{"raw": c.Retention.Raw.D(), "1m": c.Retention.M1.D(), "5m": c.Retention.M5.D(), "1h": c.Retention.H1.D()}
}

// Store keeps flows on disk and answers queries on them. It is a flow.Consumer.
type Store struct {
	cfg Config
	log *slog.Logger
	m   *metrics
	now func() time.Time

	pool  stagePool
	queue chan *stage
	syncs chan chan error
	stop  chan struct{}
	wg    sync.WaitGroup

	mu      sync.Mutex // guards running
	running bool

	// cmu serialises the compactor's work on the writer's DuckDB connection: roll-ups, merges.
	cmu    sync.Mutex
	heavyK int // heavy hitters kept per hour and metric (defaultHeavyK)
	// rolled is the highest raw chunk number that every roll-up tier holds: raw chunks above it
	// must not be merged away yet.
	rolled atomic.Int64

	w      *writer
	reader *Reader
}

// New returns a store; it does no I/O until Start. Its metrics are registered on reg.
func New(cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Store, error) {
	def := DefaultConfig()
	if cfg.Dir == "" {
		return nil, errors.New("store: no directory")
	}
	if cfg.Retention == nil {
		cfg.Retention = def.Retention
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = def.FlushInterval
	}
	if cfg.FlushRows <= 0 {
		cfg.FlushRows = def.FlushRows
	}
	if cfg.QueueFlows <= 0 {
		cfg.QueueFlows = def.QueueFlows
	}
	if cfg.CompactInterval <= 0 {
		cfg.CompactInterval = def.CompactInterval
	}
	if cfg.MergeChunks <= 1 {
		cfg.MergeChunks = def.MergeChunks
	}
	if cfg.Threads <= 0 {
		cfg.Threads = def.Threads
	}
	if cfg.MemoryLimit == "" {
		cfg.MemoryLimit = def.MemoryLimit
	}
	if log == nil {
		log = slog.Default()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	depth := cfg.QueueFlows / flow.DefaultBatchSize
	if depth < 4 {
		depth = 4
	}
	return &Store{
		cfg: cfg, log: log, m: m, now: time.Now, heavyK: defaultHeavyK,
		queue: make(chan *stage, depth),
		syncs: make(chan chan error),
		stop:  make(chan struct{}),
	}, nil
}

// Start opens the store: it creates the directory, removes what a crash left half written,
// and starts the writer and the compactor.
func (s *Store) Start(ctx context.Context) error {
	if err := os.MkdirAll(s.cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	seq, err := recoverDir(s.cfg.Dir)
	if err != nil {
		return fmt.Errorf("store: recovering %s: %w", s.cfg.Dir, err)
	}
	w, err := openWriter(s.cfg, &s.pool, seq+1)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	s.w = w
	r, err := OpenReader(s.cfg.Dir, s.cfg.Retention)
	if err != nil {
		w.close()
		return err
	}
	r.now = func() time.Time { return s.now() }
	s.reader = r
	s.mu.Lock()
	s.running = true
	s.mu.Unlock()
	s.wg.Add(2)
	go s.writeLoop()
	go s.compactLoop(ctx)
	return nil
}

// Stop writes what is queued and staged, stops the goroutines and closes the files.
func (s *Store) Stop() {
	s.mu.Lock()
	if !s.running {
		s.mu.Unlock()
		return
	}
	s.running = false
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
	s.cmu.Lock()
	if err := s.rollUp(); err != nil {
		s.log.Error("store: roll-up", "err", err)
	}
	s.cmu.Unlock()
	s.w.close()
	s.reader.Close()
}

// Consume queues a copy of b for writing, converted to the raw tier's columns (see stage). It
// never blocks: when the queue is full the flows are dropped and counted.
func (s *Store) Consume(b *flow.Batch) {
	n := b.Len()
	if n == 0 {
		return
	}
	if len(s.queue) == cap(s.queue) { // full: do not even copy
		s.m.dropped.WithLabelValues("queue_full").Add(float64(n))
		return
	}
	c := s.pool.get()
	c.add(b)
	select {
	case s.queue <- c:
		s.m.queued.Add(float64(n))
	default:
		s.pool.put(c)
		s.m.dropped.WithLabelValues("queue_full").Add(float64(n))
	}
}

// Sync writes every flow consumed so far to disk, sums it into the roll-ups, and returns once
// every tier can read it.
func (s *Store) Sync() error {
	ch := make(chan error, 1)
	select {
	case s.syncs <- ch:
		if err := <-ch; err != nil {
			return err
		}
	case <-s.stop:
		return errors.New("store: stopped")
	}
	s.cmu.Lock()
	defer s.cmu.Unlock()
	return s.rollUp()
}

// Reader is the store's query side.
func (s *Store) Reader() *Reader { return s.reader }

// Top answers a top-N request.
func (s *Store) Top(ctx context.Context, req query.TopRequest) (*query.TopResult, error) {
	return s.reader.Top(ctx, req)
}

// Series answers a time-series request.
func (s *Store) Series(ctx context.Context, req query.SeriesRequest) (*query.SeriesResult, error) {
	return s.reader.Series(ctx, req)
}

// Flows answers a flow search.
func (s *Store) Flows(ctx context.Context, req query.FlowsRequest) (*query.FlowsResult, error) {
	return s.reader.Flows(ctx, req)
}

func (s *Store) writeLoop() {
	defer s.wg.Done()
	tick := time.NewTicker(s.cfg.FlushInterval)
	defer tick.Stop()
	take := func(b *stage) {
		s.m.queued.Sub(float64(b.len()))
		s.w.append(b) // the writer owns b now
		if s.w.nrows >= s.cfg.FlushRows {
			s.flush()
		}
	}
	drain := func() {
		for {
			select {
			case b := <-s.queue:
				take(b)
			default:
				return
			}
		}
	}
	for {
		select {
		case b := <-s.queue:
			take(b)
		case <-tick.C:
			s.flush()
		case ch := <-s.syncs:
			drain()
			ch <- s.flush()
		case <-s.stop:
			drain()
			s.flush()
			return
		}
	}
}

func (s *Store) flush() error {
	n := s.w.nrows
	if n == 0 {
		return nil
	}
	start := time.Now()
	err := s.w.flush()
	s.m.flushSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		s.log.Error("store: flush", "err", err, "flows", n)
		s.m.dropped.WithLabelValues("write_error").Add(float64(n))
		return err
	}
	s.m.stored.Add(float64(n))
	s.m.flushes.Inc()
	return nil
}

func (s *Store) compactLoop(ctx context.Context) {
	defer s.wg.Done()
	tick := time.NewTicker(s.cfg.CompactInterval)
	defer tick.Stop()
	roll := time.NewTicker(s.cfg.FlushInterval)
	defer roll.Stop()
	var superseded []string
	// what a crash left un-summed is summed first
	s.cmu.Lock()
	if err := s.rollUp(); err != nil {
		s.log.Error("store: roll-up", "err", err)
	}
	s.cmu.Unlock()
	for {
		select {
		case <-roll.C:
			s.cmu.Lock()
			if err := s.rollUp(); err != nil {
				s.log.Error("store: roll-up", "err", err)
			}
			s.cmu.Unlock()
		case <-tick.C:
			// files superseded by the previous pass are deleted now: readers that listed them
			// before have had a whole interval to finish
			for _, f := range superseded {
				_ = os.Remove(f)
			}
			superseded = nil
			if err := s.ApplyRetention(); err != nil {
				s.log.Error("store: retention", "err", err)
			}
			sup, err := s.Compact(false)
			if err != nil {
				s.log.Error("store: compaction", "err", err)
				s.m.errors.WithLabelValues("compact").Inc()
			}
			superseded = sup
		case <-s.stop:
			return
		case <-ctx.Done():
			return
		}
	}
}

// ApplyRetention drops every partition whose whole span is older than its tier's retention.
func (s *Store) ApplyRetention() error {
	now := s.now()
	var errs []error
	for _, t := range allTiers() {
		keep := s.cfg.Retention[t.RetentionName()]
		if strings.HasPrefix(t.Name, "hh-") { // heavy hitters: as long as raw
			keep = s.cfg.Retention[query.TierRaw.Name]
		}
		if keep <= 0 {
			continue
		}
		parts, err := listPartitions(s.cfg.Dir, t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, p := range parts {
			if p.end().After(now.Add(-keep)) {
				break
			}
			if err := dropPartition(p); err != nil {
				errs = append(errs, err)
				continue
			}
			s.m.partitionsDropped.WithLabelValues(t.Name).Inc()
			s.log.Info("store: partition dropped by retention", "tier", t.Name, "partition", p.name)
		}
	}
	return errors.Join(errs...)
}

// dropPartition renames the partition away (atomically: readers see all of it or none) and
// deletes it.
func dropPartition(p partition) error {
	trash := filepath.Join(filepath.Dir(p.dir), ".drop-"+p.name)
	if err := os.Rename(p.dir, trash); err != nil {
		return err
	}
	return os.RemoveAll(trash)
}

// Compact merges the files of the partitions that need it: closed partitions with more than one
// live file, and open ones with MergeChunks chunks or more (all of them when force). It returns
// the files it superseded, which the caller deletes once no reader can still be reading them.
func (s *Store) Compact(force bool) ([]string, error) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	now := s.now()
	var superseded []string
	var errs []error
	if err := s.rollUp(); err != nil {
		errs = append(errs, err)
	}
	rolled := s.rolled.Load()
	for _, t := range storedTiers() {
		parts, err := listPartitions(s.cfg.Dir, t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, p := range parts {
			pf, err := listPartition(p.dir)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			closed := p.end().Add(2 * time.Minute).Before(now)
			// A closed partition is merged even from one chunk, or from a merge made while it
			// was open: its final merged file is sorted and compressed hard. Open raw
			// partitions are merged fast (ZSTD level 1) to bound the files a query
			// reads: each such merge rewrites the hour so far, so it must cost little.
			final := closed || force
			need := pf.chunks >= s.cfg.MergeChunks || final && (pf.chunks > 0 || pf.mergedKind == 'o')
			if !need || t.Bucket <= time.Minute && pf.maxSeq > rolled { // chunks not rolled up yet stay
				continue
			}
			start := time.Now()
			if err := s.w.merge(t, p.dir, pf, final); err != nil {
				errs = append(errs, fmt.Errorf("%s/%s: %w", t.Name, p.name, err))
				continue
			}
			s.m.compactions.WithLabelValues(t.Name).Inc()
			s.m.compactSeconds.Observe(time.Since(start).Seconds())
			superseded = append(superseded, pf.live...)
			superseded = append(superseded, pf.superseded...)
		}
	}
	// the heavy hitters of every raw partition merged and without newer chunks
	parts, err := listPartitions(s.cfg.Dir, query.TierRaw)
	if err != nil {
		errs = append(errs, err)
	}
	for _, p := range parts {
		sup, err := s.buildHeavy(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("heavy hitters of %s: %w", p.name, err))
		}
		superseded = append(superseded, sup...)
	}
	return superseded, errors.Join(errs...)
}

// recoverDir deletes what a crash left half written and returns the highest sequence number on
// disk. Superseded files are deleted too: no reader of this process exists yet.
func recoverDir(root string) (int64, error) {
	var maxSeq int64
	for _, t := range allTiers() {
		dir := filepath.Join(root, t.Name)
		ents, err := os.ReadDir(dir)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return 0, err
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".drop-") {
				if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
					return 0, err
				}
			}
		}
		parts, err := listPartitions(root, t)
		if err != nil {
			return 0, err
		}
		for _, p := range parts {
			ents, err := os.ReadDir(p.dir)
			if err != nil {
				return 0, err
			}
			for _, e := range ents {
				if strings.HasSuffix(e.Name(), ".tmp") {
					if err := os.Remove(filepath.Join(p.dir, e.Name())); err != nil {
						return 0, err
					}
				}
			}
			pf, err := listPartition(p.dir)
			if err != nil {
				return 0, err
			}
			for _, f := range pf.superseded {
				if err := os.Remove(f); err != nil {
					return 0, err
				}
			}
			if pf.maxSeq > maxSeq {
				maxSeq = pf.maxSeq
			}
		}
	}
	return maxSeq, nil
}

// DiskUsage is the bytes of live files in each tier.
func DiskUsage(root string) (map[string]int64, error) {
	out := map[string]int64{}
	for _, t := range allTiers() {
		parts, err := listPartitions(root, t)
		if err != nil {
			return nil, err
		}
		for _, p := range parts {
			pf, err := listPartition(p.dir)
			if err != nil {
				return nil, err
			}
			for _, f := range pf.live {
				if st, err := os.Stat(f); err == nil {
					out[t.Name] += st.Size()
				}
			}
		}
	}
	return out, nil
}

// sortedKeys returns the keys of m in ascending order.
func sortedKeys(m map[int64]struct{}) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
