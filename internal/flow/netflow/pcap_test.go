package netflow_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"yocho/internal/testenv"
)

// corpusDir is the third-party corpus, outside the repository (see corpus/SOURCES.md).
const corpusDir = "../../../../shared/corpus/flows"

// needCorpus returns the corpus folder, or skips (fails under CI=true) when it is absent.
func needCorpus(t testing.TB, sub string) string {
	t.Helper()
	dir := filepath.Join(corpusDir, sub)
	if _, err := os.Stat(dir); err != nil {
		testenv.Missing(t, "corpus folder %s is absent: skipping", dir)
	}
	return dir
}

// needTool skips (fails under CI=true) when a Debian tool is missing.
func needTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		testenv.Missing(t, "%s is not installed: skipping", name)
	}
}

// datagram is one UDP payload of a capture.
type datagram struct {
	src     netip.Addr
	dstPort uint16
	ms      int64
	payload []byte
}

// readPcap returns the UDP datagrams of a capture (pcap or pcapng), keeping those sent to one
// of ports (all when ports is empty).
func readPcap(t testing.TB, path string, ports ...uint16) []datagram {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type source interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	var src source
	var link layers.LinkType
	if bytes.HasPrefix(raw, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		r, err := pcapgo.NewNgReader(bytes.NewReader(raw), pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		src, link = r, r.LinkType()
	} else {
		r, err := pcapgo.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		src, link = r, r.LinkType()
	}
	var out []datagram
	for {
		data, ci, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		pkt := gopacket.NewPacket(data, link, gopacket.Default)
		udp, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if !ok || pkt.Layer(layers.LayerTypeICMPv4) != nil || pkt.Layer(layers.LayerTypeICMPv6) != nil {
			continue // ICMP errors quote the UDP header of an export: not an export
		}
		var srcIP netip.Addr
		switch ip := pkt.NetworkLayer().(type) {
		case *layers.IPv4:
			srcIP, _ = netip.AddrFromSlice(ip.SrcIP.To4())
		case *layers.IPv6:
			srcIP, _ = netip.AddrFromSlice(ip.SrcIP)
		default:
			continue
		}
		if len(ports) > 0 && !containsPort(ports, uint16(udp.DstPort)) {
			continue
		}
		out = append(out, datagram{src: srcIP, dstPort: uint16(udp.DstPort), ms: ci.Timestamp.UnixMilli(), payload: udp.Payload})
	}
	return out
}

func containsPort(ports []uint16, p uint16) bool {
	for _, x := range ports {
		if x == p {
			return true
		}
	}
	return false
}

// jnode is a JSON value with object keys in order and duplicates kept: tshark repeats keys.
type jnode struct {
	key  string
	val  string // leaves
	kids []jnode
	leaf bool
}

func parseJSON(dec *json.Decoder) (jnode, error) {
	tok, err := dec.Token()
	if err != nil {
		return jnode{}, err
	}
	switch v := tok.(type) {
	case json.Delim:
		var n jnode
		switch v {
		case '{':
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return n, err
				}
				child, err := parseJSON(dec)
				if err != nil {
					return n, err
				}
				child.key = kt.(string)
				n.kids = append(n.kids, child)
			}
		case '[':
			for dec.More() {
				child, err := parseJSON(dec)
				if err != nil {
					return n, err
				}
				n.kids = append(n.kids, child)
			}
		}
		_, err = dec.Token() // closing delimiter
		return n, err
	default:
		return jnode{val: fmt.Sprint(v), leaf: true}, nil
	}
}

func (n *jnode) child(key string) *jnode {
	for i := range n.kids {
		if n.kids[i].key == key {
			return &n.kids[i]
		}
	}
	return nil
}

// leaves collects every leaf under n by key, in order. The addresses of both families are also
// gathered in template order under "@src", "@dst", "@nexthop" and "@bgpnexthop".
func (n *jnode) leaves(into map[string][]string) {
	for i := range n.kids {
		k := &n.kids[i]
		if !k.leaf {
			k.leaves(into)
			continue
		}
		into[k.key] = append(into[k.key], k.val)
		if group, ok := addrGroups[k.key]; ok {
			into[group] = append(into[group], k.val)
		}
	}
}

var addrGroups = map[string]string{
	"cflow.srcaddr": "@src", "cflow.srcaddrv6": "@src",
	"cflow.dstaddr": "@dst", "cflow.dstaddrv6": "@dst",
	"cflow.nexthop": "@nexthop", "cflow.nexthopv6": "@nexthop",
	"cflow.bgpnexthop": "@bgpnexthop", "cflow.bgpnexthopv6": "@bgpnexthop",
}

// tsharkPackets runs tshark on a capture, decoding ports as NetFlow/IPFIX, and returns each
// packet's cflow layer (nil for packets without one).
func tsharkPackets(t testing.TB, path string, ports []uint16) []*jnode {
	t.Helper()
	args := []string{"-r", path, "-T", "json"}
	var filter []string
	for _, p := range ports {
		args = append(args, "-d", fmt.Sprintf("udp.port==%d,cflow", p))
		filter = append(filter, fmt.Sprintf("udp.dstport==%d", p))
	}
	// ICMP errors quote UDP headers: keep only the exports themselves.
	args = append(args, "-Y", "("+strings.Join(filter, " or ")+`) and not frame.protocols matches ":icmp(v6)?:ipv?6?:udp"`)
	cmd := exec.Command("tshark", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	root, err := parseJSON(json.NewDecoder(bytes.NewReader(outb)))
	if err != nil {
		t.Fatalf("tshark JSON: %v", err)
	}
	var res []*jnode
	for i := range root.kids {
		layersNode := root.kids[i].child("_source").child("layers")
		var cf *jnode
		if layersNode != nil {
			cf = layersNode.child("cflow")
		}
		if cf != nil && !cf.leaf && len(cf.kids) > 0 && cf.kids[0].key == "" {
			cf = &cf.kids[0] // several cflow PDUs: keep the first
		}
		res = append(res, cf)
	}
	return res
}

// mergeCaptures joins captures in order into one file, for tshark to see templates before data.
func mergeCaptures(t testing.TB, files []string) string {
	t.Helper()
	if len(files) == 1 {
		return files[0]
	}
	needTool(t, "mergecap")
	out := filepath.Join(t.TempDir(), "merged.pcap")
	args := append([]string{"-F", "pcap", "-a", "-w", out}, files...)
	if b, err := exec.Command("mergecap", args...).CombinedOutput(); err != nil {
		t.Fatalf("mergecap: %v: %s", err, b)
	}
	return out
}
