// Package collect receives flow exports from routers over UDP and hands them, decoded into
// batches, to the rest of yocho.
//
// Data comes from the UDP listeners (NetFlow v5/v9 and IPFIX share a port and are told apart by
// their version field; sFlow has its own): each listen address has one socket per reader, bound
// with SO_REUSEPORT, and a goroutine per socket reads datagrams into a reused buffer and decodes
// them into its own pooled flow.Batch. Before a batch leaves, the sampling-rate policy sets every
// record's rate (an override from the config wins, else the rate the exporter announced, else the
// default). A batch goes to every consumer, synchronously, when it is full or when its first
// record is FlushInterval old, then back to the pool.
//
// Alongside, the collector keeps per-exporter figures (datagrams, flows, scaled bytes, decode
// errors by reason, sampling rates, protocol versions, last seen), merged from per-reader
// counters only when read: by Exporters (the API) and by the Prometheus collector it registers.
package collect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/flow"
)

// Config is the collector's configuration.
type Config struct {
	NetFlow []string // host:port addresses for NetFlow v5/v9 and IPFIX
	SFlow   []string // host:port addresses for sFlow v5

	// Readers is the number of sockets and reading goroutines per address; 0 means one per core.
	Readers int
	// ReceiveBuffer is the socket receive buffer asked for, in bytes (the kernel doubles it).
	ReceiveBuffer int
	// BatchRecords is the number of records after which a batch is handed out.
	BatchRecords int
	// FlushInterval is the longest a record waits in a batch before the batch is handed out.
	FlushInterval time.Duration

	// DefaultSamplingRate is given to flows whose exporter announces no rate and has no override.
	DefaultSamplingRate uint32
	// Overrides forces the sampling rate of an exporter's flows, whatever it announces.
	Overrides map[netip.Addr]uint32
	// SFlowExporterFromSource names an sFlow exporter by its UDP source address rather than the
	// agent address in the datagram; it must match the sFlow decoder's setting of the same name.
	SFlowExporterFromSource bool
	// MaxExporters bounds the exporters tracked one by one; the others are summed in one entry.
	MaxExporters int
}

// DefaultConfig listens on the default ports of loopback, one reader per core, with 32 MiB
// receive buffers and batches handed out at 3072 records or after 100 ms.
func DefaultConfig() Config {
	return Config{
		NetFlow:             []string{"127.0.0.1:2055", "127.0.0.1:4739"},
		SFlow:               []string{"127.0.0.1:6343"},
		ReceiveBuffer:       32 << 20,
		BatchRecords:        3 * flow.DefaultBatchSize / 4,
		FlushInterval:       100 * time.Millisecond,
		DefaultSamplingRate: 1,
		MaxExporters:        10000,
	}
}

