package netflow

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/flow"
)

// Config bounds the state the decoder keeps per exporter.
type Config struct {
	// TemplateTimeout is how long a template (or options template) stays usable after it was
	// last received. Exporters resend theirs every few seconds to minutes.
	TemplateTimeout time.Duration
	// PendingMax is the number of data sets held per exporter while their template is unknown.
	PendingMax int
	// PendingMaxBytes bounds the bytes held per exporter while their template is unknown.
	PendingMaxBytes int
	// PendingHold is how long held data waits for its template before it is counted as lost.
	PendingHold time.Duration
	// MaxTemplates caps the templates kept per exporter, all domains together.
	MaxTemplates int
	// MaxFields caps the fields of one template; longer templates are refused.
	MaxFields int
	// MaxExporters caps the exporters tracked; beyond it, idle exporters are forgotten first,
	// then datagrams from new exporters are dropped.
	MaxExporters int
}

// DefaultConfig returns the configuration used when the user sets nothing.
func DefaultConfig() Config {
	return Config{
		TemplateTimeout: 30 * time.Minute,
		PendingMax:      256,
		PendingMaxBytes: 1 << 20,
		PendingHold:     30 * time.Second,
		MaxTemplates:    1024,
		MaxFields:       256,
		MaxExporters:    10000,
	}
}

// withDefaults replaces zero or negative bounds by their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.TemplateTimeout <= 0 {
		c.TemplateTimeout = d.TemplateTimeout
	}
	if c.PendingMax <= 0 {
		c.PendingMax = d.PendingMax
	}
	if c.PendingMaxBytes <= 0 {
		c.PendingMaxBytes = d.PendingMaxBytes
	}
	if c.PendingHold <= 0 {
		c.PendingHold = d.PendingHold
	}
	if c.MaxTemplates <= 0 {
		c.MaxTemplates = d.MaxTemplates
	}
	if c.MaxFields <= 0 {
		c.MaxFields = d.MaxFields
	}
	if c.MaxFields > maxFieldsHard {
		c.MaxFields = maxFieldsHard
	}
	if c.MaxExporters <= 0 {
		c.MaxExporters = d.MaxExporters
	}
	return c
}

// maxFieldsHard keeps field offsets within a uint16 whatever the configuration says.
const maxFieldsHard = 4096

// Reasons for dropped datagrams, sets and records: the "reason" label of the drop counter and
// the Reason of the DecodeError returned.
const (
	ReasonTruncated        = "truncated"          // datagram shorter than its header or its counts
	ReasonBadVersion       = "bad-version"        // not NetFlow v5, v9 or IPFIX
	ReasonBadLength        = "bad-length"         // a length field points outside the datagram
	ReasonBadSet           = "bad-set"            // a set or flowset shorter than its header
	ReasonBadTemplate      = "bad-template"       // a template with no, too many or bad fields
	ReasonTooManyTemplates = "too-many-templates" // the exporter's template cap is reached
	ReasonTruncatedRecord  = "truncated-record"   // a data record runs past the end of its set
	ReasonTooManyExporters = "too-many-exporters" // the exporter cap is reached
	ReasonTooManyDomains   = "too-many-domains"   // the exporter's observation domain cap is reached
	ReasonPendingOverflow  = "pending-overflow"   // held data pushed out by newer held data
	ReasonPendingExpired   = "pending-expired"    // held data whose template never came
)

// Decoder decodes NetFlow v5, v9 and IPFIX datagrams. It implements flow.Decoder and is safe for
// concurrent use: the exporter table is read under a shared lock, then each datagram is decoded
// under its exporter's own lock, so exporters never wait for each other.
type Decoder struct {
	cfg       Config
	timeoutMs int64
	holdMs    int64
	metrics   *metrics
	mu        sync.RWMutex
	exporters map[netip.Addr]*exporter
}

var _ flow.Decoder = (*Decoder)(nil)

// New returns a decoder. Its metrics are registered on reg unless reg is nil.
func New(cfg Config, reg prometheus.Registerer) *Decoder {
	cfg = cfg.withDefaults()
	return &Decoder{
		cfg:       cfg,
		timeoutMs: cfg.TemplateTimeout.Milliseconds(),
		holdMs:    cfg.PendingHold.Milliseconds(),
		metrics:   newMetrics(reg),
		exporters: make(map[netip.Addr]*exporter),
	}
}

