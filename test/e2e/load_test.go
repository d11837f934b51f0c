package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"yocho/internal/collect"
	"yocho/internal/flow"
)

// counter is a consumer that only counts records.
type counter struct{ n atomic.Uint64 }

func (c *counter) Consume(b *flow.Batch) { c.n.Add(uint64(b.Len())) }

// loadResult is what a load run measured.
type loadResult struct {
	Elapsed       time.Duration // sending time
	SentDatagrams uint64        // data and template messages
	SentFlows     uint64
	Counted       uint64 // flows the consumer received
	Received      uint64 // datagrams the collector read
	SocketDrops   uint64 // datagrams the kernel dropped at the collector's sockets
	SequenceLost  uint64 // flows missing by IPFIX sequence numbers, as the decoder saw
	Errors        uint64
	CPU           time.Duration // user + system time of the whole test process (sender included) while sending
}

func (r loadResult) String() string {
	return fmt.Sprintf("sent %d flows in %d datagrams over %v (%.0f flows/s); consumer counted %d (%.4f%% lost); "+
		"collector read %d datagrams, kernel dropped %d; sequence loss %d flows; decode errors %d; process CPU %v (%.2f cores)",
		r.SentFlows, r.SentDatagrams, r.Elapsed.Round(time.Millisecond), float64(r.SentFlows)/r.Elapsed.Seconds(),
		r.Counted, 100*float64(r.SentFlows-r.Counted)/float64(max(r.SentFlows, 1)), r.Received, r.SocketDrops, r.SequenceLost, r.Errors,
		r.CPU.Round(time.Millisecond), r.CPU.Seconds()/r.Elapsed.Seconds())
}

const (
	loadExporters      = 4  // 127.0.0.2 to .5, each from its own socket
	loadFlowsPerPacket = 26 // 26 × 49-byte records: 1294-byte datagrams
	loadPrepared       = 64 // distinct messages prepared per exporter
)

// runLoad sends IPFIX to a collector on loopback at rate flows/s (0: as fast as it can) for d,
// or until maxFlows are sent when it is not 0, and measures what arrives.
func runLoad(t testing.TB, rate float64, d time.Duration, maxFlows uint64) loadResult {
	t.Helper()
	cons := &counter{}
	y := startYocho(t, collect.Config{NetFlow: []string{"127.0.0.1:0"}, SFlow: []string{}, ReceiveBuffer: 64 << 20}, cons)
	dst := y.netflowAddr()

	type sender struct {
		conn *net.UDPConn
		pc   *ipv4.PacketConn // sendmmsg: a burst of messages per system call
		exp  *ipfixExporter
		msgs [][]byte
	}
	now := time.Now()
	senders := make([]*sender, loadExporters)
	for i := range senders {
		src := netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i)})
		conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetWriteBuffer(4 << 20)
		s := &sender{conn: conn, pc: ipv4.NewPacketConn(conn), exp: &ipfixExporter{domain: 1}}
		for m := range loadPrepared {
			flows := make([]ipfixFlow, loadFlowsPerPacket)
			for k := range flows {
				n := m*loadFlowsPerPacket + k
				flows[k] = ipfixFlow{
					src: netip.AddrFrom4([4]byte{10, byte(i), byte(n >> 8), byte(n)}), dst: netip.AddrFrom4([4]byte{198, 51, 100, byte(n)}),
					srcPort: uint16(1024 + n), dstPort: 443, proto: 6, bytes: uint64(64 + n%1400), packets: 1 + uint64(n%7),
					startMs: uint64(now.UnixMilli()) - 1000, endMs: uint64(now.UnixMilli()),
				}
			}
			s.msgs = append(s.msgs, s.exp.data(uint32(now.Unix()), flows))
		}
		s.exp.sequence = 0
		senders[i] = s
	}
	var res loadResult
	for _, s := range senders {
		if _, err := s.conn.WriteToUDPAddrPort(s.exp.template(uint32(now.Unix())), dst); err != nil {
			t.Fatal(err)
		}
		res.SentDatagrams++
	}
	time.Sleep(50 * time.Millisecond) // templates first

	// Each round sends a burst of loadBurst messages from each exporter, one sendmmsg each.
	const loadBurst = 8
	batches := make([][]ipv4.Message, loadExporters)
	udpDst := net.UDPAddrFromAddrPort(dst)
	for i := range batches {
		batches[i] = make([]ipv4.Message, loadBurst)
		for k := range batches[i] {
			batches[i][k] = ipv4.Message{Buffers: [][]byte{nil}, Addr: udpDst}
		}
	}
	cpu0 := cpuTime()
	start := time.Now()
	var sent uint64 // data messages
	for {
		elapsed := time.Since(start)
		if (d > 0 && elapsed >= d) || (maxFlows > 0 && sent*loadFlowsPerPacket >= maxFlows) {
			break
		}
		if rate > 0 && float64(sent*loadFlowsPerPacket) >= elapsed.Seconds()*rate {
			time.Sleep(100 * time.Microsecond)
			continue
		}
		for i, s := range senders {
			ms := batches[i]
			for k := range ms {
				msg := s.msgs[(sent/loadExporters+uint64(k))%loadPrepared]
				// The prepared messages are reused: each is sent before it is rewritten.
				s.exp.sequence = setSequence(msg, s.exp.sequence, loadFlowsPerPacket)
				ms[k].Buffers[0] = msg
			}
			for off := 0; off < len(ms); {
				n, err := s.pc.WriteBatch(ms[off:], 0)
				if err != nil {
					t.Fatalf("sending: %v", err)
				}
				off += n
			}
		}
		sent += loadExporters * loadBurst
	}
	res.Elapsed = time.Since(start)
	res.CPU = cpuTime() - cpu0
	res.SentDatagrams += sent
	res.SentFlows = sent * loadFlowsPerPacket

	// Wait for the readers to drain their sockets and hand out their last batches.
	deadline := time.Now().Add(10 * time.Second)
	for last := uint64(0); time.Now().Before(deadline); {
		time.Sleep(300 * time.Millisecond)
		st := y.col.Stats()
		if st.Packets+st.SocketDrops >= res.SentDatagrams && cons.n.Load() == last {
			break
		}
		last = cons.n.Load()
	}
	st := y.col.Stats()
	res.Counted = cons.n.Load()
	res.Received = st.Packets
	res.SocketDrops = st.SocketDrops
	res.Errors = st.Errors
	for _, e := range y.exporters(t) {
		res.SequenceLost += e.SequenceLost
	}
	if st.DropsUnknown {
		t.Error("the kernel's socket drops could not be read")
	}
	return res
}

