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
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"yocho/internal/api"
	"yocho/internal/collect"
	"yocho/internal/config"
	"yocho/internal/detect/cnc"
	"yocho/internal/enrich"
	"yocho/internal/flow"
	"yocho/internal/flow/netflow"
	"yocho/internal/flow/sflow"
	"yocho/internal/store"
)

// runServe is `yocho serve [-c yocho.yaml] [--check]`: it runs until SIGINT or SIGTERM.
func runServe(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, args, stdout, stderr)
}

// serve loads the configuration, wires the components and runs them until ctx ends. Data flows
// decoders → collector → subscribers; the HTTP server reads the components.
func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "configuration `file` (YAML); without it, yocho runs on defaults")
	check := fs.Bool("check", false, "validate the configuration and exit: 0 when valid, 2 otherwise")
	debug := fs.Bool("debug", false, "log at debug level")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "yocho serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "yocho serve: %v\n", err)
		return 2
	}
	// Enrichment: hostgroups from the networks, countries from the geolocation database, which is
	// opened (and checked) here so that a missing or wrong file stops start-up, --check included.
	enricher, closeEnrich, err := newEnricher(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "yocho serve: %v\n", err)
		return 2
	}
	defer closeEnrich()
	if *check {
		fmt.Fprintln(stdout, "configuration is valid")
		return 0
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Decoders: NetFlow v5/v9/IPFIX and sFlow v5, each keeping per-exporter state.
	nfDecoder := netflow.New(netflow.DefaultConfig(), reg)
	sfDecoder := sflow.New(sflow.DefaultConfig(), reg)

	// Subscribers: every batch of decoded flows, once enriched, goes to each, in this order, before
	// the batch is reused. The store and the detectors are created, started and appended here.
	var subscribers []flow.Consumer

	// Store: every flow, raw and rolled up, on disk (internal/store).
	flowStore, err := store.New(store.FromConfig(cfg.Storage), reg, log.With("component", "store"))
	if err != nil {
		fmt.Fprintf(stderr, "yocho serve: %v\n", err)
		return 2
	}
	subscribers = append(subscribers, flowStore)

	// DDoS detection: the detector, the alert manager and its notifiers (serve_ddos.go).
	detection, err := newDetection(cfg, enricher.Networks(), reg, log)
	if err != nil {
		fmt.Fprintf(stderr, "yocho serve: %v\n", err)
		return 2
	}
	if detection.detector != nil {
		subscribers = append(subscribers, detection.detector)
	}

	// C&C detection: servers that many subscriber devices keep contacting, and the indicator
	// feeds that raise their score (internal/detect/cnc, internal/intel).
	cncEngine, feeds, err := newCnCEngine(cfg, &cnc.AlertReporter{Alerts: detection.alerts, AlertScore: cfg.CnC.AlertScore},
		reg, log.With("component", "cnc"))
	if err != nil {
		fmt.Fprintf(stderr, "yocho serve: %v\n", err)
		return 2
	}
	subscribers = append(subscribers, cncEngine)

	// Mitigation: the BGP speaker announcing RTBH / FlowSpec routes (serve_mitigation.go).
	mitigator := newMitigation(cfg, detection.alerts, reg, log)

	// Collector: the UDP listeners.
	collector, err := collect.New(collectorConfig(cfg), collect.Deps{
		NetFlow:    nfDecoder,
		SFlow:      sfDecoder,
		Consumers:  []flow.Consumer{enricher.To(subscribers)},
		Registerer: reg,
		Logger:     log.With("component", "collect"),
	})
	if err != nil {
		fmt.Fprintf(stderr, "yocho serve: %v\n", err)
		return 2
	}

	// HTTP: API, metrics, UI.
	// The token is required beyond loopback: config.Load refuses a configuration without one.
	server := api.New(api.Config{Listen: string(cfg.Listen.HTTP), Token: cfg.HTTP.Token.Value()}, reg, log.With("component", "api"))
	api.MountExporters(server, collector)
	api.MountFlows(server, flowStore, nil)
	api.MountAlerts(server, detection.alerts)
	api.MountMitigation(server, mitigator, detection.alerts)
	api.MountCnC(server, cncEngine)

	// Start upstream last and stop it first, so that nothing is lost in between: the collector
	// hands out its last batches on Stop, before the subscribers stop.
	if err := flowStore.Start(ctx); err != nil {
		log.Error("cannot start the store", "path", cfg.Storage.Path, "err", err)
		return 1
	}
	defer flowStore.Stop()
	if err := detection.Start(ctx); err != nil {
		log.Error("cannot start detection", "err", err)
		return 1
	}
	defer detection.Stop()
	if feeds != nil {
		if err := feeds.Start(ctx); err != nil {
			log.Error("cannot load the indicator feeds", "err", err)
			return 1
		}
		defer feeds.Stop()
	}
	if err := cncEngine.Start(ctx); err != nil {
		log.Error("cannot start C&C detection", "err", err)
		return 1
	}
	defer cncEngine.Stop()
	if err := mitigator.Start(ctx); err != nil {
		log.Error("cannot start mitigation", "err", err)
		return 1
	}
	defer mitigator.Stop()
	if err := collector.Start(ctx); err != nil {
		log.Error("cannot start the collector", "err", err)
		return 1
	}
	defer collector.Stop()
	if err := server.Start(ctx); err != nil {
		log.Error("cannot start the HTTP server", "listen", cfg.Listen.HTTP, "err", err)
		return 1
	}
	defer server.Stop()
	if server.Addr() != "" {
		log.Info("serving HTTP", "url", "http://"+server.Addr()+"/", "api", "http://"+server.Addr()+"/api/v1/", "metrics", "http://"+server.Addr()+"/metrics")
	}
	log.Info("yocho is running; stop with Ctrl-C (SIGINT) or SIGTERM")

	<-ctx.Done()
	log.Info("stopping")
	return 0
}

// newEnricher builds the enrichment stage of the configuration, opening its country database if
// one is named; the returned func closes it.
func newEnricher(cfg config.Config) (*enrich.Enricher, func(), error) {
	nets, err := enrich.NewNetworks(cfg.Networks, cfg.Detection.DDoS)
	if err != nil {
		return nil, nil, fmt.Errorf("networks: %w", err)
	}
	var countries *enrich.Countries
	closeFn := func() {}
	if path := cfg.Enrich.GeoIP.Country; path != "" {
		if countries, err = enrich.OpenCountries(path); err != nil {
			return nil, nil, fmt.Errorf("enrich.geoip.country: %w", err)
		}
		closeFn = func() { _ = countries.Close() }
	}
	return enrich.NewEnricher(nets, countries), closeFn, nil
}

// collectorConfig is the collector's part of the configuration file.
func collectorConfig(cfg config.Config) collect.Config {
	c := collect.DefaultConfig()
	c.NetFlow = listenStrings(cfg.Listen.NetFlow)
	c.SFlow = listenStrings(cfg.Listen.SFlow)
	c.Readers = cfg.Listen.UDPReaders
	c.ReceiveBuffer = cfg.Listen.UDPReceiveBuffer
	c.DefaultSamplingRate = uint32(cfg.Exporters.DefaultSamplingRate)
	c.Overrides = make(map[netip.Addr]uint32, len(cfg.Exporters.Overrides))
	for _, o := range cfg.Exporters.Overrides {
		c.Overrides[o.Exporter.Addr.Unmap()] = uint32(o.SamplingRate)
	}
	return c
}

func listenStrings(addrs []config.ListenAddr) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = string(a)
	}
	return out
}
