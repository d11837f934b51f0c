package simulate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/flow"
)

// Config says where and how fast the Simulator sends.
type Config struct {
	To       string  // collector host:port for NetFlow/IPFIX (and sFlow when SFlowTo is empty)
	SFlowTo  string  // collector host:port for sFlow exporters; "": To
	Protocol string  // every exporter speaks this; "": each its own (scenario)
	Speed    float64 // simulated seconds per wall second; 0: as fast as possible
	Rate     float64 // benign flows per second at the peak; 0: the scenario's
	Duration time.Duration
	Seed     uint64
	Start    time.Time     // simulated clock at the start; zero: the wall clock at Start
	Step     time.Duration // simulated time per step; default 100 ms
	// BindExporters binds each exporter's socket to its own address, so that the collector
	// tells them apart; default true (see DefaultConfig).
	BindExporters bool
}

// DefaultConfig sends to the default NetFlow port on loopback in real time.
func DefaultConfig() Config {
	return Config{To: "127.0.0.1:2055", Speed: 1, BindExporters: true}
}

// Stats is what the simulator sent, in total and per exporter.
type Stats struct {
	Datagrams        uint64
	Lost             uint64 // datagrams dropped on purpose (scenario loss)
	Records          uint64 // flow records (sFlow: samples) in the datagrams sent
	Packets          uint64 // sampled packets in them
	Bytes            uint64 // sampled bytes in them (sFlow: frame lengths)
	Skipped          uint64 // records the protocol cannot carry (IPv6 in NetFlow v5)
	Errors           uint64 // send errors
	Refused          uint64 // datagrams refused by the collector host (no listener: ICMP port unreachable)
	PerExporter      map[string]ExporterStats
	SimStart, SimEnd time.Time
}

// ExporterStats is what one exporter sent.
type ExporterStats struct {
	Address      netip.Addr
	Protocol     string
	SamplingRate uint32
	Datagrams    uint64
	Records      uint64
	Packets      uint64
	Bytes        uint64
}

// Simulator sends a scenario's traffic to a collector. New does no I/O; Start opens one UDP
// socket per exporter and runs until the scenario ends, the context is done, or Stop.
type Simulator struct {
	cfg  Config
	sc   *Scenario
	log  *slog.Logger
	gen  *Generator
	exps []*simExporter
	m    *metrics

	mu     sync.Mutex
	stats  Stats
	truth  []Truth
	cancel context.CancelFunc
	done   chan struct{}
	err    error

	// owned by the sending goroutine
	firstPending []int    // truth entries whose first record is in the current step
	seen         []bool   // truth entries with a record sent
	recCount     []uint64 // records sent per truth entry
}

type simExporter struct {
	name    string
	proto   string
	addr    netip.Addr
	rate    uint32
	loss    float64
	reorder float64
	conn    *net.UDPConn
	enc     encoder
	held    []byte // a datagram held back to be sent after the next (reordering)
	r       *rng
	sim     *Simulator
	stats   ExporterStats
}

type metrics struct {
	datagrams *prometheus.CounterVec
	records   *prometheus.CounterVec
	lost      *prometheus.CounterVec
	errors    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		datagrams: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "yocho_simulate_datagrams_sent_total", Help: "Export datagrams sent, by exporter."}, []string{"exporter"}),
		records:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "yocho_simulate_records_sent_total", Help: "Flow records (sFlow: samples) sent, by exporter."}, []string{"exporter"}),
		lost:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "yocho_simulate_datagrams_dropped_total", Help: "Datagrams not sent, by exporter and reason (loss: simulated export loss)."}, []string{"exporter", "reason"}),
		errors:    prometheus.NewCounter(prometheus.CounterOpts{Name: "yocho_simulate_send_errors_total", Help: "Datagrams the socket refused."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.datagrams, m.records, m.lost, m.errors} {
			if err := reg.Register(c); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !errors.As(err, &are) {
					panic(err) // a programming error: two metrics with one name
				}
			}
		}
	}
	return m
}

