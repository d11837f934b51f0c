// Command yocho is the one binary of yocho: it collects flow exports, stores them, detects attacks
// and serves the API and the UI. Each subcommand lives in a file of its own.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// command is one subcommand: run gets the arguments after its name and returns the exit status.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// commands lists every subcommand; each file adds its own entry here.
var commands = map[string]command{
	"serve":   {"collect, store, detect and serve the API and UI", runServe},
	"version": {"print the version", runVersion},
	"query":   {"ask the flow store: top, series, flows (and cnc)", runQuery},
	"import":  {"load flow files (Zeek conn.log, nfdump CSV, pcaps of exports) into the store", runImport},

	"simulate": {"send a scenario's traffic and attacks as flow exports, with ground truth", runSimulate},
	"eval":     {"score yocho's alerts against a simulation's ground truth", runEval},
	"demo":     {"run yocho with simulated traffic and attacks, to look around", runDemo},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "yocho: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "yocho — network security monitoring from flows\n\nUsage: yocho COMMAND [options]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'yocho COMMAND -h' for a command's options.")
}

func runVersion(_ []string, stdout, _ io.Writer) int {
	fmt.Fprintf(stdout, "yocho %s\n", version)
	return 0
}
