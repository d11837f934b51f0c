package importer

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/flow"
	"yocho/internal/flow/netflow"
	"yocho/internal/flow/sflow"
	"yocho/internal/testenv"
)

// collect imports data and returns every record.
func collect(t *testing.T, cfg Config, deps Deps, data []byte) ([]flow.Record, Stats) {
	t.Helper()
	im, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	var recs []flow.Record
	st, err := im.Read(context.Background(), bytes.NewReader(data), func(b *flow.Batch) error {
		for i := range b.Len() {
			recs = append(recs, b.Record(i))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return recs, st
}

const zeekTSV = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n" +
	"#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n" +
	"#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\n" +
	"1700000000.250000\tC1\t192.168.1.115\t49162\t41.108.179.197\t1177\ttcp\t-\t3.000517\t0\t0\tS0\tT\tF\t0\tS\t2\t104\t0\t0\t(empty)\n" +
	"1700000010.000000\tC2\t192.168.1.115\t60024\t54.247.115.15\t443\ttcp\tssl\t3.105571\t803\t5346\tSF\tT\tF\t0\tShADadfF\t10\t1227\t11\t5889\t(empty)\n" +
	"1700000020.000000\tC3\tfd00::1\t5353\t2001:db8::53\t53\tudp\tdns\t-\t-\t-\tS0\tT\tF\t0\tD\t1\t82\t0\t0\t(empty)\n" +
	"1700000030.000000\tC4\t10.0.0.1\t8\t8.8.8.8\t0\ticmp\t-\t0.01\t56\t56\tOTH\tT\tF\t0\t-\t1\t84\t1\t84\t(empty)\n" +
	"garbage line\n" +
	"#close\t2023-01-01-00-00-00\n"

func TestZeekTSV(t *testing.T) {
	recs, st := collect(t, DefaultConfig(), Deps{}, []byte(zeekTSV))
	want := []flow.Record{
		{StartMs: 1700000000250, EndMs: 1700000003251, SrcAddr: netip.MustParseAddr("192.168.1.115"), DstAddr: netip.MustParseAddr("41.108.179.197"), SrcPort: 49162, DstPort: 1177, Proto: 6, TCPFlags: 0x02, Packets: 2, Bytes: 104},
		{StartMs: 1700000010000, EndMs: 1700000013106, SrcAddr: netip.MustParseAddr("192.168.1.115"), DstAddr: netip.MustParseAddr("54.247.115.15"), SrcPort: 60024, DstPort: 443, Proto: 6, TCPFlags: 0x1b, Packets: 10, Bytes: 1227},
		{StartMs: 1700000010000, EndMs: 1700000013106, SrcAddr: netip.MustParseAddr("54.247.115.15"), DstAddr: netip.MustParseAddr("192.168.1.115"), SrcPort: 443, DstPort: 60024, Proto: 6, TCPFlags: 0x1b, Packets: 11, Bytes: 5889},
		{StartMs: 1700000020000, EndMs: 1700000020000, SrcAddr: netip.MustParseAddr("fd00::1"), DstAddr: netip.MustParseAddr("2001:db8::53"), SrcPort: 5353, DstPort: 53, Proto: 17, TCPFlags: 0x18, Packets: 1, Bytes: 82},
		{StartMs: 1700000030000, EndMs: 1700000030010, SrcAddr: netip.MustParseAddr("10.0.0.1"), DstAddr: netip.MustParseAddr("8.8.8.8"), Proto: 1, ICMPType: 8, Packets: 1, Bytes: 84},
		{StartMs: 1700000030000, EndMs: 1700000030010, SrcAddr: netip.MustParseAddr("8.8.8.8"), DstAddr: netip.MustParseAddr("10.0.0.1"), Proto: 1, ICMPType: 8, Packets: 1, Bytes: 84},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d: %+v", len(recs), len(want), recs)
	}
	for i, w := range want {
		g := recs[i]
		w.ReceivedMs, w.Exporter, w.SamplingRate = w.EndMs, netip.IPv4Unspecified(), 1
		if g != w {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
	if st.Dropped["zeek_bad_line"] != 1 {
		t.Errorf("dropped %v, want the garbage line counted", st.Dropped)
	}
}

func TestZeekJSON(t *testing.T) {
	data := `{"ts":1700000000.25,"uid":"C1","id.orig_h":"192.168.1.115","id.orig_p":49162,"id.resp_h":"41.108.179.197","id.resp_p":1177,"proto":"tcp","duration":3.0,"conn_state":"S0","history":"S","orig_pkts":2,"orig_ip_bytes":104,"resp_pkts":0,"resp_ip_bytes":0}
{"ts":"2023-11-14T22:13:30.000000Z","id.orig_h":"192.168.1.115","id.orig_p":60024,"id.resp_h":"54.247.115.15","id.resp_p":443,"proto":"tcp","duration":1.5,"history":"ShADadfF","orig_pkts":10,"orig_bytes":803,"resp_pkts":11,"resp_bytes":5346}
{"ts":1700000000,"id.orig_h":"bad","id.orig_p":1,"id.resp_h":"1.1.1.1","id.resp_p":2,"proto":"tcp"}
`
	recs, st := collect(t, DefaultConfig(), Deps{}, []byte(data))
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3: %+v", len(recs), recs)
	}
	if r := recs[0]; r.StartMs != 1700000000250 || r.EndMs != 1700000003250 || r.DstPort != 1177 || r.TCPFlags != 0x02 || r.Bytes != 104 {
		t.Errorf("first: %+v", r)
	}
	if r := recs[1]; r.StartMs != 1700000010000 || r.Bytes != 803 || r.Packets != 10 {
		t.Errorf("ISO time, payload bytes: %+v", r)
	}
	if r := recs[2]; r.SrcPort != 443 || r.Packets != 11 || r.Bytes != 5346 {
		t.Errorf("answer: %+v", r)
	}
	if st.Dropped["zeek_bad_line"] != 1 {
		t.Errorf("dropped %v", st.Dropped)
	}
}

// corpus is ../shared/corpus relative to the repository root.
func corpus(t *testing.T, rel string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "corpus", rel)
	if _, err := os.Stat(p); err != nil {
		testenv.Missing(t, "corpus %s missing", p)
	}
	return p
}

func TestZeekCorpus(t *testing.T) {
	for _, rel := range []string{"cnc/stratosphere/001-zeek-scenario-malicious/labeled-conn.log", "cnc/stratosphere/008-zeek-mixed/data/conn.log.labeled"} {
		path := corpus(t, rel)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// Oracle: every connection line gives one record, plus one when the responder sent packets.
		conns, answered := 0, 0
		var respPkts int
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "#fields") {
				for i, f := range strings.Split(line, "\t")[1:] {
					if f == "resp_pkts" {
						respPkts = i
					}
				}
			}
			if line == "" || line[0] == '#' {
				continue
			}
			conns++
			if n, _ := strconv.Atoi(strings.Split(line, "\t")[respPkts]); n > 0 {
				answered++
			}
		}
		recs, st := collect(t, DefaultConfig(), Deps{}, data)
		if len(recs) != conns+answered || len(st.Dropped) != 0 {
			t.Errorf("%s: %d records (dropped %v), want %d connections + %d answers", rel, len(recs), st.Dropped, conns, answered)
		}
	}
}

// writeTraffic writes a pcap of known flows: TCP connections answered or not, UDP
// exchanges, IPv6 UDP. It returns the packet count.
func writeTraffic(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	n := 0
	write := func(at time.Time, src, dst netip.Addr, l4 gopacket.SerializableLayer, payload int) {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 1, 2, 3, 4, 5}, DstMAC: net.HardwareAddr{0, 1, 2, 3, 4, 6}, EthernetType: layers.EthernetTypeIPv4}
		var ip gopacket.NetworkLayer
		var ipl gopacket.SerializableLayer
		proto := layers.IPProtocolTCP
		if _, ok := l4.(*layers.UDP); ok {
			proto = layers.IPProtocolUDP
		}
		if src.Is4() {
			v := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
			ip, ipl = v, v
		} else {
			eth.EthernetType = layers.EthernetTypeIPv6
			v := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
			ip, ipl = v, v
		}
		switch l := l4.(type) {
		case *layers.TCP:
			_ = l.SetNetworkLayerForChecksum(ip)
		case *layers.UDP:
			_ = l.SetNetworkLayerForChecksum(ip)
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			eth, ipl, l4, gopacket.Payload(make([]byte, payload))); err != nil {
			t.Fatal(err)
		}
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}, buf.Bytes()); err != nil {
			t.Fatal(err)
		}
		n++
	}
	cnc := netip.MustParseAddr("41.108.179.197")
	for i := range 30 {
		c := netip.AddrFrom4([4]byte{192, 168, 1, byte(10 + i%5)})
		at := base.Add(time.Duration(i) * 20 * time.Second)
		sp := layers.TCPPort(40000 + i)
		write(at, c, cnc, &layers.TCP{SrcPort: sp, DstPort: 1177, SYN: true, Window: 1024}, 0)
		if i%3 == 0 {
			continue // unanswered
		}
		write(at.Add(10*time.Millisecond), cnc, c, &layers.TCP{SrcPort: 1177, DstPort: sp, SYN: true, ACK: true, Window: 1024}, 0)
		write(at.Add(20*time.Millisecond), c, cnc, &layers.TCP{SrcPort: sp, DstPort: 1177, ACK: true, PSH: true, Window: 1024}, 100)
		write(at.Add(30*time.Millisecond), cnc, c, &layers.TCP{SrcPort: 1177, DstPort: sp, ACK: true, PSH: true, Window: 1024}, 40)
		write(at.Add(40*time.Millisecond), c, cnc, &layers.TCP{SrcPort: sp, DstPort: 1177, ACK: true, FIN: true, Window: 1024}, 0)
		write(at.Add(50*time.Millisecond), cnc, c, &layers.TCP{SrcPort: 1177, DstPort: sp, ACK: true, FIN: true, Window: 1024}, 0)
	}
	for i := range 20 {
		c := netip.AddrFrom4([4]byte{192, 168, 1, byte(50 + i)})
		dns := netip.MustParseAddr("8.8.8.8")
		at := base.Add(time.Duration(i)*7*time.Second + time.Second)
		write(at, c, dns, &layers.UDP{SrcPort: layers.UDPPort(50000 + i), DstPort: 53}, 30)
		write(at.Add(5*time.Millisecond), dns, c, &layers.UDP{SrcPort: 53, DstPort: layers.UDPPort(50000 + i)}, 60)
	}
	for i := range 5 {
		c := netip.MustParseAddr("fd00::" + strconv.Itoa(i+1))
		write(base.Add(time.Duration(i)*time.Second), c, netip.MustParseAddr("2001:db8::53"), &layers.UDP{SrcPort: 5353, DstPort: 53}, 40)
	}
	return n
}