// Deps are what the collector needs from the rest of yocho.
type Deps struct {
	NetFlow   flow.Decoder    // decodes NetFlow v5, v9 and IPFIX
	SFlow     flow.Decoder    // decodes sFlow v5
	Consumers []flow.Consumer // receive every batch, in this order
	// Registerer receives the collector's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Collector receives, decodes and hands out flow exports.
type Collector struct {
	cfg       Config
	netflow   []netip.AddrPort
	sflow     []netip.AddrPort
	decoders  [numProtocols]flow.Decoder
	consumers []flow.Consumer
	log       *slog.Logger
	pool      flow.Pool
	reg       *registry

	batches    atomic.Uint64 // batches handed out
	readErrors atomic.Uint64 // socket read errors other than deadlines and close

	mu        sync.Mutex // guards the fields below
	listeners []*listener
	started   bool
	stopped   bool
	ready     atomic.Bool
	wg        sync.WaitGroup
	stopCtx   context.CancelFunc
}

// listener is one listen address and its sockets.
type listener struct {
	kind    string         // "netflow" or "sflow"
	addr    netip.AddrPort // as bound (the port is known even when 0 was asked)
	sockets []*socket
}

// New checks the configuration and returns a collector. It does no I/O: Start listens.
func New(cfg Config, deps Deps) (*Collector, error) {
	def := DefaultConfig()
	if cfg.Readers <= 0 {
		cfg.Readers = runtime.GOMAXPROCS(0)
	}
	if cfg.ReceiveBuffer < 0 {
		cfg.ReceiveBuffer = 0
	}
	if cfg.BatchRecords <= 0 {
		cfg.BatchRecords = def.BatchRecords
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = def.FlushInterval
	}
	if cfg.DefaultSamplingRate == 0 {
		cfg.DefaultSamplingRate = 1
	}
	if cfg.MaxExporters <= 0 {
		cfg.MaxExporters = def.MaxExporters
	}
	for a, r := range cfg.Overrides {
		if r == 0 {
			return nil, fmt.Errorf("collect: sampling rate override of %s is 0", a)
		}
	}
	if len(cfg.NetFlow) > 0 && deps.NetFlow == nil {
		return nil, errors.New("collect: NetFlow listeners need a NetFlow decoder")
	}
	if len(cfg.SFlow) > 0 && deps.SFlow == nil {
		return nil, errors.New("collect: sFlow listeners need an sFlow decoder")
	}
	c := &Collector{cfg: cfg, consumers: deps.Consumers, log: deps.Logger}
	if c.log == nil {
		c.log = slog.Default()
	}
	seen := map[netip.AddrPort]bool{}
	for _, g := range []struct {
		key   string
		addrs []string
		out   *[]netip.AddrPort
	}{{"netflow", cfg.NetFlow, &c.netflow}, {"sflow", cfg.SFlow, &c.sflow}} {
		for _, s := range g.addrs {
			ap, err := netip.ParseAddrPort(s)
			if err != nil {
				return nil, fmt.Errorf("collect: %s listen address %q: %w", g.key, s, err)
			}
			if seen[ap] && ap.Port() != 0 {
				return nil, fmt.Errorf("collect: listen address %s given twice", ap)
			}
			seen[ap] = true
			*g.out = append(*g.out, ap)
		}
	}
	c.decoders[protoNetFlow5] = deps.NetFlow
	c.decoders[protoNetFlow9] = deps.NetFlow
	c.decoders[protoIPFIX] = deps.NetFlow
	c.decoders[protoSFlow5] = deps.SFlow
	c.reg = &registry{max: cfg.MaxExporters, decoders: c.decoders}
	if deps.Registerer != nil {
		if err := deps.Registerer.Register(&metricsCollector{c: c}); err != nil {
			return nil, fmt.Errorf("collect: registering metrics: %w", err)
		}
	}
	return c, nil
}

// Subscribe adds a consumer of every batch. It must be called before Start.
func (c *Collector) Subscribe(consumer flow.Consumer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		panic("collect: Subscribe after Start")
	}
	c.consumers = append(c.consumers, consumer)
}

// Start opens every listener and starts the readers. It returns once all sockets are bound,
// or the first error (then nothing is left open). The readers stop on Stop or when ctx ends.
func (c *Collector) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return errors.New("collect: already started")
	}
	c.started = true
	var all []*listener
	for _, g := range []struct {
		kind  string
		addrs []netip.AddrPort
	}{{"netflow", c.netflow}, {"sflow", c.sflow}} {
		for _, ap := range g.addrs {
			l, err := c.listen(ctx, g.kind, ap)
			if err != nil {
				for _, l := range all {
					l.close()
				}
				return err
			}
			all = append(all, l)
		}
	}
	c.listeners = all
	rctx, cancel := context.WithCancel(ctx)
	c.stopCtx = cancel
	consumers := append([]flow.Consumer(nil), c.consumers...)
	var readers []*reader
	for _, l := range all {
		for _, s := range l.sockets {
			r, err := c.newReader(s, consumers)
			if err != nil {
				for _, l := range all {
					l.close()
				}
				return fmt.Errorf("collect: %s listener %s: %w", l.kind, l.addr, err)
			}
			readers = append(readers, r)
		}
		c.log.Info("listening for flow exports", "protocol", l.kind, "addr", l.addr.String(),
			"sockets", len(l.sockets), "receive_buffer", l.sockets[0].rcvbuf)
		if l.sockets[0].rcvbuf < c.cfg.ReceiveBuffer {
			c.log.Warn("socket receive buffer smaller than asked: raise net.core.rmem_max or run as root",
				"addr", l.addr.String(), "asked", c.cfg.ReceiveBuffer, "got", l.sockets[0].rcvbuf)
		}
	}
	for _, r := range readers {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			r.run()
		}()
	}
	c.ready.Store(true)
	go func() {
		<-rctx.Done()
		c.closeAll()
	}()
	return nil
}

