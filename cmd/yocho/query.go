package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"yocho/internal/api"
	"yocho/internal/config"
	"yocho/internal/query"
	"yocho/internal/store"
)

const queryUsage = `Usage: yocho query top|series|flows|cnc [options]

  top      the largest groups of flows:   yocho query top --by dst_addr --metric bytes --since 1h
  series   a metric over time, stacked:   yocho query series --metric bps --by proto --since 6h
  flows    raw flows, newest first:        yocho query flows --filter 'proto = udp' --limit 20
  cnc      rank C&C candidates over the stored flows

Reads the store directly (--data DIR, or storage.path of -c FILE, else ./yocho-data) or asks a
running server (--server http://127.0.0.1:8080). Reading directly works while yocho serve runs:
it sees everything up to serve's last flush (a few seconds).
`

// runQuery is `yocho query`.
func runQuery(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, queryUsage)
		return 0
	}
	kind := args[0]
	switch kind {
	case "cnc":
		return runQueryCnC(args[1:], stdout, stderr)
	case "top", "series", "flows":
	default:
		fmt.Fprintf(stderr, "yocho query: unknown query %q\n\n%s", kind, queryUsage)
		return 2
	}
	fs := flag.NewFlagSet("query "+kind, flag.ContinueOnError)
	fs.SetOutput(stderr)
	by := fs.String("by", "", "field(s) to group by, comma-separated (top: default dst_addr)")
	metric := fs.String("metric", "bytes", "bytes, packets, flows, bps or pps (scaled by sampling)")
	limit := fs.Int("limit", 0, "rows (top, default 10), stacked series (series, default 5), flows (flows, default 100)")
	since := fs.String("since", "", "start: RFC 3339 or a duration before now (default 1h; series 6h)")
	until := fs.String("until", "", "end: RFC 3339 or a duration before now (default now)")
	filter := fs.String("filter", "", "filter, e.g. 'dst_addr in 203.0.113.0/24 and proto = udp'")
	bucket := fs.String("bucket", "", "series bucket, e.g. 1m (default: chosen from the range)")
	format := fs.String("format", "table", "table, json or csv")
	data := fs.String("data", "", "store directory (default: storage.path of -c, else ./yocho-data)")
	cfgPath := fs.String("c", "", "configuration `file`, for storage.path and retention")
	server := fs.String("server", "", "ask a running yocho at this URL instead of reading files")
	token := fs.String("token", os.Getenv(config.TokenEnv), "bearer token for --server (default $"+config.TokenEnv+")")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "yocho query: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *format != "table" && *format != "json" && *format != "csv" {
		fmt.Fprintf(stderr, "yocho query: --format %q: want table, json or csv\n", *format)
		return 2
	}
	params := url.Values{}
	for k, v := range map[string]string{"by": *by, "metric": *metric, "since": *since, "until": *until, "filter": *filter, "bucket": *bucket} {
		if v != "" {
			params.Set(k, v)
		}
	}
	if *limit > 0 {
		params.Set("limit", strconv.Itoa(*limit))
	}
	ctx := context.Background()
	var res any
	var err error
	if *server != "" {
		res, err = askServer(ctx, *server, *token, kind, params)
	} else {
		res, err = readStore(ctx, *data, *cfgPath, kind, params)
	}
	if err != nil {
		fmt.Fprintf(stderr, "yocho query %s: %v\n", kind, err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	if err := printResult(stdout, *format, res); err != nil {
		fmt.Fprintf(stderr, "yocho query: %v\n", err)
		return 1
	}
	return 0
}

// usageError is a bad option or filter: exit status 2.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

func readStore(ctx context.Context, data, cfgPath, kind string, params url.Values) (any, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, usageError{err}
	}
	dir := cfg.Storage.Path
	if data != "" {
		dir = data
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, usageError{fmt.Errorf("no store at %s (give --data DIR, -c FILE, or --server URL)", dir)}
	}
	rd, err := store.OpenReader(dir, store.RetentionFromConfig(cfg.Storage))
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	now := time.Now()
	switch kind {
	case "top":
		req, err := api.ParseTopRequest(params, now)
		if err != nil {
			return nil, usageError{err}
		}
		return rd.Top(ctx, req)
	case "series":
		req, err := api.ParseSeriesRequest(params, now)
		if err != nil {
			return nil, usageError{err}
		}
		return rd.Series(ctx, req)
	default:
		req, err := api.ParseFlowsRequest(params, now)
		if err != nil {
			return nil, usageError{err}
		}
		return rd.Flows(ctx, req)
	}
}

