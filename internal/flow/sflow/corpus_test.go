package sflow

import (
	"encoding/xml"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"yocho/internal/flow"
	"yocho/internal/testenv"
)

// corpusDir is the folder of real sFlow captures (see /work/shared/corpus/SOURCES.md).
const corpusDir = "../../../../shared/corpus/flows/akvorado/sflow"

// skipOrFail skips the test, or fails it under CI=true, where nothing may be missing.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	testenv.Missing(t, format, args...)
}

func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		skipOrFail(t, "%s not installed: %v", name, err)
	}
	return p
}

func corpusFiles(t testing.TB) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(corpusDir, "*.pcap"))
	if len(files) == 0 {
		skipOrFail(t, "no sFlow corpus in %s", corpusDir)
	}
	return files
}

// datagram is one UDP payload of a capture, with its source address.
type datagram struct {
	src     netip.Addr
	payload []byte
}

func readPcap(t testing.TB, file string) []datagram {
	t.Helper()
	out, err := readPcapFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no UDP datagram", file)
	}
	return out
}

// readPcapFile returns the UDP payloads of a capture.
func readPcapFile(file string) ([]datagram, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var out []datagram
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			break
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if udp == nil {
			continue
		}
		var src netip.Addr
		if ip, ok := p.NetworkLayer().(*layers.IPv4); ok {
			src, _ = netip.AddrFromSlice(ip.SrcIP.To4())
		} else if ip, ok := p.NetworkLayer().(*layers.IPv6); ok {
			src, _ = netip.AddrFromSlice(ip.SrcIP)
		}
		out = append(out, datagram{src: src, payload: append([]byte(nil), udp.Payload...)})
	}
	return out, nil
}

// pdmlNode is a field or protocol of tshark's PDML output.
type pdmlNode struct {
	Name     string     `xml:"name,attr"`
	Show     string     `xml:"show,attr"`
	Children []pdmlNode `xml:",any"`
	XMLName  xml.Name
}

func (n *pdmlNode) find(name string) *pdmlNode {
	for i := range n.Children {
		if n.Children[i].Name == name {
			return &n.Children[i]
		}
	}
	return nil
}

// uint returns the numeric show value of the named child, or def when absent.
func (n *pdmlNode) uint(t testing.TB, name string, def uint64) uint64 {
	c := n.find(name)
	if c == nil {
		return def
	}
	return parseUint(t, c.Show)
}

func parseUint(t testing.TB, s string) uint64 {
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		t.Fatalf("tshark value %q: %v", s, err)
	}
	return v
}

func (n *pdmlNode) addr(name string) netip.Addr {
	if c := n.find(name); c != nil {
		a, _ := netip.ParseAddr(c.Show)
		return a
	}
	return netip.Addr{}
}

// tsharkPackets dissects a capture into PDML packets, the sFlow protocol node of each.
func tsharkPackets(t testing.TB, file string) []*pdmlNode {
	t.Helper()
	tshark := needTool(t, "tshark")
	cmd := exec.Command(tshark, "-r", file, "-T", "pdml", "-d", "udp.port==6343,sflow")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", file, err)
	}
	var doc struct {
		Packets []struct {
			Protos []pdmlNode `xml:"proto"`
		} `xml:"packet"`
	}
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("tshark %s: %v", file, err)
	}
	var res []*pdmlNode
	for i := range doc.Packets {
		var sf *pdmlNode
		for j := range doc.Packets[i].Protos {
			if doc.Packets[i].Protos[j].Name == "sflow" {
				sf = &doc.Packets[i].Protos[j]
			}
		}
		if sf == nil {
			t.Fatalf("%s packet %d: tshark found no sFlow", file, i+1)
		}
		res = append(res, sf)
	}
	return res
}

var transportProto = map[string]uint8{"icmp": 1, "tcp": 6, "udp": 17, "icmpv6": 58, "sctp": 132}