// listen binds Config.Readers sockets on one address. When port 0 is asked, the first socket
// picks the port and the others join it.
func (c *Collector) listen(ctx context.Context, kind string, ap netip.AddrPort) (*listener, error) {
	l := &listener{kind: kind, addr: ap}
	for i := range c.cfg.Readers {
		s, err := listenUDP(ctx, l.addr, c.cfg.ReceiveBuffer)
		if err != nil {
			l.close()
			return nil, fmt.Errorf("collect: %s listener %s (socket %d): %w", kind, ap, i+1, err)
		}
		if i == 0 {
			bound := s.conn.LocalAddr().(interface{ AddrPort() netip.AddrPort }).AddrPort()
			l.addr = netip.AddrPortFrom(ap.Addr(), bound.Port())
		}
		l.sockets = append(l.sockets, s)
	}
	return l, nil
}

func (l *listener) close() {
	for _, s := range l.sockets {
		s.conn.Close()
	}
}

func (c *Collector) closeAll() {
	c.ready.Store(false)
	c.mu.Lock()
	ls := c.listeners
	c.mu.Unlock()
	for _, l := range ls {
		l.close()
	}
}

// Stop closes the sockets and waits for the readers, which hand out their last batches first.
func (c *Collector) Stop() {
	c.mu.Lock()
	if !c.started || c.stopped {
		c.mu.Unlock()
		return
	}
	c.stopped = true
	cancel := c.stopCtx
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	c.closeAll()
	c.wg.Wait()
}

// Ready reports whether every listener is up and reading.
func (c *Collector) Ready() bool { return c.ready.Load() }

// NetFlowAddrs are the bound NetFlow/IPFIX addresses, once started (with their real ports).
func (c *Collector) NetFlowAddrs() []netip.AddrPort { return c.addrs("netflow") }

// SFlowAddrs are the bound sFlow addresses, once started (with their real ports).
func (c *Collector) SFlowAddrs() []netip.AddrPort { return c.addrs("sflow") }

func (c *Collector) addrs(kind string) []netip.AddrPort {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []netip.AddrPort
	for _, l := range c.listeners {
		if l.kind == kind {
			out = append(out, l.addr)
		}
	}
	return out
}

// Exporters returns every exporter seen so far, ordered by address; the entry that sums the
// exporters beyond Config.MaxExporters, if any, comes last.
func (c *Collector) Exporters() []Exporter { return c.reg.exporters() }

// Stats are the collector's overall figures.
type Stats struct {
	Packets      uint64 // export datagrams received
	Flows        uint64 // flows handed to consumers
	Errors       uint64 // datagrams rejected in whole or in part
	Batches      uint64 // batches handed to consumers
	ReadErrors   uint64 // socket read errors
	SocketDrops  uint64 // datagrams the kernel dropped because a socket's buffer was full
	DropsUnknown bool   // the kernel's drop counters could not be read
}

// Stats sums the figures of every exporter and reads the kernel's socket drops.
func (c *Collector) Stats() Stats {
	var s Stats
	for _, e := range c.Exporters() {
		s.Packets += e.Packets
		s.Flows += e.Flows
		for _, n := range e.Errors {
			s.Errors += n
		}
	}
	s.Batches = c.batches.Load()
	s.ReadErrors = c.readErrors.Load()
	drops, err := c.socketDrops()
	for _, d := range drops {
		s.SocketDrops += d
	}
	s.DropsUnknown = err != nil
	return s
}

// socketDrops returns the kernel's drops by listen address.
func (c *Collector) socketDrops() (map[string]uint64, error) {
	c.mu.Lock()
	ls := c.listeners
	c.mu.Unlock()
	want := map[uint64]bool{}
	for _, l := range ls {
		for _, s := range l.sockets {
			if s.inode != 0 {
				want[s.inode] = true
			}
		}
	}
	if len(want) == 0 {
		return nil, nil
	}
	byInode, err := socketDrops(want)
	out := make(map[string]uint64, len(ls))
	for _, l := range ls {
		var n uint64
		for _, s := range l.sockets {
			// A closed socket leaves the table: keep the last count read.
			if d, ok := byInode[s.inode]; ok && d > s.drops.Load() {
				s.drops.Store(d)
			}
			n += s.drops.Load()
		}
		out[l.addr.String()] = n
	}
	return out, err
}
