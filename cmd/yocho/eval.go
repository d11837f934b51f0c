package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"yocho/internal/config"
	"yocho/internal/eval"
	"yocho/internal/simulate"
)

// runEval is `yocho eval`: score the alerts yocho raised against the simulator's ground truth.
func runEval(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	truthPath := fs.String("truth", "", "ground truth `file` written by yocho simulate --truth (required)")
	server := fs.String("server", "http://127.0.0.1:8080", "yocho `URL` whose /api/v1/alerts is read")
	alertsPath := fs.String("alerts", "", "read the alerts from this JSON `file` instead of a server")
	token := fs.String("token", os.Getenv(config.TokenEnv), "API bearer `token` (default $"+config.TokenEnv+")")
	format := fs.String("format", "table", "output `format`: table or json")
	slack := fs.Duration("slack", 2*time.Minute, "widen each truth's time span by this on both sides when matching")
	clock := fs.String("clock", eval.ClockWall, "measure latency on the `clock` wall (from the first export sent to the alert raised) or flow (from the truth's start to the flow time the alert was raised at; for detectors on flow time, whatever the speed)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *truthPath == "" || (*format != "table" && *format != "json") || (*clock != eval.ClockWall && *clock != eval.ClockFlow) {
		fmt.Fprintln(stderr, "yocho eval: -truth is required, -format is table or json, -clock is wall or flow")
		fs.Usage()
		return 2
	}
	f, err := os.Open(*truthPath)
	if err != nil {
		fmt.Fprintf(stderr, "yocho eval: %v\n", err)
		return 1
	}
	truths, err := simulate.ReadTruth(f)
	f.Close()
	if err != nil {
		fmt.Fprintf(stderr, "yocho eval: %s: %v\n", *truthPath, err)
		return 1
	}
	var alerts []eval.Alert
	if *alertsPath != "" {
		data, err := os.ReadFile(*alertsPath)
		if err == nil {
			alerts, err = eval.ParseAlerts(data)
		}
		if err != nil {
			fmt.Fprintf(stderr, "yocho eval: %s: %v\n", *alertsPath, err)
			return 1
		}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		alerts, err = eval.FetchAlerts(ctx, nil, *server, *token)
		if err != nil {
			fmt.Fprintf(stderr, "yocho eval: %v\n", err)
			return 1
		}
	}
	rep := eval.Score(truths, alerts, eval.Options{Slack: *slack, Clock: *clock})
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "yocho eval: %v\n", err)
			return 1
		}
		return 0
	}
	if err := rep.WriteTable(stdout); err != nil {
		fmt.Fprintf(stderr, "yocho eval: %v\n", err)
		return 1
	}
	return 0
}
