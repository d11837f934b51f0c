// Package importer reads flow data from files, so that past traffic can be stored and run
// through the detectors: Zeek conn.log (TSV or JSON lines), the CSV that `nfdump -o csv` writes,
// and pcaps of NetFlow/IPFIX/sFlow exports (decoded with yocho's own decoders).
//
// Data comes from files or readers and goes out as flow.Batch, through a callback, in file order;
// each batch is reused once the callback returns. Lines or packets that cannot be read are
// skipped and counted by reason; they never stop an import.
package importer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/flow"
)

// Format names a kind of input file.
type Format string

// The formats the importer reads.
const (
	FormatZeekConn    Format = "zeek-conn"    // Zeek conn.log, TSV (with its #fields header) or JSON lines
	FormatNfdumpCSV   Format = "nfdump-csv"   // what `nfdump -o csv` writes
	FormatPcapExports Format = "pcap-exports" // pcap or pcapng of NetFlow v5/v9, IPFIX or sFlow datagrams
)

// Formats lists every format, for help texts.
func Formats() []Format { return []Format{FormatZeekConn, FormatNfdumpCSV, FormatPcapExports} }

// Config is an import's configuration.
type Config struct {
	Format Format
	// BatchSize is the number of records per batch handed out.
	BatchSize int
	// SamplingRate is given to records whose rate is unknown (Zeek and nfdump CSV carry none).
	SamplingRate uint32
	// Exporter is named as the exporter of records whose file names none (Zeek).
	Exporter netip.Addr
	// Location is the time zone of nfdump's printed times (nfdump prints local time).
	Location *time.Location
	// Shift is added to every record's times (start, end, received), keeping their intervals:
	// it moves data whose clock was relative or far in the past (Zeek logs of old captures
	// land in 1970 or years ago) to where the store's retention keeps it. See ShiftTo.
	Shift time.Duration
}

// DefaultConfig reads Zeek conn.log into batches of 4096 unsampled records, exporter 0.0.0.0,
// nfdump times in UTC.
func DefaultConfig() Config {
	return Config{Format: FormatZeekConn, BatchSize: flow.DefaultBatchSize, SamplingRate: 1,
		Exporter: netip.IPv4Unspecified(), Location: time.UTC}
}

// Deps are what an import needs: the decoders for pcap-exports.
type Deps struct {
	NetFlow    flow.Decoder
	SFlow      flow.Decoder
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Stats are an import's figures.
type Stats struct {
	Records uint64            // records handed out
	Inputs  uint64            // lines or packets read
	Dropped map[string]uint64 // inputs (or records) skipped, by reason
	// First and Last are the earliest start and the latest end of the records handed out, after
	// Shift; zero when there were none.
	First, Last time.Time
}

// ShiftTo is the Shift that moves last to at, to the millisecond.
func ShiftTo(last, at time.Time) time.Duration {
	return at.Sub(last).Truncate(time.Millisecond)
}

// Span reads files without handing anything out and returns the earliest start and latest end of
// their records (zero times when none), for choosing a Shift before the import proper.
func (im *Importer) Span(ctx context.Context, paths ...string) (first, last time.Time, err error) {
	scan := *im
	scan.cfg.Shift = 0
	// a scan is not an import: its counts go to counters nobody registers
	scan.records = prometheus.NewCounter(prometheus.CounterOpts{Name: "scan_records"})
	scan.dropped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scan_dropped"}, []string{"reason"})
	for _, path := range paths {
		st, err := scan.ReadFile(ctx, path, func(*flow.Batch) error { return nil })
		if err != nil {
			return first, last, err
		}
		if !st.First.IsZero() && (first.IsZero() || st.First.Before(first)) {
			first = st.First
		}
		if st.Last.After(last) {
			last = st.Last
		}
	}
	return first, last, nil
}

func (s *Stats) drop(reason string) {
	if s.Dropped == nil {
		s.Dropped = map[string]uint64{}
	}
	s.Dropped[reason]++
}

// Importer reads files of one format.
type Importer struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	records prometheus.Counter
	dropped *prometheus.CounterVec
}