// need skips (or fails, under CI=true) when a Debian tool is missing.
func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "%s is missing: %v", tool, err)
		}
	}
}

// exportRun has softflowd export traffic.pcap as NetFlow v9 to a relay that records every
// datagram in a pcap and forwards it to nfcapd; it returns nfdump's CSV and the export pcap.
func exportRun(t *testing.T) (csv []byte, exports string, packets int) {
	need(t, "softflowd", "softflowctl", "nfcapd", "nfdump")
	dir := t.TempDir()
	packets = writeTraffic(t, filepath.Join(dir, "traffic.pcap"))
	capDir := filepath.Join(dir, "nfcap")
	if err := os.MkdirAll(capDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// nfcapd on a free port.
	probe, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nfPort := probe.LocalAddr().(*net.UDPAddr).Port
	probe.Close()
	nfcapd := exec.Command("nfcapd", "-w", capDir, "-b", "127.0.0.1", "-p", strconv.Itoa(nfPort), "-P", filepath.Join(dir, "nfcapd.pid"))
	nfcapd.Env = append(os.Environ(), "TZ=UTC")
	if err := nfcapd.Start(); err != nil {
		t.Fatal(err)
	}
	// The relay: records each datagram, forwards it.
	relay, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	exports = filepath.Join(dir, "exports.pcap")
	pf, err := os.Create(exports)
	if err != nil {
		t.Fatal(err)
	}
	pw := pcapgo.NewWriter(pf)
	_ = pw.WriteFileHeader(65535, layers.LinkTypeEthernet)
	fwd, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: nfPort})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			_ = relay.SetReadDeadline(time.Now().Add(3 * time.Second))
			n, from, err := relay.ReadFromUDP(buf)
			if err != nil {
				return
			}
			eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{0, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: from.IP.To4(), DstIP: net.IPv4(127, 0, 0, 1).To4()}
			udp := &layers.UDP{SrcPort: layers.UDPPort(from.Port), DstPort: 2055}
			_ = udp.SetNetworkLayerForChecksum(ip)
			sb := gopacket.NewSerializeBuffer()
			_ = gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(buf[:n]))
			_ = pw.WritePacket(gopacket.CaptureInfo{Timestamp: time.Now(), CaptureLength: len(sb.Bytes()), Length: len(sb.Bytes())}, sb.Bytes())
			_, _ = fwd.Write(buf[:n])
		}
	}()
	time.Sleep(300 * time.Millisecond)
	ctl := filepath.Join(dir, "softflowd.ctl")
	sf := exec.Command("softflowd", "-r", "traffic.pcap", "-n", relay.LocalAddr().String(), "-v", "9", "-A", "milli", "-d",
		"-p", filepath.Join(dir, "softflowd.pid"), "-c", ctl)
	sf.Dir = dir
	if err := sf.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- sf.Wait() }()
	// softflowd reading a file waits for a control command to wake up.
	finished := false
