package netflow_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"yocho/internal/flow"
)

// pmacctConf is what the comparison needs from a test's nfacctd-00.conf.
type pmacctConf struct {
	port        uint16
	renormalize bool   // nfacctd_renormalize: rows are scaled by the sampling rate
	forcedRate  uint32 // sampling_map: a rate set by configuration, over what the exporter says
}

func readPmacctConf(t testing.TB, dir string) pmacctConf {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "nfacctd-00.conf"))
	if err != nil {
		t.Fatal(err)
	}
	c := pmacctConf{port: 2100}
	for _, line := range strings.Split(string(raw), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(strings.TrimSpace(k), "!") {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "nfacctd_port":
			p, _ := strconv.Atoi(v)
			c.port = uint16(p)
		case "nfacctd_renormalize":
			c.renormalize = strings.EqualFold(v, "true")
		case "sampling_map":
			// The map mounted for the first output is pmacct_mount/sampling-00.map: "id=N ip=...".
			m, err := os.ReadFile(filepath.Join(dir, "pmacct_mount", "sampling-00.map"))
			if err != nil {
				t.Fatalf("sampling map: %v", err)
			}
			if sm := regexp.MustCompile(`(?m)^id=(\d+)`).FindSubmatch(m); sm != nil {
				r, _ := strconv.Atoi(string(sm[1]))
				c.forcedRate = uint32(r)
			}
		}
	}
	return c
}

// reproducerPort is the destination port of the exports in a capture: the one its
// traffic-reproducer-NN.yml selects (the reproducer then sends them to nfacctd's port).
func reproducerPort(t testing.TB, pcap string, def uint16) uint16 {
	t.Helper()
	yml := strings.Replace(strings.TrimSuffix(pcap, ".pcap"), "traffic-", "traffic-reproducer-", 1) + ".yml"
	raw, err := os.ReadFile(yml)
	if err != nil {
		return def
	}
	if i := bytes.Index(raw, []byte("\nipfix:")); i >= 0 {
		raw = raw[i:]
	}
	if m := regexp.MustCompile(`dport:\s*\n\s*-\s*(\d+)`).FindSubmatch(raw); m != nil {
		p, _ := strconv.Atoi(string(m[1]))
		return uint16(p)
	}
	return def
}

// flowKey is the part of a flow that every pmacct test aggregates on.
type flowKey struct {
	src, dst         netip.Addr
	srcPort, dstPort uint16
	proto            uint8
}

type volume struct{ bytes, packets uint64 }

// protoNumbers maps the protocol names pmacct prints (getprotobynumber) to numbers.
var protoNumbers = map[string]uint8{
	"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "ipv6": 41, "gre": 47, "esp": 50, "ipv6-icmp": 58,
	"ospf": 89, "pim": 103, "vrrp": 112, "sctp": 132,
}

// TestPmacctCorpus decodes pmacct's Cisco and Huawei captures; the records must equal tshark's
// decode field by field, and pmacct's own output in count, addresses, ports, bytes and packets.
func TestPmacctCorpus(t *testing.T) {
	root := needCorpus(t, "pmacct")
	needTool(t, "tshark")
	dirs, _ := filepath.Glob(filepath.Join(root, "*"))
	if len(dirs) == 0 {
		t.Fatal("no pmacct test folder")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			conf := readPmacctConf(t, dir)
			pcaps, _ := filepath.Glob(filepath.Join(dir, "traffic-0*.pcap"))
			all := flow.NewBatch(64)
			for _, pcap := range pcaps {
				port := reproducerPort(t, pcap, conf.port)
				dgrams := readPcap(t, pcap, port)
				got, dec := decodeAll(t, dgrams)
				undecoded := 0
				want := tsharkFlows(t, tsharkPackets(t, pcap, []uint16{port}), dgrams, &undecoded)
				compareFlows(t, got, want, undecoded > 0)
				if undecoded == 0 {
					checkNothingPending(t, dec, dgrams)
				}
				all.AppendBatch(got)
			}
			comparePmacctOutput(t, dir, conf, all)
		})
	}
}

// comparePmacctOutput checks our records against the rows nfacctd printed. nfacctd aggregates:
// a row sums the flows that share its aggregation key (its "aggregate" primitives) within a time
// bin (kafka_history), so rows are compared after summing both sides over the key every test
// aggregates on (addresses, ports, protocol). The other primitives (interfaces, tos, flags,
// labels...) only split rows further, which the sums undo. With nfacctd_renormalize, rows are
// scaled by the sampling rate, taken from a sampling_map when the configuration sets one (it
// overrides the exporter's options), else from the options data, as our SamplingRate.
func comparePmacctOutput(t *testing.T, dir string, conf pmacctConf, got *flow.Batch) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "output-flow-00.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[flowKey]volume{}
	rows := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var row struct {
			IPSrc   string `json:"ip_src"`
			IPDst   string `json:"ip_dst"`
			PortSrc uint16 `json:"port_src"`
			PortDst uint16 `json:"port_dst"`
			Proto   any    `json:"ip_proto"`
			Packets uint64 `json:"packets"`
			Bytes   uint64 `json:"bytes"`
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("output-flow-00.json: %v", err)
		}
		rows++
		k := flowKey{srcPort: row.PortSrc, dstPort: row.PortDst}
		k.src, _ = netip.ParseAddr(row.IPSrc)
		k.dst, _ = netip.ParseAddr(row.IPDst)
		switch p := row.Proto.(type) {
		case string:
			n, ok := protoNumbers[p]
			if !ok {
				v, err := strconv.Atoi(p)
				if err != nil {
					t.Fatalf("pmacct protocol %q unknown to the test", p)
				}
				n = uint8(v)
			}
			k.proto = n
		case float64:
			k.proto = uint8(p)
		}
		v := want[k]
		v.bytes += row.Bytes
		v.packets += row.Packets
		want[k] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	have := map[flowKey]volume{}
	for i := range got.Len() {
		k := flowKey{got.SrcAddr[i], got.DstAddr[i], got.SrcPort[i], got.DstPort[i], got.Proto[i]}
		rate := uint64(1)
		if conf.renormalize {
			rate = uint64(max(got.SamplingRate[i], 1))
			if conf.forcedRate > 0 {
				rate = uint64(conf.forcedRate)
			}
		}
		v := have[k]
		v.bytes += got.Bytes[i] * rate
		v.packets += got.Packets[i] * rate
		have[k] = v
	}
	if rows == 0 {
		t.Fatal("pmacct printed no flow: nothing compared")
	}
	if len(have) != len(want) {
		t.Errorf("%d distinct flows, pmacct %d (%d rows)", len(have), len(want), rows)
	}
	bad := 0
	for k, w := range want {
		if g, ok := have[k]; !ok || g != w {
			if bad++; bad <= 10 {
				t.Errorf("flow %s: ours %+v, pmacct %+v", fmtKey(k), g, w)
			}
		}
	}
	for k, g := range have {
		if _, ok := want[k]; !ok {
			if bad++; bad <= 10 {
				t.Errorf("flow %s: ours %+v, not in pmacct's output", fmtKey(k), g)
			}
		}
	}
}

func fmtKey(k flowKey) string {
	return fmt.Sprintf("%s:%d > %s:%d proto %d", k.src, k.srcPort, k.dst, k.dstPort, k.proto)
}
