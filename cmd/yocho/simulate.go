package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"yocho/internal/simulate"
	"yocho/scenarios"
)

// runSimulate is `yocho simulate`: send a scenario's traffic to a collector and write its truth.
func runSimulate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := simulate.DefaultConfig()
	to := fs.String("to", def.To, "collector `host:port` for NetFlow v5/v9 and IPFIX (and sFlow unless -sflow-to)")
	sflowTo := fs.String("sflow-to", "", "collector `host:port` for sFlow exporters (default: -to with -protocol, else -to's host, port 6343)")
	proto := fs.String("protocol", "", "make every exporter speak `P`: ipfix, netflow9, netflow5 or sflow (default: the scenario's)")
	scenario := fs.String("scenario", "scenarios/demo.yaml", "scenario `file` (or the name of a built-in one: demo.yaml, benign-day.yaml, ddos-mix.yaml, botnet.yaml)")
	speed := fs.Float64("speed", 1, "simulated seconds per wall second (60: an hour a minute; 0: as fast as possible)")
	rate := fs.Float64("rate", 0, "benign flow records per second at the daily peak (default: the scenario's)")
	duration := fs.Duration("duration", 0, "simulated time to run (default: the scenario's)")
	seed := fs.Uint64("seed", 0, "random seed (default: the scenario's)")
	truthPath := fs.String("truth", "", "write the ground truth (JSON lines) to `file`")
	start := fs.String("start", "", "simulated clock at the start, RFC 3339 (default: now)")
	noBind := fs.Bool("no-bind", false, "send every exporter from the same source address")
	quiet := fs.Bool("q", false, "print nothing but errors")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	sc, err := loadScenario(*scenario)
	if err != nil {
		fmt.Fprintf(stderr, "yocho simulate: %v\n", err)
		return 1
	}
	if *sflowTo == "" && *proto == "" {
		// Mixed exporters: sFlow goes to the sFlow port of the same collector.
		if host, _, err := net.SplitHostPort(*to); err == nil {
			*sflowTo = net.JoinHostPort(host, "6343")
		}
	}
	cfg := simulate.Config{
		To: *to, SFlowTo: *sflowTo, Protocol: *proto, Speed: *speed, Rate: *rate,
		Duration: *duration, Seed: *seed, BindExporters: !*noBind,
	}
	if *start != "" {
		t, err := time.Parse(time.RFC3339, *start)
		if err != nil {
			fmt.Fprintf(stderr, "yocho simulate: -start: %v\n", err)
			return 2
		}
		cfg.Start = t
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sim, err := simulate.New(sc, cfg, nil, log)
	if err != nil {
		fmt.Fprintf(stderr, "yocho simulate: %v\n", err)
		return 1
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	began := time.Now()
	if !*quiet {
		fmt.Fprintf(stdout, "simulating %q to %s at speed %g\n", sc.Name, *to, *speed)
	}
	if err := sim.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "yocho simulate: %v\n", err)
		return 1
	}
	st := sim.Stats()
	if *truthPath != "" {
		if err := writeTruthFile(*truthPath, sim.Truth()); err != nil {
			fmt.Fprintf(stderr, "yocho simulate: %v\n", err)
			return 1
		}
	}
	if !*quiet {
		printSimStats(stdout, st, time.Since(began))
	}
	if st.Errors > 0 {
		fmt.Fprintf(stderr, "yocho simulate: %d datagrams could not be sent\n", st.Errors)
		return 1
	}
	return 0
}

// loadScenario reads a scenario file, or the built-in scenario of that name when no such file
// exists.
func loadScenario(path string) (*simulate.Scenario, error) {
	if _, err := os.Stat(path); err != nil {
		if data, ferr := scenarios.FS.ReadFile(filepath.Base(path)); ferr == nil {
			sc, err := simulate.ParseScenario(data)
			if err != nil {
				return nil, fmt.Errorf("built-in %s: %w", filepath.Base(path), err)
			}
			return sc, nil
		}
	}
	return simulate.LoadScenario(path)
}

func writeTruthFile(path string, truths []simulate.Truth) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := simulate.WriteTruth(f, truths); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

func printSimStats(w io.Writer, st simulate.Stats, wall time.Duration) {
	fmt.Fprintf(w, "simulated %s to %s in %s\n", st.SimStart.Format(time.RFC3339), st.SimEnd.Format(time.RFC3339), wall.Round(time.Millisecond))
	fmt.Fprintf(w, "sent %d datagrams, %d flow records, %d packets, %d bytes (sampled); %d datagrams lost on purpose, %d records skipped\n",
		st.Datagrams, st.Records, st.Packets, st.Bytes, st.Lost, st.Skipped)
	if s := wall.Seconds(); s > 0 {
		fmt.Fprintf(w, "%.0f records/s\n", float64(st.Records)/s)
	}
	for name, e := range st.PerExporter {
		fmt.Fprintf(w, "  %-10s %-15s %-8s 1:%-5d %8d datagrams %10d records %12d bytes\n",
			name, e.Address, e.Protocol, e.SamplingRate, e.Datagrams, e.Records, e.Bytes)
	}
}
