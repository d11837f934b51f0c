package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/config"
	"yocho/internal/detect/cnc"
	"yocho/internal/enrich"
	"yocho/internal/flow"
	"yocho/internal/intel"
	"yocho/internal/query"
	"yocho/internal/store"
)

// runQueryCnC ranks the C&C candidates over the stored flows: it replays the raw flows, oldest
// first, through the same engine serve runs online.
func runQueryCnC(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("query cnc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "configuration `file` (YAML): storage.path, networks and cnc")
	dataDir := fs.String("data", "", "store `directory` (overrides storage.path)")
	format := fs.String("format", "table", "output `format`: table or json")
	limit := fs.Int("limit", 50, "at most this many candidates (0: all)")
	minScore := fs.Float64("min-score", 1, "only candidates scoring at least this")
	clientsOf := fs.String("clients", "", "list the clients of this `endpoint` (address:port/proto) instead")
	from := fs.String("from", "", "replay flows from this RFC 3339 `time` (default: all stored)")
	to := fs.String("to", "", "replay flows up to this RFC 3339 `time` (default: now + 1 day)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *format != "table" && *format != "json" {
		fmt.Fprintf(stderr, "yocho query cnc: --format must be table or json\n")
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "yocho query cnc: %v\n", err)
		return 2
	}
	if *dataDir != "" {
		cfg.Storage.Path = *dataDir
	}
	rng := query.Range{From: time.Unix(0, 0).UTC(), To: time.Now().UTC().Add(24 * time.Hour)}
	for _, p := range []struct {
		s   string
		dst *time.Time
	}{{*from, &rng.From}, {*to, &rng.To}} {
		if p.s == "" {
			continue
		}
		if *p.dst, err = time.Parse(time.RFC3339, p.s); err != nil {
			fmt.Fprintf(stderr, "yocho query cnc: bad time %q (want RFC 3339)\n", p.s)
			return 2
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	eng, feeds, err := newCnCEngine(cfg, nil, nil, log)
	if err != nil {
		fmt.Fprintf(stderr, "yocho query cnc: %v\n", err)
		return 2
	}
	if feeds != nil {
		if err := feeds.Reload(); err != nil {
			fmt.Fprintf(stderr, "yocho query cnc: %v\n", err)
		}
	}
	if _, err := os.Stat(cfg.Storage.Path); err != nil {
		fmt.Fprintf(stderr, "yocho query cnc: no store at %s: %v\n", cfg.Storage.Path, err)
		return 1
	}
	rd, err := store.OpenReader(cfg.Storage.Path, store.RetentionFromConfig(cfg.Storage))
	if err != nil {
		fmt.Fprintf(stderr, "yocho query cnc: %v\n", err)
		return 1
	}
	defer rd.Close()
	if err := replayStored(context.Background(), rd, rng, eng); err != nil {
		fmt.Fprintf(stderr, "yocho query cnc: %v\n", err)
		return 1
	}
	if *clientsOf != "" {
		addr, port, proto, err := cnc.ParseEndpoint(*clientsOf)
		if err != nil {
			fmt.Fprintf(stderr, "yocho query cnc: %v\n", err)
			return 2
		}
		clients, ok := eng.Clients(addr, port, proto)
		if !ok {
			fmt.Fprintf(stderr, "yocho query cnc: %s was not contacted by any subscriber\n", *clientsOf)
			return 1
		}
		if *format == "json" {
			return writeJSON(stdout, stderr, clients)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT\tCUSTOMER\tCONTACTS")
		for _, c := range clients {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", c.Address, c.Customer, c.Contacts)
		}
		tw.Flush()
		return 0
	}
	cands := eng.Candidates(*minScore, *limit)
	if *format == "json" {
		return writeJSON(stdout, stderr, cands)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENDPOINT\tSCORE\tALERT\tCLIENTS\tCONTACTS\tFIRST SEEN\tLAST SEEN\tPARTS")
	for _, c := range cands {
		var parts []string
		for k, v := range c.Parts {
			parts = append(parts, fmt.Sprintf("%s=%.1f", k, v))
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%v\t%d\t%d\t%s\t%s\t%s\n", c.Endpoint(), c.Score, c.Alert, c.Clients, c.Contacts,
			c.FirstSeen.Format(time.RFC3339), c.LastSeen.Format(time.RFC3339), strings.Join(sortedStrings(parts), " "))
	}
	tw.Flush()
	return 0
}

func sortedStrings(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

func writeJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "yocho query cnc: %v\n", err)
		return 1
	}
	return 0
}

// newCnCEngine builds the C&C engine of a configuration: its subscribers (the networks, or the
// private and local ranges when none are declared) and its indicator feeds (not yet loaded).
func newCnCEngine(cfg config.Config, alerter cnc.Alerter, reg prometheus.Registerer, log *slog.Logger) (*cnc.Engine, *intel.Store, error) {
	var subs cnc.Subscribers = cnc.LocalRanges{}
	if len(cfg.Networks) > 0 {
		nets, err := enrich.NewNetworks(cfg.Networks, cfg.Detection.DDoS)
		if err != nil {
			return nil, nil, fmt.Errorf("networks: %w", err)
		}
		subs = cnc.FromNetworks(nets, len(cfg.Networks))
	}
	ec := cnc.DefaultConfig()
	ec.AlertScore = cfg.CnC.AlertScore
	ec.MaxEndpoints = cfg.CnC.MaxEndpoints
	ec.MaxPairs = cfg.CnC.MaxPairs
	ec.PairMaxSamplingRate = uint32(cfg.CnC.PairMaxSamplingRate)
	deps := cnc.Deps{Subscribers: subs, Alerter: alerter, Registerer: reg, Logger: log}
	var feeds *intel.Store
	if len(cfg.CnC.Feeds) > 0 {
		ic := intel.Config{Interval: cfg.CnC.FeedCheckInterval.D()}
		for _, f := range cfg.CnC.Feeds {
			ic.Feeds = append(ic.Feeds, intel.Feed{Name: f.Name, Path: f.Path, Format: intel.Format(f.Format), Confidence: f.Confidence})
		}
		var err error
		if feeds, err = intel.New(ic, reg, log); err != nil {
			return nil, nil, err
		}
		deps.Indicators = feeds
	}
	eng, err := cnc.New(ec, deps)
	return eng, feeds, err
}

// replayStored feeds the raw flows stored over rng to c, oldest first. The store answers flow
// searches newest first, at most query.MaxFlows at a time, and each search reads every file of
// its range: so the range is walked forward in windows, each read whole and replayed in reverse,
// which reads each file about once and holds one window in memory. A window that comes back full
// is halved and read again; one that comes back under a quarter full doubles the next.
func replayStored(ctx context.Context, rd *store.Reader, rng query.Range, c flow.Consumer) error {
	b := flow.NewBatch(flow.DefaultBatchSize)
	from, w := rng.From, time.Hour
	for from.Before(rng.To) {
		to := rng.To
		if rng.To.Sub(from) > w {
			to = from.Add(w)
		}
		res, err := rd.Flows(ctx, query.FlowsRequest{Range: query.Range{From: from, To: to}, Limit: query.MaxFlows})
		if err != nil {
			return err
		}
		rows := res.Flows
		if len(rows) >= query.MaxFlows {
			if to.Sub(from) <= time.Millisecond {
				return fmt.Errorf("more than %d flows start at %s: cannot page through them", query.MaxFlows, from)
			}
			w = max(to.Sub(from)/2, time.Millisecond)
			continue
		}
		for i := len(rows) - 1; i >= 0; i-- {
			r := rowRecord(&rows[i])
			b.Append(&r)
			if b.Len() == b.Cap() {
				c.Consume(b)
				b.Reset()
			}
		}
		from = to
		if len(rows) < query.MaxFlows/4 && w < 100*365*24*time.Hour {
			w *= 2
		}
	}
	if b.Len() > 0 {
		c.Consume(b)
	}
	return nil
}

// rowRecord turns a stored flow back into a record.
func rowRecord(f *query.FlowRow) flow.Record {
	addr := func(s string) netip.Addr {
		a, _ := netip.ParseAddr(s)
		return a
	}
	r := flow.Record{
		ReceivedMs: f.Received.UnixMilli(), StartMs: f.Start.UnixMilli(), EndMs: f.End.UnixMilli(),
		Exporter: addr(f.Exporter), ObsDomain: f.ObsDomain, SamplerID: f.SamplerID, SamplingRate: f.SamplingRate,
		InIf: f.InIf, OutIf: f.OutIf, SrcAddr: addr(f.SrcAddr), DstAddr: addr(f.DstAddr), NextHop: addr(f.NextHop),
		SrcPort: f.SrcPort, DstPort: f.DstPort, TCPFlags: f.TCPFlags, ToS: f.ToS, ICMPType: f.ICMPType, ICMPCode: f.ICMPCode,
		Bytes: f.Bytes, Packets: f.Packets, SrcAS: f.SrcAS, DstAS: f.DstAS, SrcMask: f.SrcMask, DstMask: f.DstMask,
		VLAN: f.VLAN, ForwardingStatus: f.ForwardingStatus, MPLSLabel: f.MPLSLabel,
	}
	if p, ok := cnc.ParseProto(f.Proto); ok {
		r.Proto = p
	}
	switch f.Direction {
	case "ingress":
		r.Direction = flow.DirectionIngress
	case "egress":
		r.Direction = flow.DirectionEgress
	}
	return r
}
