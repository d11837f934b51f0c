package simulate

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"yocho/internal/testenv"
)

// needTool skips when a Debian tool is missing, and fails under CI=true.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		testenv.Missing(t, "%s is not installed", name)
	}
	return p
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// exportScenario is the demo scenario, short, at a modest rate, with every exporter speaking
// proto and a fixed clock: DDoS, botnet, scan, long flows, IPv4 and IPv6.
func exportScenario(t *testing.T) *Scenario {
	sc := loadScenario(t, "demo.yaml")
	sc.Duration = 40_000_000_000 // 40 s
	sc.Attacks[1].Start = sc.Attacks[0].Start
	sc.Exporters[2].SamplingRate = 10 // fewer sFlow samples than at 1:1, for slow collectors
	return sc
}

// simulateTo sends the export scenario to addr in proto, paced so that no socket overflows.
func simulateTo(t *testing.T, proto, addr string, speed float64, dur time.Duration) Stats {
	t.Helper()
	sim, err := New(exportScenario(t), Config{
		To: addr, Protocol: proto, Speed: speed, Rate: 400, Seed: 5, BindExporters: true,
		Step: 10 * time.Millisecond, Duration: dur,
		Start: time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC),
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := sim.Stats()
	if st.Records == 0 || st.Errors != 0 || st.Refused != 0 {
		t.Fatalf("sent %d records, %d errors, %d refused", st.Records, st.Errors, st.Refused)
	}
	return st
}

var nfdumpTotals = regexp.MustCompile(`(?m)^(Flows|Packets|Bytes): (\d+)$`)

// TestExportsDecodeWithNfdump sends each NetFlow/IPFIX flavour to nfcapd: nfdump must count the
// records, packets and bytes the simulator says it sent, with no bad packet. nfcapd applies the
// NetFlow v5 header's sampling rate to its counts, not the v9/IPFIX options' rate.
func TestExportsDecodeWithNfdump(t *testing.T) {
	nfcapd, nfdump := needTool(t, "nfcapd"), needTool(t, "nfdump")
	for _, proto := range []string{"netflow5", "netflow9", "ipfix"} {
		t.Run(proto, func(t *testing.T) {
			dir := t.TempDir()
			port := freeUDPPort(t)
			var log bytes.Buffer
			cmd := exec.Command(nfcapd, "-w", dir, "-b", "127.0.0.1", "-p", strconv.Itoa(port), "-B", "4000000")
			cmd.Stdout, cmd.Stderr = &log, &log
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond)
			st := simulateTo(t, proto, fmt.Sprintf("127.0.0.1:%d", port), 8, 30*time.Second)
			time.Sleep(500 * time.Millisecond)
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
			if !strings.Contains(log.String(), "Bad Packets: 0") {
				t.Errorf("nfcapd reports bad packets:\n%s", log.String())
			}
			out, err := exec.Command(nfdump, "-R", dir, "-I").CombinedOutput()
			if err != nil {
				t.Fatalf("nfdump: %v\n%s", err, out)
			}
			got := map[string]uint64{}
			for _, m := range nfdumpTotals.FindAllStringSubmatch(string(out), -1) {
				got[m[1]], _ = strconv.ParseUint(m[2], 10, 64)
			}
			wantPkts, wantBytes := st.Packets, st.Bytes
			if proto == "netflow5" {
				wantPkts, wantBytes = 0, 0
				for _, e := range st.PerExporter {
					wantPkts += e.Packets * uint64(e.SamplingRate)
					wantBytes += e.Bytes * uint64(e.SamplingRate)
				}
			}
			if got["Flows"] != st.Records || got["Packets"] != wantPkts || got["Bytes"] != wantBytes {
				t.Errorf("nfdump counts flows, packets, bytes = %d, %d, %d; the simulator sent %d, %d, %d\n%s",
					got["Flows"], got["Packets"], got["Bytes"], st.Records, wantPkts, wantBytes, out)
			}
			// Every exporter is known by its own address.
			for _, e := range st.PerExporter {
				if e.Records > 0 && !strings.Contains(log.String(), e.Address.String()) {
					t.Errorf("nfcapd never saw exporter %s:\n%s", e.Address, log.String())
				}
			}
		})
	}
}

// capture receives datagrams on a UDP socket of its own, keeping them with their source.
type capture struct {
	conn *net.UDPConn
	mu   sync.Mutex
	pkts []captured
	done chan struct{}
}

type captured struct {
	src  netip.AddrPort
	data []byte
}

func newCapture(t *testing.T) *capture {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadBuffer(8 << 20)
	cp := &capture{conn: c, done: make(chan struct{})}
	go func() {
		defer close(cp.done)
		buf := make([]byte, 65536)
		for {
			n, src, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			cp.mu.Lock()
			cp.pkts = append(cp.pkts, captured{src, append([]byte(nil), buf[:n]...)})
			cp.mu.Unlock()
		}
	}()
	return cp
}

func (c *capture) addr() string { return c.conn.LocalAddr().String() }

func (c *capture) stop() []captured {
	time.Sleep(300 * time.Millisecond)
	c.conn.Close()
	<-c.done
	return c.pkts
}