// New prepares a simulator of sc; it does no I/O. reg may be nil.
func New(sc *Scenario, cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Simulator, error) {
	if log == nil {
		log = slog.Default()
	}
	if cfg.Speed < 0 {
		return nil, fmt.Errorf("speed %v is negative", cfg.Speed)
	}
	if cfg.To == "" {
		return nil, errors.New("no collector address (To)")
	}
	s := &Simulator{cfg: cfg, sc: sc, log: log, m: newMetrics(reg)}
	for _, e := range sc.Exporters {
		proto := e.Protocol
		if cfg.Protocol != "" {
			proto = cfg.Protocol
		}
		if proto == "sflow" && !e.Address.Is4() {
			return nil, fmt.Errorf("exporter %s: an sFlow agent address must be IPv4 here, not %s", e.Name, e.Address)
		}
		s.exps = append(s.exps, &simExporter{
			name: e.Name, proto: proto, addr: e.Address.Addr, rate: e.SamplingRate,
			loss: e.Loss, reorder: e.Reorder, sim: s,
			stats: ExporterStats{Address: e.Address.Addr, Protocol: proto, SamplingRate: e.SamplingRate},
		})
	}
	return s, nil
}

// Start opens the sockets and sends in the background until the scenario ends, ctx is done
// or Stop is called; Done is closed then.
func (s *Simulator) Start(ctx context.Context) error {
	start := s.cfg.Start
	if start.IsZero() {
		start = time.Now()
	}
	gen, err := NewGenerator(s.sc, GenConfig{
		Start: start, Step: s.cfg.Step, Seed: s.cfg.Seed, Rate: s.cfg.Rate, Duration: s.cfg.Duration, Protocol: s.cfg.Protocol,
	})
	if err != nil {
		return err
	}
	s.gen = gen
	s.seen = make([]bool, len(gen.Truth()))
	s.recCount = make([]uint64, len(gen.Truth()))
	s.truth = append([]Truth(nil), gen.Truth()...)
	for i, x := range s.exps {
		to := s.cfg.To
		if x.proto == "sflow" && s.cfg.SFlowTo != "" {
			to = s.cfg.SFlowTo
		}
		raddr, err := net.ResolveUDPAddr("udp", to)
		if err != nil {
			s.closeAll()
			return fmt.Errorf("collector address %q: %w", to, err)
		}
		var laddr *net.UDPAddr
		if s.cfg.BindExporters && x.addr.Is4() == (raddr.IP.To4() != nil) {
			laddr = &net.UDPAddr{IP: x.addr.AsSlice()}
		}
		conn, err := net.DialUDP("udp", laddr, raddr)
		if err != nil {
			s.closeAll()
			return fmt.Errorf("exporter %s: socket from %s to %s: %w", x.name, x.addr, to, err)
		}
		_ = conn.SetWriteBuffer(4 << 20)
		x.conn = conn
		x.r = newRNG(s.cfg.Seed + uint64(i)*7919 + 17)
		e := s.sc.Exporters[i]
		x.enc = newEncoder(x.proto, encoderConfig{
			agent: x.addr, rate: x.rate, domain: uint32(i + 1),
			refreshMs: e.TemplateRefresh.D().Milliseconds(),
			bootMs:    gen.startMs - int64(3*24*time.Hour/time.Millisecond) - int64(i)*3600e3,
		}, x.deliver)
	}
	s.mu.Lock()
	s.stats.SimStart, s.stats.SimEnd = gen.Start(), gen.End()
	s.mu.Unlock()
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go s.run(ctx)
	return nil
}

// Run starts the simulator and waits until it is done.
func (s *Simulator) Run(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	<-s.done
	return s.err
}

// Done is closed when the simulator stops sending.
func (s *Simulator) Done() <-chan struct{} { return s.done }

// Stop stops sending and waits for the sender to finish.
func (s *Simulator) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
}

func (s *Simulator) closeAll() {
	for _, x := range s.exps {
		if x.conn != nil {
			x.conn.Close()
			x.conn = nil
		}
	}
}

// Emit implements Emitter: it hands the record to its exporter's encoder.
func (s *Simulator) Emit(e int, r *flow.Record, origin int) {
	x := s.exps[e]
	if origin >= 0 {
		if !s.seen[origin] {
			s.seen[origin] = true
			s.firstPending = append(s.firstPending, origin)
		}
		if x.proto == "sflow" {
			s.recCount[origin] += r.Packets
		} else {
			s.recCount[origin]++
		}
	}
	x.enc.add(r)
}