poke:
	for range 40 {
		select {
		case <-exited:
			finished = true
			break poke
		default:
		}
		_ = exec.Command("softflowctl", "-c", ctl, "statistics").Run()
		time.Sleep(500 * time.Millisecond)
	}
	if !finished {
		_ = sf.Process.Kill()
		t.Fatal("softflowd did not finish reading the pcap in 20 s")
	}
	<-done
	relay.Close()
	pf.Close()
	time.Sleep(300 * time.Millisecond)
	// SIGTERM makes nfcapd flush and close its file; kill it if it lingers.
	_ = nfcapd.Process.Signal(syscall.SIGTERM)
	waited := make(chan struct{})
	go func() { _ = nfcapd.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		_ = nfcapd.Process.Kill()
		<-waited
	}
	cmd := exec.Command("nfdump", "-R", capDir, "-o", "csv")
	cmd.Env = append(os.Environ(), "TZ=UTC")
	csv, err = cmd.Output()
	if err != nil {
		t.Fatalf("nfdump: %v", err)
	}
	return csv, exports, packets
}

// summary reads nfdump's own totals: flows, bytes, packets.
func summary(t *testing.T, csv []byte) (flows, bytes, packets uint64) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "Summary") && i+2 < len(lines) {
			f := strings.Split(lines[i+2], ",")
			flows, _ = strconv.ParseUint(f[0], 10, 64)
			bytes, _ = strconv.ParseUint(f[1], 10, 64)
			packets, _ = strconv.ParseUint(f[2], 10, 64)
			return
		}
	}
	t.Fatalf("no summary in nfdump's output:\n%s", csv)
	return
}