func askServer(ctx context.Context, base, token, kind string, params url.Values) (any, error) {
	path := "/api/v1/flows"
	var res any
	switch kind {
	case "top":
		path, res = path+"/top", &query.TopResult{}
	case "series":
		path, res = path+"/series", &query.SeriesResult{}
	default:
		res = &query.FlowsResult{}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+path+"?"+params.Encode(), nil)
	if err != nil {
		return nil, usageError{err}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e api.Error
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			err = errors.New(e.Error)
		} else {
			err = fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		}
		if resp.StatusCode == http.StatusBadRequest {
			return nil, usageError{err}
		}
		return nil, err
	}
	if err := json.Unmarshal(body, res); err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	return res, nil
}

func printResult(w io.Writer, format string, res any) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	var header []string
	var rows [][]string
	var note string
	switch r := res.(type) {
	case *query.TopResult:
		note = fmt.Sprintf("tier %s, %s to %s, by %s", r.Tier, r.From, r.To, r.Metric)
		rate := r.Metric == query.BPS || r.Metric == query.PPS // else the value is one of the sums
		header = append(header, r.By...)
		if rate {
			header = append(header, string(r.Metric))
		}
		header = append(header, "bytes", "packets", "flows")
		for _, row := range r.Rows {
			line := append([]string(nil), row.Key...)
			if rate {
				line = append(line, num(row.Value, format))
			}
			rows = append(rows, append(line, u64(row.Bytes), u64(row.Packets), u64(row.Flows)))
		}
	case *query.SeriesResult:
		note = fmt.Sprintf("tier %s, %s to %s, bucket %ds, %s", r.Tier, r.From, r.To, r.BucketSeconds, r.Metric)
		header = []string{"time"}
		for _, s := range r.Series {
			name := strings.Join(s.Key, "/")
			if s.Other {
				name = "other"
			} else if len(s.Key) == 0 {
				name = string(r.Metric)
			}
			header = append(header, name)
		}
		for i, t := range r.Times {
			row := []string{t.UTC().Format(time.RFC3339)}
			for _, s := range r.Series {
				row = append(row, num(s.Values[i], format))
			}
			rows = append(rows, row)
		}
	case *query.FlowsResult:
		note = fmt.Sprintf("tier %s, %s to %s, newest first", r.Tier, r.From, r.To)
		header = []string{"start", "end", "exporter", "in_if", "out_if", "src_addr", "src_port", "dst_addr", "dst_port", "proto",
			"tcp_flags", "bytes", "packets", "sampling_rate", "src_as", "dst_as", "src_hostgroup", "dst_hostgroup", "src_country", "dst_country"}
		for _, f := range r.Flows {
			rows = append(rows, []string{f.Start.Format(time.RFC3339Nano), f.End.Format(time.RFC3339Nano), f.Exporter,
				u64(uint64(f.InIf)), u64(uint64(f.OutIf)), f.SrcAddr, u64(uint64(f.SrcPort)), f.DstAddr, u64(uint64(f.DstPort)),
				f.Proto, u64(uint64(f.TCPFlags)), u64(f.Bytes), u64(f.Packets), u64(uint64(f.SamplingRate)),
				u64(uint64(f.SrcAS)), u64(uint64(f.DstAS)), f.SrcHostgroup, f.DstHostgroup, f.SrcCountry, f.DstCountry})
		}
	default:
		return fmt.Errorf("unexpected answer %T", res)
	}
	if format == "csv" {
		cw := csv.NewWriter(w)
		_ = cw.Write(header)
		_ = cw.WriteAll(rows)
		return cw.Error()
	}
	fmt.Fprintf(w, "# %s\n", note)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, row := range rows {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }

// num shows a value: exact in CSV, with an SI suffix in tables.
func num(v float64, format string) string {
	if format == "csv" {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	for _, u := range []struct {
		s string
		f float64
	}{{"T", 1e12}, {"G", 1e9}, {"M", 1e6}, {"k", 1e3}} {
		if v >= u.f {
			return strconv.FormatFloat(v/u.f, 'f', 2, 64) + u.s
		}
	}
	if v == float64(int64(v)) {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}
