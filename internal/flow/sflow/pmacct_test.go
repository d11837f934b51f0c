package sflow

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"yocho/internal/flow"
	st "yocho/internal/flow/sflow/sflowtest"
)

// packetKey is what a sampled packet and its decoded record have in common.
type packetKey struct {
	src, dst         netip.Addr
	proto            uint8
	srcPort, dstPort uint16
	icmpType         uint8
}

// sentinelDst receives the filler packets written after the counted ones. pmacctd's sfprobe
// keeps its last, partly filled datagram until it is stopped, and when stopped it exports the
// packets of its last internal buffer a second time: the filler absorbs both quirks, so that
// every counted packet goes out exactly once, in full datagrams.
var sentinelDst = netip.MustParseAddr("192.0.2.2")

const sentinels = 150

// writeTrafficPcap writes n Ethernet frames of TCP, UDP and ICMP over IPv4 and IPv6, then the
// filler frames to sentinelDst, and returns the n frames it wrote, by key, and their total length.
func writeTrafficPcap(t *testing.T, file string, n int) (map[packetKey]int, uint64) {
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	want := map[packetKey]int{}
	var total uint64
	ts := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		fr := st.Frame{
			Src:     netip.AddrFrom4([4]byte{10, 0, byte(i / 250), byte(1 + i%250)}),
			Dst:     netip.AddrFrom4([4]byte{172, 16, 0, byte(1 + i%7)}),
			SrcPort: uint16(1024 + i), DstPort: uint16(80 + i%5),
			Payload: (i * 37) % 1200,
		}
		if i%2 == 1 {
			fr.Src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)})
			fr.Dst = netip.MustParseAddr("2001:db8:ffff::1")
		}
		k := packetKey{src: fr.Src, dst: fr.Dst}
		switch i % 3 {
		case 0:
			fr.Proto, fr.TCPFlags = st.ProtoTCP, 0x18
			k.srcPort, k.dstPort = fr.SrcPort, fr.DstPort
		case 1:
			fr.Proto = st.ProtoUDP
			k.srcPort, k.dstPort = fr.SrcPort, fr.DstPort
		case 2:
			fr.Proto, fr.ICMPType = st.ProtoICMP, 8
			if fr.Src.Is6() {
				fr.Proto, fr.ICMPType = st.ProtoICMPv6, 128
			}
			k.icmpType = fr.ICMPType
		}
		k.proto = fr.Proto
		b := fr.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: ts.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(b), Length: len(b)}
		if err := w.WritePacket(ci, b); err != nil {
			t.Fatal(err)
		}
		want[k]++
		total += uint64(len(b))
	}
	for i := 0; i < sentinels; i++ {
		fr := st.Frame{Src: netip.MustParseAddr("192.0.2.1"), Dst: sentinelDst, Proto: st.ProtoUDP, SrcPort: 9, DstPort: 9, Payload: 100}
		b := fr.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: ts.Add(time.Duration(n+i) * time.Millisecond), CaptureLength: len(b), Length: len(b)}
		if err := w.WritePacket(ci, b); err != nil {
			t.Fatal(err)
		}
	}
	return want, total
}

// TestPmacctSfprobe runs pmacct's pmacctd with its sfprobe plugin (a real sFlow v5 exporter)
// over a capture written here, and checks that every packet arrives as one sample, with its
// addresses, ports and length.
func TestPmacctSfprobe(t *testing.T) {
	pmacctd := needTool(t, "pmacctd")
	dir := t.TempDir()
	const packets = 300
	want, wantBytes := writeTrafficPcap(t, filepath.Join(dir, "traffic.pcap"), packets)

	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conf := fmt.Sprintf(`daemonize: false
pcap_savefile: %s
pcap_savefile_wait: true
plugins: sfprobe
sfprobe_receiver: %s
sfprobe_agentip: 127.0.0.1
sfprobe_agentsubid: 7
sampling_rate: 1
`, filepath.Join(dir, "traffic.pcap"), conn.LocalAddr())
	confFile := filepath.Join(dir, "pmacctd.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(pmacctd, "-f", confFile)
	cmd.Dir = dir
	log, _ := os.Create(filepath.Join(dir, "pmacctd.log"))
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGINT) // pmacct ignores SIGTERM
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	defer stop()

	d := New(DefaultConfig(), nil)
	b := flow.NewBatch(1024)
	buf := make([]byte, 65535)
	datagrams := 0
	// read decodes what arrives until quiet passes without a datagram.
	read := func(quiet time.Duration) {
		for {
			_ = conn.SetReadDeadline(time.Now().Add(quiet))
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			datagrams++
			if err := d.Decode(from.Addr().Unmap(), time.Now().UnixMilli(), buf[:n], b); err != nil {
				t.Errorf("datagram %d: %v", datagrams, err)
			}
		}
	}
	// pmacctd sleeps 2 s before reading the file, then exports as its buffer fills; it sends
	// what is left in its buffer when stopped.
	read(5 * time.Second)
	stop()
	read(time.Second)
	var gotBytes uint64
	got := map[packetKey]int{}
	agent := netip.MustParseAddr("127.0.0.1")
	counted, filler := 0, 0
	for i := 0; i < b.Len(); i++ {
		r := b.Record(i)
		if r.SamplingRate != 1 || r.Packets != 1 || r.Exporter != agent || r.ObsDomain != 7 {
			t.Fatalf("record %d: %+v, want rate 1, 1 packet, exporter %s, sub-agent 7", i, r, agent)
		}
		if r.DstAddr == sentinelDst {
			filler++
			continue
		}
		counted++
		gotBytes += r.Bytes
		got[packetKey{r.SrcAddr, r.DstAddr, r.Proto, r.SrcPort, r.DstPort, r.ICMPType}]++
	}
	if counted != packets || filler == 0 {
		out, _ := os.ReadFile(filepath.Join(dir, "pmacctd.log"))
		t.Fatalf("%d samples (and %d of the filler) in %d datagrams, want %d: one per packet at sampling rate 1\npmacctd output:\n%s",
			counted, filler, datagrams, packets, out)
	}
	// sfprobe reports each frame with its 4-byte FCS (frame_length = captured length + 4, and
	// stripped = 4), as the sFlow spec asks of a layer-2 frame length; Bytes is that length.
	if fcs := uint64(4 * packets); gotBytes != wantBytes+fcs {
		t.Errorf("total frame bytes %d, want %d as written plus %d of FCS", gotBytes, wantBytes, fcs)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%+v: %d samples, want %d", k, got[k], n)
		}
	}
	if st := d.ExporterState(agent); st.SequenceLost != 0 || len(st.SamplingRates) != 1 || st.SamplingRates[0] != 1 {
		t.Errorf("ExporterState = %+v, want no loss and rate 1", st)
	}
	t.Logf("%d samples (%d bytes) and %d filler samples in %d datagrams; %d interfaces with counters", counted, gotBytes, filler, datagrams, len(d.Counters(agent)))
}
