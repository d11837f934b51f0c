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
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: yocho import [-c FILE] [--data DIR] --format FORMAT FILE...\n\n"+
			"Loads flow data from files into the store, for the queries and detectors to work on past traffic.\n\n")
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
		st.Consume(b)
		if batches++; batches%64 == 0 {
			return st.Sync()
		}
		return nil
	}
	status := 0
	var total uint64
	for _, path := range fs.Args() {
		s, err := im.ReadFile(ctx, path, sink)
		total += s.Records
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
	return status
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