// TestCollectorLoad sends IPFIX over loopback at YOCHO_LOAD_RATE flows/s (default 1 M) to a
// collector whose consumer only counts. With YOCHO_LOAD=1 it runs YOCHO_LOAD_DURATION (default
// 60 s) and requires that no flow is lost; otherwise it runs 2 s and checks the accounting only.
func TestCollectorLoad(t *testing.T) {
	rate, d, strict := 1e6, 2*time.Second, os.Getenv("YOCHO_LOAD") == "1"
	if testing.Short() {
		t.Skip("load test: skipped with -short")
	}
	if strict {
		d = 60 * time.Second
	}
	if v := os.Getenv("YOCHO_LOAD_DURATION"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatalf("YOCHO_LOAD_DURATION: %v", err)
		}
	}
	if v := os.Getenv("YOCHO_LOAD_RATE"); v != "" {
		var err error
		if rate, err = strconv.ParseFloat(v, 64); err != nil {
			t.Fatalf("YOCHO_LOAD_RATE: %v", err)
		}
	}
	res := runLoad(t, rate, d, 0)
	t.Log(res)
	// Every datagram sent was either read or dropped by the kernel, and counted as such.
	if res.Received+res.SocketDrops != res.SentDatagrams {
		t.Errorf("datagrams: %d read + %d dropped by the kernel != %d sent", res.Received, res.SocketDrops, res.SentDatagrams)
	}
	if want := (res.Received - loadExporters) * loadFlowsPerPacket; res.SocketDrops == 0 && res.Counted != want {
		t.Errorf("consumer counted %d flows, the datagrams read held %d", res.Counted, want)
	}
	if res.Errors != 0 {
		t.Errorf("%d decode errors", res.Errors)
	}
	if !strict {
		return
	}
	if achieved := float64(res.SentFlows) / res.Elapsed.Seconds(); achieved < 0.95*rate {
		t.Errorf("the sender reached only %.0f flows/s of the %.0f asked: the machine is too busy to measure", achieved, rate)
	}
	if res.Counted != res.SentFlows {
		t.Errorf("lost %d of %d flows (kernel drops %d datagrams)", res.SentFlows-res.Counted, res.SentFlows, res.SocketDrops)
	}
}

// BenchmarkCollectorLoopback sends b.N flows of IPFIX as fast as one sender can, and reports the
// flows/s the consumer received and the share lost at the sockets.
func BenchmarkCollectorLoopback(b *testing.B) {
	res := runLoad(b, 0, 0, uint64(max(b.N, loadFlowsPerPacket)))
	b.ReportMetric(float64(res.Counted)/res.Elapsed.Seconds(), "flows/s")
	b.ReportMetric(100*float64(res.SentFlows-res.Counted)/float64(res.SentFlows), "%lost")
	b.ReportMetric(float64(res.SocketDrops), "drops")
}

// cpuTime is the user and system time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