// expectFromTshark builds, from tshark's dissection of one datagram, the records the package
// comment says the decoder must produce.
func expectFromTshark(t testing.TB, sf *pdmlNode, receivedMs int64) []flow.Record {
	t.Helper()
	agent := sf.addr("sflow_245.agent")
	sub := uint32(sf.uint(t, "sflow_245.sub_agent_id", 0))
	var recs []flow.Record
	for i := range sf.Children {
		s := &sf.Children[i]
		if s.find("sflow.flow_sample.sampling_rate") == nil {
			continue // not a flow sample
		}
		r := flow.Record{ReceivedMs: receivedMs, StartMs: receivedMs, EndMs: receivedMs, Exporter: agent, ObsDomain: sub, Packets: 1}
		r.SamplingRate = uint32(s.uint(t, "sflow.flow_sample.sampling_rate", 0))
		var srcType, srcIndex, inFmt, inVal, outFmt, outVal uint64
		if s.find("sflow.flow_sample.source_id_index") != nil { // expanded
			srcType = s.uint(t, "sflow.flow_sample.source_id_type", 0)
			srcIndex = s.uint(t, "sflow.flow_sample.source_id_index", 0)
			inFmt = s.uint(t, "sflow.flow_sample.input_interface_format", 0)
			inVal = s.uint(t, "sflow.flow_sample.input_interface_value", 0)
			outFmt = s.uint(t, "sflow.flow_sample.output_interface.format", 0)
			outVal = s.uint(t, "sflow.flow_sample.output_interface_value", 0)
		} else {
			srcType = s.uint(t, "sflow.flow_sample.source_id_class", 0)
			srcIndex = s.uint(t, "sflow.flow_sample.index", 0)
			in := s.uint(t, "sflow.flow_sample.input_interface", 0)
			inFmt, inVal = in>>30, in&0x3FFFFFFF
			o := s.find("sflow.flow_sample.output_interface")
			outFmt = o.uint(t, "sflow.flow_sample.output_interface_format", 0)
			outVal = o.uint(t, "sflow.flow_sample.output_interface_value", 0)
		}
		r.SamplerID = uint32(srcIndex)
		if inFmt == 0 && inVal != 0x3FFFFFFF {
			r.InIf = uint32(inVal)
		}
		switch {
		case outFmt == 0 && outVal == 0x3FFFFFFF:
			r.ForwardingStatus = 192
		case outFmt == 0:
			r.OutIf = uint32(outVal)
		case outFmt == 1:
			r.ForwardingStatus = 128
		}
		if srcType == 0 && inFmt == 0 && outFmt == 0 && inVal != outVal {
			if srcIndex == inVal {
				r.Direction = flow.DirectionIngress
			} else if srcIndex == outVal {
				r.Direction = flow.DirectionEgress
			}
		}
		var haveHeader bool
		var ipBytes, ethBytes uint64
		var hdrVLAN, swVLAN uint16
		var routerNH, gatewayNH netip.Addr
		for j := range s.Children {
			rec := &s.Children[j]
			switch rec.uint(t, "sflow_245.flow_record_format", 0) {
			case 1:
				haveHeader = true
				r.Bytes = rec.uint(t, "sflow_245.header.frame_length", 0)
				if h := rec.find("sflow_245.header"); h != nil {
					hdrVLAN = expectHeader(t, h, &r)
				}
			case 2:
				ethBytes = rec.uint(t, "sflow_245.ethernet.length", 0)
			case 3, 4:
				ipBytes = rec.uint(t, "sflow_245.ip.length", 0)
				if haveHeader {
					continue
				}
				t.Fatalf("tshark: a sampled IP record without a header is not in the corpus; add its oracle")
			case 1001:
				if v := rec.uint(t, "sflow_245.vlan.in", 0); v > 0 && v < 4096 {
					swVLAN = uint16(v)
				} else if v := rec.uint(t, "sflow_245.vlan.out", 0); v > 0 && v < 4096 {
					swVLAN = uint16(v)
				}
			case 1002:
				routerNH = rec.addr("sflow_245.nexthop")
				r.SrcMask = uint8(rec.uint(t, "sflow_245.nexthop.src_mask", 0))
				r.DstMask = uint8(rec.uint(t, "sflow_245.nexthop.dst_mask", 0))
			case 1003:
				gatewayNH = rec.addr("sflow_245.nexthop")
				r.SrcAS = uint32(rec.uint(t, "sflow_245.srcAS", 0))
				r.DstAS = uint32(rec.uint(t, "sflow_245.as", 0))
				for k := range rec.Children {
					if seg := &rec.Children[k]; seg.Name == "sflow.as_type" {
						for _, as := range seg.Children {
							if as.Name == "sflow_245.dstAS" {
								r.DstAS = uint32(parseUint(t, as.Show))
							}
						}
					}
				}
			}
		}
		if !haveHeader {
			if ipBytes != 0 {
				r.Bytes = ipBytes
			} else {
				r.Bytes = ethBytes
			}
		}
		r.VLAN = swVLAN
		if r.VLAN == 0 {
			r.VLAN = hdrVLAN
		}
		r.NextHop = routerNH
		if !r.NextHop.IsValid() || r.NextHop.IsUnspecified() {
			if gatewayNH.IsValid() && !gatewayNH.IsUnspecified() {
				r.NextHop = gatewayNH
			}
		}
		recs = append(recs, r)
	}
	return recs
}

