package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/config"
	"yocho/internal/flow"
	"yocho/internal/flow/netflow"
	"yocho/internal/flow/sflow"
	"yocho/internal/importer"
	"yocho/internal/store"
)

// runImport loads flow files into the store: yocho import [--data DIR] --format F FILE...
func runImport(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "configuration `file` (YAML): its storage.path is the store")
	dataDir := fs.String("data", "", "store `directory` (overrides storage.path; default ./yocho-data)")
	format := fs.String("format", "", "input `format`: zeek-conn, nfdump-csv or pcap-exports")
	rate := fs.Uint("sampling-rate", 1, "sampling `rate` (1 in N) of flows whose file gives none")
	exporter := fs.String("exporter", "0.0.0.0", "exporter `address` named for flows whose file names none")
	tz := fs.String("tz", "UTC", "time `zone` of nfdump's printed times (nfdump prints local time)")
	rebase := fs.String("rebase", "", "shift every flow's times so that the files' last record lands at `TIME` "+
		"(now, or RFC 3339 like 2026-11-25T12:00:00Z), keeping their intervals: for logs with relative or old times, "+
		"which the store's raw retention would drop")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: yocho import [-c FILE] [--data DIR] [--rebase now|TIME] --format FORMAT FILE...\n\n"+
			"Loads flow data from files into the store, for the queries and detectors to work on past traffic.\n"+
			"The store's raw retention (storage.retention.raw, 15 days by default) applies to imported flows as\n"+
			"to collected ones: `yocho serve` on the same store drops older flows. Import old captures into a\n"+
			"store directory of their own (--data), or move them into the present with --rebase now.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *format == "" || fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "yocho import: %v\n", err)
		return 2
	}
	if *dataDir != "" {
		cfg.Storage.Path = *dataDir
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		fmt.Fprintf(stderr, "yocho import: --tz: %v\n", err)
		return 2
	}
	exp, err := netip.ParseAddr(*exporter)
	if err != nil || *rate == 0 || *rate > 1<<31 {
		fmt.Fprintf(stderr, "yocho import: bad --exporter or --sampling-rate\n")
		return 2
	}
	var rebaseAt time.Time
	switch *rebase {
	case "":
	case "now":
		rebaseAt = time.Now().UTC()
	default:
		if rebaseAt, err = time.Parse(time.RFC3339, *rebase); err != nil {
			fmt.Fprintf(stderr, "yocho import: --rebase: want now or an RFC 3339 time: %v\n", err)
			return 2
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	reg := prometheus.NewRegistry()
	icfg := importer.Config{Format: importer.Format(*format), SamplingRate: uint32(*rate), Exporter: exp, Location: loc}
	im, err := importer.New(icfg, importer.Deps{
		NetFlow: netflow.New(netflow.DefaultConfig(), reg), SFlow: sflow.New(sflow.DefaultConfig(), reg),
		Registerer: reg, Logger: log,
	})
	if err != nil {
		fmt.Fprintf(stderr, "yocho import: %v\n", err)
		return 2
	}
	if !rebaseAt.IsZero() {
		// A first read finds the files' last record; the import proper moves it to rebaseAt.
		_, last, err := im.Span(ctx, fs.Args()...)
		if err != nil {
			fmt.Fprintf(stderr, "yocho import: --rebase: %v\n", err)
			return 1
		}
		if !last.IsZero() {
			icfg.Shift = importer.ShiftTo(last, rebaseAt)
			if im, err = importer.New(icfg, importer.Deps{
				NetFlow: netflow.New(netflow.DefaultConfig(), nil), SFlow: sflow.New(sflow.DefaultConfig(), nil),
				Logger: log,
			}); err != nil {
				fmt.Fprintf(stderr, "yocho import: %v\n", err)
				return 2
			}
			fmt.Fprintf(stdout, "times shifted by %s: the last record, at %s, lands at %s\n",
				icfg.Shift, last.Format(time.RFC3339Nano), rebaseAt.Format(time.RFC3339Nano))
		}
	}
	// Imported flows are enriched as collected ones are: hostgroups, countries.
	enricher, closeEnrich, err := newEnricher(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "yocho import: %v\n", err)
		return 2
	}
	defer closeEnrich()
	st, err := store.New(store.FromConfig(cfg.Storage), reg, log)
	if err != nil {
		fmt.Fprintf(stderr, "yocho import: %v\n", err)
		return 1
	}
	if err := st.Start(ctx); err != nil {
		fmt.Fprintf(stderr, "yocho import: %v\n", err)
		return 1
	}
	defer st.Stop()
	// The store's queue drops what does not fit: wait for the writer every 64 batches.
	batches := 0
	sink := func(b *flow.Batch) error {
		enricher.Enrich(b)
		st.Consume(b)
		if batches++; batches%64 == 0 {
			return st.Sync()
		}
		return nil
	}
	status := 0
	var total uint64
	var first, last time.Time
	for _, path := range fs.Args() {
		s, err := im.ReadFile(ctx, path, sink)
		total += s.Records
		if !s.First.IsZero() && (first.IsZero() || s.First.Before(first)) {
			first = s.First
		}
		if s.Last.After(last) {
			last = s.Last
		}
		fmt.Fprintf(stdout, "%s: %d flows from %d %s%s\n", path, s.Records, s.Inputs, inputNoun(icfg.Format), droppedText(s.Dropped))
		if err != nil {
			fmt.Fprintf(stderr, "yocho import: %v\n", err)
			status = 1
		}
	}
	if err := st.Sync(); err != nil {
		fmt.Fprintf(stderr, "yocho import: writing the store: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%d flows stored in %s\n", total, cfg.Storage.Path)
	if w := retentionWarning(first, last, cfg.Storage.Retention.Raw.D(), time.Now(), cfg.Storage.Path); w != "" {
		fmt.Fprintf(stderr, "yocho import: warning: %s\n", w)
	}
	return status
}

// retentionWarning says what the raw retention will do to flows imported from first to last, or
// "" when it keeps them all.
func retentionWarning(first, last time.Time, raw time.Duration, now time.Time, dir string) string {
	if first.IsZero() || raw <= 0 || !first.Before(now.Add(-raw)) {
		return ""
	}
	what := "some of the imported flows are"
	if last.Before(now.Add(-raw)) {
		what = "all the imported flows are"
	}
	return fmt.Sprintf("%s older than the raw retention (%s): they span %s to %s. `yocho query` reads them, "+
		"but `yocho serve` on %s drops them at its first retention pass. To keep them, import with --rebase now "+
		"(intervals are kept), or keep this store for offline analysis and give serve another storage.path.",
		what, days(raw), first.Format(time.RFC3339), last.Format(time.RFC3339), dir)
}

func inputNoun(f importer.Format) string {
	if f == importer.FormatPcapExports {
		return "packets"
	}
	return "lines"
}

func droppedText(d map[string]uint64) string {
	if len(d) == 0 {
		return ""
	}
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, d[k])
	}
	return " (skipped: " + strings.Join(parts, ", ") + ")"
}

// days writes a retention in days when it is whole days ("15d"), else as a duration.
func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