// New returns an importer; it does no I/O.
func New(cfg Config, deps Deps) (*Importer, error) {
	def := DefaultConfig()
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = def.BatchSize
	}
	if cfg.SamplingRate == 0 {
		cfg.SamplingRate = 1
	}
	if !cfg.Exporter.IsValid() {
		cfg.Exporter = def.Exporter
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	switch cfg.Format {
	case FormatZeekConn, FormatNfdumpCSV:
	case FormatPcapExports:
		if deps.NetFlow == nil || deps.SFlow == nil {
			return nil, errors.New("importer: pcap-exports needs the NetFlow and sFlow decoders")
		}
	default:
		return nil, fmt.Errorf("importer: unknown format %q (want zeek-conn, nfdump-csv or pcap-exports)", cfg.Format)
	}
	im := &Importer{cfg: cfg, deps: deps, log: deps.Logger,
		records: prometheus.NewCounter(prometheus.CounterOpts{Name: "yocho_import_records_total",
			Help: "Flow records read from imported files."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "yocho_import_dropped_total",
			Help: "Lines, packets or records of imported files that were skipped, by reason."}, []string{"reason"}),
	}
	if im.log == nil {
		im.log = slog.New(slog.DiscardHandler)
	}
	if deps.Registerer != nil {
		for _, c := range []prometheus.Collector{im.records, im.dropped} {
			if err := deps.Registerer.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return im, nil
}

// ReadFile imports one file, handing batches to out.
func (im *Importer) ReadFile(ctx context.Context, path string, out func(*flow.Batch) error) (Stats, error) {
	f, err := os.Open(path)
	if err != nil {
		return Stats{}, err
	}
	defer f.Close()
	st, err := im.Read(ctx, f, out)
	if err != nil {
		return st, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// Read imports from r, handing batches to out; out must not keep a batch after it returns.
// It stops at the first error out returns, or when ctx is done.
func (im *Importer) Read(ctx context.Context, r io.Reader, out func(*flow.Batch) error) (Stats, error) {
	e := &emitter{ctx: ctx, out: out, size: im.cfg.BatchSize, b: flow.NewBatch(im.cfg.BatchSize),
		shift: im.cfg.Shift.Milliseconds(), first: math.MaxInt64, last: math.MinInt64}
	var err error
	switch im.cfg.Format {
	case FormatZeekConn:
		err = im.readZeek(bufio.NewReaderSize(r, 1<<16), e)
	case FormatNfdumpCSV:
		err = im.readNfdump(bufio.NewReaderSize(r, 1<<16), e)
	case FormatPcapExports:
		err = im.readPcap(r, e)
	}
	if err == nil {
		err = e.flush()
	}
	e.st.Records = e.records
	if e.first <= e.last {
		e.st.First, e.st.Last = time.UnixMilli(e.first).UTC(), time.UnixMilli(e.last).UTC()
	}
	im.records.Add(float64(e.records))
	for reason, n := range e.st.Dropped {
		im.dropped.WithLabelValues(reason).Add(float64(n))
	}
	return e.st, err
}

// emitter fills a batch and hands it out when full.
type emitter struct {
	ctx     context.Context
	out     func(*flow.Batch) error
	size    int
	b       *flow.Batch
	st      Stats
	records uint64
	shift   int64 // ms added to every time
	first   int64 // earliest start handed out, ms
	last    int64 // latest end handed out, ms
}

func (e *emitter) add(r *flow.Record) error {
	e.b.Append(r)
	if e.b.Len() >= e.size {
		return e.flush()
	}
	return nil
}

func (e *emitter) flush() error {
	if e.b.Len() == 0 {
		return nil
	}
	if err := e.ctx.Err(); err != nil {
		return err
	}
	n := e.b.Len()
	e.times()
	if err := e.out(e.b); err != nil {
		return err
	}
	e.records += uint64(n)
	e.b.Reset()
	return nil
}

// times shifts the batch's times by e.shift and notes their span. A zero time (unknown) stays.
func (e *emitter) times() {
	b := e.b
	for i := range b.Len() {
		s, en, rc := b.StartMs[i], b.EndMs[i], b.ReceivedMs[i]
		if e.shift != 0 {
			if s != 0 {
				s += e.shift
			}
			if en != 0 {
				en += e.shift
			}
			if rc != 0 {
				rc += e.shift
			}
			b.StartMs[i], b.EndMs[i], b.ReceivedMs[i] = s, en, rc
		}
		if s == 0 {
			s = rc
		}
		e.first = min(e.first, s)
		e.last = max(e.last, en, s)
	}
}

// readLines calls fn for each line of r (without its end of line), skipping overlong lines.
func readLines(r *bufio.Reader, st *Stats, fn func(line []byte) error) error {
	var long []byte
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(long)+len(line) > 1<<20 {
				st.drop("line_too_long")
				long = long[:0]
				for errors.Is(err, bufio.ErrBufferFull) {
					_, err = r.ReadSlice('\n')
				}
				continue
			}
			long = append(long, line...)
			continue
		}
		if len(long) > 0 {
			line = append(long, line...)
			long = long[:0]
		}
		if len(line) > 0 {
			n := len(line)
			for n > 0 && (line[n-1] == '\n' || line[n-1] == '\r') {
				n--
			}
			st.Inputs++
			if ferr := fn(line[:n]); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