func (s *Simulator) run(ctx context.Context) {
	defer close(s.done)
	defer s.closeAll()
	wall0 := time.Now()
	sim0 := s.gen.NowMs()
	for {
		if ctx.Err() != nil {
			break
		}
		for _, x := range s.exps {
			x.enc.setTime(s.gen.NextMs())
		}
		if !s.gen.Step(s) {
			break
		}
		for _, x := range s.exps {
			x.enc.setTime(s.gen.NowMs())
			x.enc.flush()
			x.release()
		}
		now := time.Now()
		s.mu.Lock()
		for _, i := range s.firstPending {
			t := now.UTC()
			s.truth[i].FirstSentAt = &t
		}
		for i, n := range s.recCount {
			s.truth[i].Records = n
		}
		s.stats.Skipped = 0
		for _, x := range s.exps {
			s.stats.Skipped += x.enc.skipped()
		}
		s.mu.Unlock()
		s.firstPending = s.firstPending[:0]
		if s.cfg.Speed > 0 {
			due := wall0.Add(time.Duration(float64(time.Duration(s.gen.NowMs()-sim0)*time.Millisecond) / s.cfg.Speed))
			if d := time.Until(due); d > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(d):
				}
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.SimEnd = s.gen.Now()
	// Cut short: the truth ends when the run did, and what never began is dropped.
	kept := s.truth[:0]
	for _, t := range s.truth {
		if !t.Start.Before(s.stats.SimEnd) {
			continue
		}
		if t.End.After(s.stats.SimEnd) {
			t.End = s.stats.SimEnd
		}
		kept = append(kept, t)
	}
	s.truth = kept
}

// deliver sends (or loses, or holds back) one datagram.
func (x *simExporter) deliver(d *Datagram) {
	s := x.sim
	if x.loss > 0 && x.r.float() < x.loss {
		s.m.lost.WithLabelValues(x.name, "loss").Inc()
		s.mu.Lock()
		s.stats.Lost++
		s.mu.Unlock()
		return
	}
	if x.reorder > 0 && x.held == nil && x.r.float() < x.reorder {
		x.held = append([]byte(nil), d.Data...)
		x.count(d)
		return
	}
	x.write(d.Data)
	x.count(d)
	x.release()
}

// release sends the datagram held back, after the one that overtook it.
func (x *simExporter) release() {
	if x.held != nil {
		x.write(x.held)
		x.held = nil
	}
}

func (x *simExporter) write(b []byte) {
	if _, err := x.conn.Write(b); err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) { // nothing listens (yet): UDP goes on
			x.sim.m.lost.WithLabelValues(x.name, "refused").Inc()
			x.sim.mu.Lock()
			x.sim.stats.Refused++
			x.sim.mu.Unlock()
			return
		}
		x.sim.m.errors.Inc()
		x.sim.mu.Lock()
		x.sim.stats.Errors++
		x.sim.mu.Unlock()
	}
}

func (x *simExporter) count(d *Datagram) {
	s := x.sim
	s.m.datagrams.WithLabelValues(x.name).Inc()
	s.m.records.WithLabelValues(x.name).Add(float64(d.Records))
	s.mu.Lock()
	s.stats.Datagrams++
	s.stats.Records += uint64(d.Records)
	s.stats.Packets += d.Packets
	s.stats.Bytes += d.Bytes
	x.stats.Datagrams++
	x.stats.Records += uint64(d.Records)
	x.stats.Packets += d.Packets
	x.stats.Bytes += d.Bytes
	s.mu.Unlock()
}

// Stats is what was sent so far.
func (s *Simulator) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.PerExporter = map[string]ExporterStats{}
	for _, x := range s.exps {
		st.PerExporter[x.name] = x.stats
	}
	return st
}

// Truth is the ground truth of the run so far, with first_sent_at and record counts filled in.
func (s *Simulator) Truth() []Truth {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Truth(nil), s.truth...)
}