// writePcap writes the datagrams as IPv4/UDP packets (raw IP link type) for tshark.
func writePcap(t *testing.T, path string, pkts []captured, dstPort int) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
	for i, p := range pkts {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
			SrcIP: p.src.Addr().AsSlice(), DstIP: net.IPv4(127, 0, 0, 1)}
		udp := &layers.UDP{SrcPort: layers.UDPPort(p.src.Port()), DstPort: layers.UDPPort(dstPort)}
		_ = udp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			ip, udp, gopacket.Payload(p.data)); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: ts.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(b), Length: len(b)}
		if err := w.WritePacket(ci, b); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSFlowDecodesWithTshark captures the sFlow export and has tshark decode it: no malformed
// packet, one frame length per sample we sent, summing to the bytes we sent, and each
// exporter's rate in its samples.
func TestSFlowDecodesWithTshark(t *testing.T) {
	tshark := needTool(t, "tshark")
	cp := newCapture(t)
	st := simulateTo(t, "sflow", cp.addr(), 10, 20*time.Second)
	pkts := cp.stop()
	if uint64(len(pkts)) != st.Datagrams {
		t.Fatalf("captured %d datagrams, sent %d", len(pkts), st.Datagrams)
	}
	path := filepath.Join(t.TempDir(), "sflow.pcap")
	port := cp.conn.LocalAddr().(*net.UDPAddr).Port
	writePcap(t, path, pkts, port)
	out, err := exec.Command(tshark, "-r", path, "-d", fmt.Sprintf("udp.port==%d,sflow", port),
		"-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,",
		"-e", "ip.src", "-e", "sflow_245.header.frame_length", "-e", "sflow.flow_sample.sampling_rate", "-e", "_ws.malformed").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var samples, bytesSum uint64
	rates := map[string]map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 4 {
			t.Fatalf("tshark line %q", sc.Text())
		}
		if f[3] != "" {
			t.Fatalf("tshark finds a malformed packet: %q", sc.Text())
		}
		for _, l := range strings.Split(f[1], ",") {
			n, err := strconv.ParseUint(l, 10, 64)
			if err != nil {
				t.Fatalf("frame length %q: %v", l, err)
			}
			samples++
			bytesSum += n
		}
		src := strings.Split(f[0], ",")[0] // the datagram's, before the sampled headers'
		if rates[src] == nil {
			rates[src] = map[string]bool{}
		}
		for _, r := range strings.Split(f[2], ",") {
			rates[src][r] = true
		}
	}
	if samples != st.Records || bytesSum != st.Bytes {
		t.Errorf("tshark sees %d samples, %d bytes; sent %d, %d", samples, bytesSum, st.Records, st.Bytes)
	}
	for name, e := range st.PerExporter {
		got := rates[e.Address.String()]
		if e.Records > 0 && (len(got) != 1 || !got[strconv.Itoa(int(e.SamplingRate))]) {
			t.Errorf("exporter %s (%s): tshark sees rates %v, want %d", name, e.Address, got, e.SamplingRate)
		}
	}
}

// TestSFlowDecodesWithSfacctd sends the sFlow export to pmacct's sfacctd: its CSV must count the
// packets and bytes we sent.
func TestSFlowDecodesWithSfacctd(t *testing.T) {
	sfacctd := needTool(t, "sfacctd")
	dir := t.TempDir()
	port := freeUDPPort(t)
	csv := filepath.Join(dir, "out.csv")
	conf := fmt.Sprintf(`daemonize: false
sfacctd_ip: 127.0.0.1
sfacctd_port: %d
plugins: print[out]
aggregate[out]: peer_src_ip, proto
print_output[out]: csv
print_output_file[out]: %s
print_output_file_append[out]: true
print_refresh_time[out]: 1
sfacctd_pipe_size: 8388608
`, port, csv)
	cfPath := filepath.Join(dir, "sfacctd.conf")
	if err := os.WriteFile(cfPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command(sfacctd, "-f", cfPath)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	st := simulateTo(t, "sflow", fmt.Sprintf("127.0.0.1:%d", port), 4, 16*time.Second)
	// Read the CSV once sfacctd has stopped adding to it (it writes every second), before it is
	// stopped: on SIGINT pmacct may write its last interval a second time.
	var data []byte
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		time.Sleep(2500 * time.Millisecond)
		cur, _ := os.ReadFile(csv)
		if len(cur) > 0 && bytes.Equal(cur, data) {
			break
		}
		data = cur
	}
	_ = cmd.Process.Signal(os.Interrupt) // pmacct ignores SIGTERM
	_ = cmd.Wait()
	if len(data) == 0 {
		t.Fatalf("sfacctd wrote nothing\n%s", log.String())
	}
	var pkts, byts uint64
	var head []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Split(line, ",")
		if f[0] == "PEER_SRC_IP" || strings.HasPrefix(line, "PEER_SRC_IP") {
			head = f
			continue
		}
		for i, h := range head {
			if i >= len(f) {
				break
			}
			switch h {
			case "PACKETS":
				n, _ := strconv.ParseUint(f[i], 10, 64)
				pkts += n
			case "BYTES":
				n, _ := strconv.ParseUint(f[i], 10, 64)
				byts += n
			}
		}
	}
	if pkts != st.Packets || byts != st.Bytes {
		t.Errorf("sfacctd counts %d packets, %d bytes; sent %d samples, %d bytes\n%s", pkts, byts, st.Packets, st.Bytes, data)
	}
}
