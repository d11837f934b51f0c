package e2e

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"yocho/internal/collect"
)

// pmacctCSV sums the FLOWS, PACKETS and BYTES columns of a pmacct print plugin CSV file (the
// plugin appends a section, with its header, at every refresh).
func pmacctCSV(t *testing.T, path string) totals {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("pmacct's output: %v", err)
	}
	defer f.Close()
	var s totals
	col := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ",")
		if fields[0] == "PEER_SRC_IP" {
			for i, name := range fields {
				col[name] = i
			}
			continue
		}
		get := func(name string) uint64 {
			i, ok := col[name]
			if !ok || i >= len(fields) {
				t.Fatalf("%s: no %s column in %q", path, name, sc.Text())
			}
			n, err := strconv.ParseUint(fields[i], 10, 64)
			if err != nil {
				t.Fatalf("%s: %s in %q: %v", path, name, sc.Text(), err)
			}
			return n
		}
		s.Flows += get("FLOWS")
		s.Packets += get("PACKETS")
		s.Bytes += get("BYTES")
	}
	return s
}

// pmacctCollector starts nfacctd or sfacctd on a free port, printing per-exporter sums to a CSV file.
func pmacctCollector(t *testing.T, dir, daemon string) (*proc, netip.AddrPort, string) {
	t.Helper()
	port := freeUDPPort(t)
	csv := filepath.Join(dir, daemon+"-out.csv")
	conf := filepath.Join(dir, daemon+".conf")
	prefix := daemon[:2] // nf or sf
	writeFile(t, conf, fmt.Sprintf(`daemonize: false
%[1]sacctd_ip: 127.0.0.1
%[1]sacctd_port: %[2]d
%[1]sacctd_pipe_size: 16777216
plugins: print[out]
aggregate[out]: peer_src_ip, flows
print_output[out]: csv
print_output_file[out]: %[3]s
print_output_file_append[out]: true
print_refresh_time[out]: 1
`, prefix, port, csv))
	p := startProc(t, dir, daemon, "-f", conf)
	waitUDPBound(t, port, p)
	return p, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)), csv
}

// runPmacctd makes pmacctd read the capture and export it with plugin (nfprobe or sfprobe),
// configured by extra, then stops it with SIGINT (it ignores SIGTERM), which exports what it still holds.
func runPmacctd(t *testing.T, dir, name, extra string) {
	t.Helper()
	conf := filepath.Join(dir, name+".conf")
	writeFile(t, conf, fmt.Sprintf("daemonize: false\npcap_savefile: %s\npcap_savefile_wait: true\n%s",
		filepath.Join(dir, "traffic.pcap"), extra))
	p := startProc(t, dir, "pmacctd", "-f", conf)
	p.waitLog(t, "finished reading PCAP capture file", 30*time.Second)
	time.Sleep(time.Second)
	p.stop(t, syscall.SIGINT)
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPmacctToNfacctdAndYocho exports the capture as IPFIX with pmacctd's nfprobe plugin, through
// a tee to nfacctd and yocho: the flows, packets and bytes must be the same.
func TestPmacctToNfacctdAndYocho(t *testing.T) {
	needTools(t, "pmacctd", "nfacctd")
	t.Parallel()
	dir := t.TempDir()
	if _, err := writeTrafficPcap(filepath.Join(dir, "traffic.pcap")); err != nil {
		t.Fatal(err)
	}
	y := startYocho(t, collect.Config{})
	nfacctd, addr, csv := pmacctCollector(t, dir, "nfacctd")
	tee := startTee(t, y.netflowAddr(), addr)
	runPmacctd(t, dir, "nfprobe", fmt.Sprintf(`plugins: nfprobe
nfprobe_receiver: %s
nfprobe_version: 10
nfprobe_timeouts: general=1:maxlife=2:expint=1
`, tee.addr()))
	got := y.waitTee(t, tee, 1500*time.Millisecond, 30*time.Second)
	time.Sleep(1500 * time.Millisecond) // one more print refresh
	if n := udpDrops(int(addr.Port())); n != 0 {
		t.Errorf("nfacctd lost %d datagrams at its socket: the comparison is void", n)
	}
	nfacctd.stop(t, syscall.SIGINT)
	assertSameExport(t, "nfacctd", pmacctCSV(t, csv), got)
	if e := y.exporters(t); len(e) != 1 || len(e[0].Versions) != 1 || e[0].Versions[0] != "ipfix" {
		t.Errorf("exporters: %+v, want one sending IPFIX", e)
	}
}

// TestPmacctToSfacctdAndYocho exports the capture as sFlow v5 (1:1) with pmacctd's sfprobe
// plugin, through a tee to sfacctd and yocho: the samples (flows), packets and bytes must be the same.
func TestPmacctToSfacctdAndYocho(t *testing.T) {
	needTools(t, "pmacctd", "sfacctd")
	t.Parallel()
	dir := t.TempDir()
	if _, err := writeTrafficPcap(filepath.Join(dir, "traffic.pcap")); err != nil {
		t.Fatal(err)
	}
	y := startYocho(t, collect.Config{})
	sfacctd, addr, csv := pmacctCollector(t, dir, "sfacctd")
	tee := startTee(t, y.sflowAddr(), addr)
	runPmacctd(t, dir, "sfprobe", fmt.Sprintf(`plugins: sfprobe
sfprobe_receiver: %s
sfprobe_agentip: 192.0.2.10
sampling_rate: 1
`, tee.addr()))
	got := y.waitTee(t, tee, 1500*time.Millisecond, 30*time.Second)
	time.Sleep(1500 * time.Millisecond) // one more print refresh
	if n := udpDrops(int(addr.Port())); n != 0 {
		t.Errorf("sfacctd lost %d datagrams at its socket: the comparison is void", n)
	}
	sfacctd.stop(t, syscall.SIGINT)
	assertSameExport(t, "sfacctd", pmacctCSV(t, csv), got)
	e := y.exporters(t)
	if len(e) != 1 || e[0].Address != "192.0.2.10" || len(e[0].Versions) != 1 || e[0].Versions[0] != "sflow-v5" {
		t.Errorf("exporters: %+v, want one, the agent 192.0.2.10, sending sFlow", e)
	}
}