// Decode appends the records of one datagram to out. See flow.Decoder. A datagram whose sets
// are framed correctly but hold a faulty template or record is decoded around the fault: out then
// also holds the records after it, and the error names the first fault.
func (d *Decoder) Decode(exporterAddr netip.Addr, receivedMs int64, packet []byte, out *flow.Batch) error {
	if len(packet) < 2 {
		return d.fail(ReasonTruncated, errors.New("datagram shorter than a version number"))
	}
	version := uint16(packet[0])<<8 | uint16(packet[1])
	if version != 5 && version != 9 && version != 10 {
		return d.fail(ReasonBadVersion, errorf("version %d", version))
	}
	ex := d.exporter(exporterAddr, receivedMs)
	if ex == nil {
		return d.fail(ReasonTooManyExporters, errorf("exporter %s not tracked: %d exporters already", exporterAddr, d.cfg.MaxExporters))
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if receivedMs > ex.nowMs {
		ex.nowMs = receivedMs
	}
	ctx := decodeCtx{d: d, ex: ex, receivedMs: receivedMs, out: out}
	var err error
	switch version {
	case 5:
		err = ctx.decodeV5(packet)
	case 9:
		err = ctx.decodeV9(packet)
	default:
		err = ctx.decodeIPFIX(packet)
	}
	if len(ex.pending) > 0 {
		ctx.expirePending()
	}
	return err
}

// fail counts a dropped datagram and returns its error.
func (d *Decoder) fail(reason string, err error) error {
	d.metrics.drop(reason, 1)
	return &flow.DecodeError{Reason: reason, Err: err}
}

// exporter returns the state of one exporter, creating it if needed; nil when over the cap.
func (d *Decoder) exporter(addr netip.Addr, nowMs int64) *exporter {
	d.mu.RLock()
	ex := d.exporters[addr]
	d.mu.RUnlock()
	if ex != nil {
		return ex
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if ex = d.exporters[addr]; ex != nil {
		return ex
	}
	if len(d.exporters) >= d.cfg.MaxExporters {
		d.forgetIdle(nowMs)
		if len(d.exporters) >= d.cfg.MaxExporters {
			return nil
		}
	}
	ex = newExporter(addr, nowMs)
	d.exporters[addr] = ex
	d.metrics.exporters.Set(float64(len(d.exporters)))
	return ex
}

// forgetIdle drops the exporters silent for longer than the template timeout. Called under d.mu.
func (d *Decoder) forgetIdle(nowMs int64) {
	for addr, ex := range d.exporters {
		ex.mu.Lock()
		idle := nowMs-ex.nowMs > d.timeoutMs
		ex.mu.Unlock()
		if idle {
			delete(d.exporters, addr)
		}
	}
}

// ExporterState reports what the decoder knows of one exporter. See flow.ExporterState; Pending
// and PendingLost count data sets, since a set's record count is unknown without its template.
func (d *Decoder) ExporterState(addr netip.Addr) flow.ExporterState {
	d.mu.RLock()
	ex := d.exporters[addr]
	d.mu.RUnlock()
	if ex == nil {
		return flow.ExporterState{}
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	st := flow.ExporterState{
		Pending:     len(ex.pending),
		PendingLost: ex.pendingLost,
	}
	for _, dom := range ex.domains {
		st.Templates += dom.liveTemplates(ex.nowMs, d.timeoutMs)
		st.SequenceLost += dom.seq.lost
	}
	st.SamplingRates = append([]uint32(nil), ex.rates...)
	return st
}

// metrics are the decoder's Prometheus counters. Label children used per datagram are looked up
// once here, so the hot path does no label hashing.
type metrics struct {
	datagrams *prometheus.CounterVec
	records   *prometheus.CounterVec
	dropped   *prometheus.CounterVec
	templates *prometheus.CounterVec
	exporters prometheus.Gauge

	datagramsV5, datagramsV9, datagramsIPFIX prometheus.Counter
	recordsV5, recordsV9, recordsIPFIX       prometheus.Counter
	templateOutcomes                         [2][3]prometheus.Counter // [options][outcome]
}

// Template outcomes, the "outcome" label of the templates counter.
const (
	outcomeNew = iota
	outcomeRefresh
	outcomeWithdrawn
)

func (m *metrics) templateSeen(options bool, outcome int) {
	i := 0
	if options {
		i = 1
	}
	m.templateOutcomes[i][outcome].Inc()
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		datagrams: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "yocho", Subsystem: "netflow", Name: "datagrams_total",
			Help: "Datagrams decoded, by protocol version (5, 9, 10 for IPFIX).",
		}, []string{"version"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "yocho", Subsystem: "netflow", Name: "records_total",
			Help: "Flow records decoded, by protocol version.",
		}, []string{"version"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "yocho", Subsystem: "netflow", Name: "dropped_total",
			Help: "Datagrams, sets or records dropped, by reason.",
		}, []string{"reason"}),
		templates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "yocho", Subsystem: "netflow", Name: "templates_total",
			Help: "Templates received, by kind (data, options) and outcome (new, refresh, withdrawn).",
		}, []string{"kind", "outcome"}),
		exporters: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "yocho", Subsystem: "netflow", Name: "exporters",
			Help: "Exporters whose state the decoder keeps.",
		}),
	}
	if reg != nil {
		m.datagrams = register(reg, m.datagrams)
		m.records = register(reg, m.records)
		m.dropped = register(reg, m.dropped)
		m.templates = register(reg, m.templates)
		m.exporters = register(reg, m.exporters)
	}
	m.datagramsV5 = m.datagrams.WithLabelValues("5")
	m.datagramsV9 = m.datagrams.WithLabelValues("9")
	m.datagramsIPFIX = m.datagrams.WithLabelValues("10")
	m.recordsV5 = m.records.WithLabelValues("5")
	m.recordsV9 = m.records.WithLabelValues("9")
	m.recordsIPFIX = m.records.WithLabelValues("10")
	for i, kind := range []string{"data", "options"} {
		for j, outcome := range []string{"new", "refresh", "withdrawn"} {
			m.templateOutcomes[i][j] = m.templates.WithLabelValues(kind, outcome)
		}
	}
	return m
}

// register registers c, or returns the collector already registered under the same name, so
// that two decoders may share a registry.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a name clash with another kind of metric is a programming error
	}
	return c
}

func (m *metrics) drop(reason string, n int) {
	if n > 0 {
		m.dropped.WithLabelValues(reason).Add(float64(n))
	}
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
