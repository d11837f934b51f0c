package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"yocho/internal/config"
	"yocho/internal/simulate"
)

// runDemo is `yocho demo`: yocho serve plus the demo scenario sent to it, in one process.
func runDemo(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return demo(ctx, args, stdout, stderr)
}

func demo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	httpAddr := fs.String("http", "127.0.0.1:8080", "serve the UI and API on `host:port`")
	nfAddr := fs.String("netflow", "127.0.0.1:2055", "receive NetFlow/IPFIX on `host:port`")
	sfAddr := fs.String("sflow", "127.0.0.1:6343", "receive sFlow on `host:port`")
	dataDir := fs.String("data", "", "keep the data in `dir` (default: a temporary folder removed on exit)")
	cfgPath := fs.String("c", "", "run serve with this configuration `file` instead (its listen addresses win)")
	scenario := fs.String("scenario", "scenarios/demo.yaml", "scenario `file` or built-in name")
	speed := fs.Float64("speed", 1, "simulated seconds per wall second")
	truthPath := fs.String("truth", "", "write the demo's ground truth to `file` when it ends")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	sc, err := loadScenario(*scenario)
	if err != nil {
		fmt.Fprintf(stderr, "yocho demo: %v\n", err)
		return 2
	}
	path := *cfgPath
	if path == "" {
		dir := *dataDir
		if dir == "" {
			tmp, err := os.MkdirTemp("", "yocho-demo-")
			if err != nil {
				fmt.Fprintf(stderr, "yocho demo: %v\n", err)
				return 1
			}
			defer os.RemoveAll(tmp)
			dir = tmp
		}
		path = filepath.Join(dir, "demo.yaml")
		if err := os.WriteFile(path, []byte(demoConfig(sc, *httpAddr, *nfAddr, *sfAddr, filepath.Join(dir, "data"))), 0o644); err != nil {
			fmt.Fprintf(stderr, "yocho demo: %v\n", err)
			return 1
		}
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "yocho demo: %v\n", err)
		return 2
	}
	if len(cfg.Listen.NetFlow) == 0 || cfg.Listen.HTTP == "" {
		fmt.Fprintln(stderr, "yocho demo: the configuration must listen for NetFlow and HTTP")
		return 2
	}

	// A server already on the HTTP port would answer in our place: refuse to start.
	if ln, err := net.Listen("tcp", string(cfg.Listen.HTTP)); err != nil {
		fmt.Fprintf(stderr, "yocho demo: cannot serve HTTP on %s: %v (choose another with -http)\n", cfg.Listen.HTTP, err)
		return 1
	} else {
		ln.Close()
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan int, 1)
	go func() { served <- serve(ctx, []string{"-c", path}, stdout, stderr) }()

	base := "http://" + string(cfg.Listen.HTTP)
	if err := waitHTTP(ctx, base+"/api/v1/health", served); err != nil {
		fmt.Fprintf(stderr, "yocho demo: yocho serve did not come up: %v\n", err)
		cancel()
		return 1
	}
	simCfg := simulate.Config{To: string(cfg.Listen.NetFlow[0]), Speed: *speed, BindExporters: true}
	if len(cfg.Listen.SFlow) > 0 {
		simCfg.SFlowTo = string(cfg.Listen.SFlow[0])
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sim, err := simulate.New(sc, simCfg, nil, log)
	if err == nil {
		err = sim.Start(ctx)
	}
	if err != nil {
		fmt.Fprintf(stderr, "yocho demo: simulator: %v\n", err)
		cancel()
		<-served
		return 1
	}
	fmt.Fprintf(stdout, "\nyocho demo is running: open %s/\n", base)
	fmt.Fprintf(stdout, "  traffic:   %s/api/v1/exporters\n  alerts:    %s/api/v1/alerts\n", base, base)
	fmt.Fprintf(stdout, "  scenario:  %s, %d exporters sending to %s", sc.Name, len(sc.Exporters), simCfg.To)
	if simCfg.SFlowTo != "" {
		fmt.Fprintf(stdout, " and %s (sFlow)", simCfg.SFlowTo)
	}
	fmt.Fprintf(stdout, "; a DDoS starts after %s and a botnet beacons from the start.\nStop with Ctrl-C.\n\n",
		sc.Attacks[0].Start.D())

	code := 0
	select {
	case code = <-served:
		sim.Stop()
	case <-ctx.Done():
		sim.Stop()
		code = <-served
	case <-sim.Done():
		fmt.Fprintln(stdout, "the demo scenario is over; yocho keeps serving until Ctrl-C")
		code = <-served
	}
	if *truthPath != "" {
		if err := writeTruthFile(*truthPath, sim.Truth()); err != nil {
			fmt.Fprintf(stderr, "yocho demo: %v\n", err)
		}
	}
	return code
}

// demoConfig is the serve configuration of the demo: the given listeners, the data folder, and
// the scenario's carrier prefixes as our networks (when the configuration knows networks).
func demoConfig(sc *simulate.Scenario, httpAddr, nf, sf, data string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listen:\n  netflow: [%q]\n  sflow: [%q]\n  http: %q\nstorage:\n  path: %q\n", nf, sf, httpAddr, data)
	base := b.String()
	b.WriteString("networks:\n")
	for i, p := range sc.Carrier.Servers {
		fmt.Fprintf(&b, "  - {prefix: %q, name: hosting-%d, customer: hosting}\n", p.String(), i+1)
	}
	for i, p := range sc.Carrier.Subscribers {
		fmt.Fprintf(&b, "  - {prefix: %q, name: subscribers-%d, customer: broadband}\n", p.String(), i+1)
	}
	if _, err := config.Parse([]byte(b.String())); err != nil {
		return base // the networks section is not what this build expects: run without it
	}
	return b.String()
}

// waitHTTP polls url until it answers, serve gives up, or 30 s pass.
func waitHTTP(ctx context.Context, url string, served chan int) error {
	deadline := time.Now().Add(30 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case code := <-served:
			served <- code
			return fmt.Errorf("serve exited with status %d", code)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("no answer from %s in 30 s", url)
}
