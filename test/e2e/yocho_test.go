package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/api"
	"yocho/internal/collect"
	"yocho/internal/flow"
	"yocho/internal/flow/netflow"
	"yocho/internal/flow/sflow"
	"yocho/internal/testenv"
)

// needTools skips the test when a command is missing, or fails it under CI=true.
func needTools(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			testenv.Missing(t, "%s is missing: install it (scripts/test-deps.sh) to run this test", n)
		}
	}
}

// yocho is the collector and the HTTP API, run in-process with the real decoders, as serve wires them.
type yocho struct {
	col  *collect.Collector
	srv  *api.Server
	base string // http://host:port
}

// startYocho runs yocho on random loopback ports. consumers receive every batch.
func startYocho(t testing.TB, cfg collect.Config, consumers ...flow.Consumer) *yocho {
	t.Helper()
	if cfg.NetFlow == nil {
		cfg.NetFlow = []string{"127.0.0.1:0"}
	}
	if cfg.SFlow == nil {
		cfg.SFlow = []string{"127.0.0.1:0"}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	reg := prometheus.NewRegistry()
	col, err := collect.New(cfg, collect.Deps{
		NetFlow:    netflow.New(netflow.DefaultConfig(), reg),
		SFlow:      sflow.New(sflow.DefaultConfig(), reg),
		Consumers:  consumers,
		Registerer: reg,
		Logger:     log,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Config{Listen: "127.0.0.1:0"}, reg, log)
	api.MountExporters(srv, col)
	ctx := context.Background()
	if err := col.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(col.Stop)
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	y := &yocho{col: col, srv: srv, base: "http://" + srv.Addr()}
	var h api.HealthJSON
	if code := y.get(t, "/api/v1/health", &h); code != http.StatusOK || h.Status != "ok" {
		t.Fatalf("health: %d %+v", code, h)
	}
	return y
}

func (y *yocho) netflowAddr() netip.AddrPort { return y.col.NetFlowAddrs()[0] }
func (y *yocho) sflowAddr() netip.AddrPort   { return y.col.SFlowAddrs()[0] }

func (y *yocho) get(t testing.TB, path string, v any) int {
	t.Helper()
	resp, err := http.Get(y.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode
}

// exporters is GET /api/v1/exporters.
func (y *yocho) exporters(t testing.TB) []api.ExporterJSON {
	t.Helper()
	var out []api.ExporterJSON
	if code := y.get(t, "/api/v1/exporters", &out); code != http.StatusOK {
		t.Fatalf("GET /api/v1/exporters: status %d", code)
	}
	return out
}

// totals sums the API's figures over every exporter.
type totals struct {
	Flows, Bytes, Packets, Datagrams, Errors uint64
}

func (y *yocho) totals(t testing.TB) totals {
	t.Helper()
	var s totals
	for _, e := range y.exporters(t) {
		s.Flows += e.Flows
		s.Bytes += e.Bytes
		s.Packets += e.FlowPackets
		s.Datagrams += e.Packets
		for _, n := range e.Errors {
			s.Errors += n
		}
	}
	return s
}

// waitQuiet waits until the flow count is above zero and has not moved for quiet, up to limit.
func (y *yocho) waitQuiet(t testing.TB, quiet, limit time.Duration) totals {
	t.Helper()
	deadline := time.Now().Add(limit)
	last, since := y.totals(t), time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		cur := y.totals(t)
		if cur != last {
			last, since = cur, time.Now()
			continue
		}
		if cur.Flows > 0 && time.Since(since) >= quiet {
			return cur
		}
	}
	return last
}

// waitTee waits until yocho has counted every datagram the tee forwarded to it, then until its
// counts are quiet: on a loaded machine a pause of the exporter must not end the wait early.
func (y *yocho) waitTee(t testing.TB, tt *tee, quiet, limit time.Duration) totals {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && y.totals(t).Datagrams < uint64(tt.datagrams()) {
		time.Sleep(100 * time.Millisecond)
	}
	got := y.waitQuiet(t, quiet, max(time.Until(deadline), quiet+time.Second))
	if got.Datagrams != uint64(tt.datagrams()) {
		t.Logf("the tee forwarded %d datagrams, yocho counted %d", tt.datagrams(), got.Datagrams)
	}
	return got
}

// freeUDPPort returns a loopback UDP port that was free a moment ago.
func freeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// waitUDPBound waits until some socket listens on 127.0.0.1:port (/proc/net/udp).
func waitUDPBound(t testing.TB, port int, p *proc) {
	t.Helper()
	want := fmt.Sprintf("0100007F:%04X ", port)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile("/proc/net/udp")
		if strings.Contains(string(data), want) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never listened on 127.0.0.1:%d; its log:\n%s", p.name, port, p.logText())
}

// tee forwards every datagram it receives to each destination, from one socket, so that two
// collectors see the same export from the same exporter address.
type tee struct {
	conn *net.UDPConn
	wg   sync.WaitGroup
	n    int
	mu   sync.Mutex
}

func startTee(t testing.TB, dests ...netip.AddrPort) *tee {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadBuffer(8 << 20)
	tt := &tee{conn: conn}
	tt.wg.Add(1)
	go func() {
		defer tt.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			for _, d := range dests {
				_, _ = conn.WriteToUDPAddrPort(buf[:n], d)
			}
			tt.mu.Lock()
			tt.n++
			tt.mu.Unlock()
		}
	}()
	t.Cleanup(tt.close)
	return tt
}

func (tt *tee) addr() string { return tt.conn.LocalAddr().String() }

func (tt *tee) datagrams() int {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	return tt.n
}

func (tt *tee) close() {
	tt.conn.Close()
	tt.wg.Wait()
}

// proc is a peer program the test runs, its output in a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process has exited
}

// startProc runs a command in dir, its output in dir/<name>.log; the cleanup kills it.
func startProc(t testing.TB, dir, name string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(dir, filepath.Base(name)+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if p.running() {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// wait waits for the process to exit, up to limit.
func (p *proc) wait(t testing.TB, limit time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit):
		t.Fatalf("%s did not exit within %v; its log:\n%s", p.name, limit, p.logText())
	}
}

// stop sends sig and waits for the process to exit.
func (p *proc) stop(t testing.TB, sig os.Signal) {
	t.Helper()
	_ = p.cmd.Process.Signal(sig)
	p.wait(t, 15*time.Second)
}

func (p *proc) logText() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// waitLog waits until the process's log contains s.
func (p *proc) waitLog(t testing.TB, s string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if strings.Contains(p.logText(), s) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never logged %q; its log:\n%s", p.name, s, p.logText())
}

// udpDrops is the kernel's drop count of the socket bound on 127.0.0.1:port (/proc/net/udp):
// datagrams a peer collector lost before reading them.
func udpDrops(port int) uint64 {
	data, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return 0
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	var n uint64
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 13 && f[1] == want {
			d, _ := strconv.ParseUint(f[len(f)-1], 10, 64)
			n += d
		}
	}
	return n
}