func TestNfdumpCSVAndPcapExports(t *testing.T) {
	csv, exports, sent := exportRun(t)
	flows, bytes, packets := summary(t, csv)
	if packets != uint64(sent) {
		t.Logf("nfdump saw %d packets of the %d sent", packets, sent)
	}
	sum := func(recs []flow.Record) (n, b, p uint64) {
		for _, r := range recs {
			n++
			b += r.Bytes
			p += r.Packets
		}
		return
	}
	cfg := DefaultConfig()
	cfg.Format = FormatNfdumpCSV
	recs, st := collect(t, cfg, Deps{}, csv)
	if n, b, p := sum(recs); n != flows || b != bytes || p != packets || len(st.Dropped) != 0 {
		t.Errorf("nfdump-csv: %d flows %d bytes %d packets (dropped %v); nfdump says %d/%d/%d", n, b, p, st.Dropped, flows, bytes, packets)
	}
	// The C&C's unanswered connections are single SYN flows: check a few fields in full.
	syn := 0
	for _, r := range recs {
		if r.DstPort == 1177 && r.TCPFlags == 0x02 {
			syn++
			if r.SrcAddr.Unmap().As4()[0] != 192 || r.Proto != 6 || r.Packets != 1 || r.StartMs < time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC).UnixMilli() {
				t.Errorf("SYN flow %+v", r)
			}
		}
	}
	if syn != 10 {
		t.Errorf("%d unanswered SYN flows to the C&C, want 10", syn)
	}

	data, err := os.ReadFile(exports)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	pcfg := DefaultConfig()
	pcfg.Format = FormatPcapExports
	precs, pst := collect(t, pcfg, Deps{NetFlow: netflow.New(netflow.DefaultConfig(), reg), SFlow: sflow.New(sflow.DefaultConfig(), reg)}, data)
	if n, b, p := sum(precs); n != flows || b != bytes || p != packets {
		t.Errorf("pcap-exports: %d flows %d bytes %d packets (dropped %v); nfdump says %d/%d/%d", n, b, p, pst.Dropped, flows, bytes, packets)
	}
	for _, r := range precs {
		if r.Exporter != netip.MustParseAddr("127.0.0.1") || r.SamplingRate != 1 {
			t.Fatalf("pcap-exports record %+v: want exporter 127.0.0.1, rate 1", r)
		}
	}
}
