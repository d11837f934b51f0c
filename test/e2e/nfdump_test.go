package e2e

import (
	"bufio"
	"bytes"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"yocho/internal/collect"
)

// runSoftflowd exports the capture pcap (in dir) to dest with softflowd and waits until it has
// read it all and exited. With -r, softflowd only starts once a softflowctl command wakes it.
func runSoftflowd(t *testing.T, dir, pcap, dest string, args ...string) {
	t.Helper()
	ctl := filepath.Join(dir, "softflowd.ctl")
	args = append([]string{"-r", pcap, "-n", dest, "-d", "-p", filepath.Join(dir, "softflowd.pid"), "-c", ctl}, args...)
	sf := startProc(t, dir, "softflowd", args...)
	for range 60 {
		if !sf.running() {
			break
		}
		_ = exec.Command("softflowctl", "-c", ctl, "statistics").Run()
		time.Sleep(500 * time.Millisecond)
	}
	sf.wait(t, 10*time.Second)
}

// nfdumpSummary is what nfdump reports for the files in dir: flows, bytes and packets.
func nfdumpSummary(t *testing.T, dir string, filter ...string) totals {
	t.Helper()
	out, err := exec.Command("nfdump", append([]string{"-R", dir, "-o", "csv"}, filter...)...).Output()
	if err != nil {
		t.Fatalf("nfdump -R %s: %v\n%s", dir, err, out)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "flows,bytes,packets") || !sc.Scan() {
			continue
		}
		f := strings.Split(sc.Text(), ",")
		var n [3]uint64
		for i := range n {
			if n[i], err = strconv.ParseUint(strings.TrimSpace(f[i]), 10, 64); err != nil {
				t.Fatalf("nfdump summary %q: %v", sc.Text(), err)
			}
		}
		return totals{Flows: n[0], Bytes: n[1], Packets: n[2]}
	}
	t.Fatalf("no summary in nfdump's output:\n%s", out)
	return totals{}
}

// captureWithNfcapd starts nfcapd on a free port, writing into dir/name; stop it with SIGTERM.
func captureWithNfcapd(t *testing.T, dir, name string) (*proc, netip.AddrPort, string) {
	t.Helper()
	out := filepath.Join(dir, name)
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	port := freeUDPPort(t)
	p := startProc(t, dir, "nfcapd", "-w", out, "-b", "127.0.0.1", "-p", strconv.Itoa(port), "-P", filepath.Join(dir, name+".pid"))
	waitUDPBound(t, port, p)
	return p, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)), out
}

func assertSameExport(t *testing.T, peer string, want, got totals) {
	t.Helper()
	if got.Flows != want.Flows || got.Bytes != want.Bytes || got.Packets != want.Packets {
		t.Errorf("yocho's /api/v1/exporters: %d flows, %d bytes, %d packets; %s: %d flows, %d bytes, %d packets",
			got.Flows, got.Bytes, got.Packets, peer, want.Flows, want.Bytes, want.Packets)
	}
	if got.Errors != 0 {
		t.Errorf("yocho counted %d decode errors on a clean export", got.Errors)
	}
	if want.Flows == 0 {
		t.Errorf("%s saw no flows: the export did not happen", peer)
	}
	t.Logf("%s and yocho: %d flows, %d bytes, %d packets (%d datagrams)", peer, got.Flows, got.Bytes, got.Packets, got.Datagrams)
}

// TestSoftflowdToNfcapdAndYocho exports the test capture with softflowd as NetFlow v5, v9 and
// IPFIX, through a tee to both nfcapd and yocho: the flows and bytes must be the same.
func TestSoftflowdToNfcapdAndYocho(t *testing.T) {
	needTools(t, "softflowd", "softflowctl", "nfcapd", "nfdump")
	t.Parallel()
	for _, v := range []string{"5", "9", "10"} {
		t.Run("v"+v, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if _, err := writeTrafficPcap(filepath.Join(dir, "traffic.pcap")); err != nil {
				t.Fatal(err)
			}
			y := startYocho(t, collect.Config{})
			nfcapd, nfcapdAddr, files := captureWithNfcapd(t, dir, "nfcap")
			tee := startTee(t, y.netflowAddr(), nfcapdAddr)

			runSoftflowd(t, dir, "traffic.pcap", tee.addr(), "-v", v, "-A", "milli")
			got := y.waitQuiet(t, time.Second, 20*time.Second)
			if n := udpDrops(int(nfcapdAddr.Port())); n != 0 {
				t.Errorf("nfcapd lost %d datagrams at its socket: the comparison is void", n)
			}
			nfcapd.stop(t, syscall.SIGTERM) // flushes and closes its file
			want := nfdumpSummary(t, files)
			assertSameExport(t, "nfcapd/nfdump", want, got)
			e := y.exporters(t)
			wantVersion := map[string]string{"5": "netflow-v5", "9": "netflow-v9", "10": "ipfix"}[v]
			if len(e) != 1 || e[0].Address != "127.0.0.1" || len(e[0].Versions) != 1 || e[0].Versions[0] != wantVersion {
				t.Errorf("exporters: %+v, want one, 127.0.0.1, sending %s", e, wantVersion)
			} else if e[0].Packets != uint64(tee.datagrams()) {
				t.Errorf("yocho counted %d datagrams, the tee forwarded %d", e[0].Packets, tee.datagrams())
			}
		})
	}
}

// TestNfreplayToYocho replays softflowd's v9 export, as nfcapd stored it, with nfreplay as
// NetFlow v9 and v5: yocho must count what nfdump counts in the file (IPv4 only for v5).
func TestNfreplayToYocho(t *testing.T) {
	needTools(t, "softflowd", "softflowctl", "nfcapd", "nfdump", "nfreplay")
	t.Parallel()
	dir := t.TempDir()
	if _, err := writeTrafficPcap(filepath.Join(dir, "traffic.pcap")); err != nil {
		t.Fatal(err)
	}
	nfcapd, nfcapdAddr, files := captureWithNfcapd(t, dir, "nfcap")
	runSoftflowd(t, dir, "traffic.pcap", nfcapdAddr.String(), "-v", "9", "-A", "milli")
	time.Sleep(500 * time.Millisecond)
	nfcapd.stop(t, syscall.SIGTERM)
	stored, _ := filepath.Glob(filepath.Join(files, "nfcapd.2*"))
	if len(stored) != 1 {
		t.Fatalf("nfcapd files: %v, want one", stored)
	}

	for _, tc := range []struct {
		version string
		filter  []string
	}{{"9", nil}, {"5", []string{"ipv4"}}} {
		t.Run("v"+tc.version, func(t *testing.T) {
			want := nfdumpSummary(t, files, tc.filter...)
			y := startYocho(t, collect.Config{})
			a := y.netflowAddr()
			replay := startProc(t, dir, "nfreplay", "-r", stored[0], "-H", a.Addr().String(), "-p", strconv.Itoa(int(a.Port())), "-v", tc.version)
			replay.wait(t, 30*time.Second)
			got := y.waitQuiet(t, time.Second, 10*time.Second)
			assertSameExport(t, "nfdump "+strings.Join(tc.filter, " "), want, got)
		})
	}
}