// expectHeader fills r from tshark's dissection of a sampled header: the outer IP packet and
// the transport header that follows it. It returns the first 802.1Q VLAN.
func expectHeader(t testing.TB, h *pdmlNode, r *flow.Record) (vlan uint16) {
	var sawIP, sawL4 bool
	for i := range h.Children {
		p := &h.Children[i]
		switch {
		case p.Name == "vlan" && vlan == 0 && !sawIP:
			vlan = uint16(p.uint(t, "vlan.id", 0))
		case p.Name == "mpls" && r.MPLSLabel == 0 && !sawIP:
			r.MPLSLabel = uint32(p.uint(t, "mpls.label", 0))
		case p.Name == "ip" && !sawIP:
			sawIP = true
			r.SrcAddr, r.DstAddr = p.addr("ip.src"), p.addr("ip.dst")
			r.Proto = uint8(p.uint(t, "ip.proto", 0))
			r.ToS = uint8(p.uint(t, "ip.dsfield", 0))
		case p.Name == "ipv6" && !sawIP:
			sawIP = true
			r.SrcAddr, r.DstAddr = p.addr("ipv6.src"), p.addr("ipv6.dst")
			r.Proto = uint8(p.uint(t, "ipv6.nxt", 0))
			r.ToS = uint8(p.uint(t, "ipv6.tclass", 0))
		case sawIP && !sawL4 && transportProto[p.Name] != 0:
			sawL4 = true
			r.Proto = transportProto[p.Name]
			switch p.Name {
			case "tcp":
				r.SrcPort, r.DstPort = uint16(p.uint(t, "tcp.srcport", 0)), uint16(p.uint(t, "tcp.dstport", 0))
				r.TCPFlags = uint8(p.uint(t, "tcp.flags", 0))
			case "udp":
				r.SrcPort, r.DstPort = uint16(p.uint(t, "udp.srcport", 0)), uint16(p.uint(t, "udp.dstport", 0))
			case "sctp":
				r.SrcPort, r.DstPort = uint16(p.uint(t, "sctp.srcport", 0)), uint16(p.uint(t, "sctp.dstport", 0))
			case "icmp":
				r.ICMPType, r.ICMPCode = uint8(p.uint(t, "icmp.type", 0)), uint8(p.uint(t, "icmp.code", 0))
			case "icmpv6":
				r.ICMPType, r.ICMPCode = uint8(p.uint(t, "icmpv6.type", 0)), uint8(p.uint(t, "icmpv6.code", 0))
			}
		}
	}
	return vlan
}

// TestCorpusMatchesTshark decodes every real capture and compares each record, field by field,
// with what tshark dissects from the same datagrams.
func TestCorpusMatchesTshark(t *testing.T) {
	for _, file := range corpusFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			dgs := readPcap(t, file)
			sfs := tsharkPackets(t, file)
			if len(sfs) != len(dgs) {
				t.Fatalf("tshark saw %d datagrams, pcapgo %d", len(sfs), len(dgs))
			}
			d := New(DefaultConfig(), nil)
			b := flow.NewBatch(64)
			const now = int64(1_700_000_000_000)
			for i, dg := range dgs {
				b.Reset()
				if err := d.Decode(dg.src, now, dg.payload, b); err != nil {
					t.Fatalf("datagram %d: %v", i+1, err)
				}
				want := expectFromTshark(t, sfs[i], now)
				if b.Len() != len(want) {
					t.Fatalf("datagram %d: %d records, tshark shows %d flow samples", i+1, b.Len(), len(want))
				}
				if len(want) == 0 {
					t.Fatalf("datagram %d: no flow sample", i+1)
				}
				for j := range want {
					if got := b.Record(j); got != want[j] {
						t.Errorf("datagram %d record %d:\n got %+v\nwant %+v", i+1, j+1, got, want[j])
					}
				}
				st := d.ExporterState(want[0].Exporter)
				for _, w := range want {
					if !containsRate(st.SamplingRates, w.SamplingRate) {
						t.Errorf("ExporterState rates %v miss %d", st.SamplingRates, w.SamplingRate)
					}
				}
			}
		})
	}
}

func containsRate(rates []uint32, r uint32) bool {
	for _, v := range rates {
		if v == r {
			return true
		}
	}
	return false
}

// TestCorpusNonZero guards the oracle itself: the corpus must exercise the fields compared.
func TestCorpusNonZero(t *testing.T) {
	seen := map[string]bool{}
	for _, file := range corpusFiles(t) {
		d := New(DefaultConfig(), nil)
		b := flow.NewBatch(64)
		for _, dg := range readPcap(t, file) {
			_ = d.Decode(dg.src, 1, dg.payload, b)
		}
		for i := 0; i < b.Len(); i++ {
			r := b.Record(i)
			set := func(name string, ok bool) {
				if ok {
					seen[name] = true
				}
			}
			set("v4", r.SrcAddr.Is4())
			set("v6", r.SrcAddr.Is6())
			set("ports", r.DstPort != 0)
			set("icmp", r.Proto == 1)
			set("icmpv6", r.Proto == 58 && r.ICMPType != 0)
			set("tcpflags", r.TCPFlags != 0)
			set("vlan", r.VLAN != 0)
			set("nexthop", r.NextHop.IsValid())
			set("as", r.DstAS != 0 && r.SrcAS != 0)
			set("masks", r.DstMask != 0)
			set("ifindex>2^30", r.OutIf > 1<<30)
			set("dropped", r.ForwardingStatus == 128)
			set("direction", r.Direction != 0)
		}
	}
	for _, k := range []string{"v4", "v6", "ports", "icmp", "icmpv6", "tcpflags", "vlan", "nexthop", "as", "masks", "ifindex>2^30", "dropped", "direction"} {
		if !seen[k] {
			t.Errorf("no corpus record has %s", k)
		}
	}
}
