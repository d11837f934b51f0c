package importer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/gopacket/pcapgo"

	"yocho/internal/testenv"
)

// readAll reads every packet of a capture, copying the bytes.
func readAll(t *testing.T, data []byte) []packet {
	t.Helper()
	c, err := newCapture(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var out []packet
	for {
		p, err := c.next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("packet %d: %v", len(out), err)
		}
		p.data = bytes.Clone(p.data)
		out = append(out, p)
	}
}

// TestCaptureMatchesPcapgo reads the corpus's captures, and Wireshark's editcap conversions of
// them to pcapng and to nanosecond pcap, and checks every packet's bytes, time and link type
// against gopacket's reader of the original.
func TestCaptureMatchesPcapgo(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "..", "shared", "corpus", "flows", "*", "*", "*.pcap"))
	if len(files) == 0 {
		testenv.Missing(t, "no flow captures under ../shared/corpus/flows")
		return
	}
	editcap := testenv.Tool(t, "editcap")
	if len(files) > 12 {
		files = files[:12]
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := pcapgo.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		var want []packet
		for {
			data, ci, err := ref.ReadPacketData()
			if err != nil {
				break
			}
			want = append(want, packet{link: uint16(ref.LinkType()), ms: ci.Timestamp.UnixMilli(), data: data})
		}
		variants := map[string][]byte{"pcap": raw}
		for _, format := range []string{"pcapng", "nsecpcap"} {
			out := filepath.Join(t.TempDir(), format)
			if b, err := exec.Command(editcap, "-F", format, f, out).CombinedOutput(); err != nil {
				t.Fatalf("editcap -F %s %s: %v\n%s", format, f, err, b)
			}
			variants[format], _ = os.ReadFile(out)
		}
		for name, data := range variants {
			got := readAll(t, data)
			if len(got) != len(want) {
				t.Fatalf("%s as %s: %d packets, pcapgo read %d", f, name, len(got), len(want))
			}
			for i := range got {
				if got[i].link != want[i].link || got[i].ms != want[i].ms || !bytes.Equal(got[i].data, want[i].data) {
					t.Fatalf("%s as %s, packet %d: link %d time %d len %d; pcapgo: link %d time %d len %d", f, name, i,
						got[i].link, got[i].ms, len(got[i].data), want[i].link, want[i].ms, len(want[i].data))
				}
			}
		}
	}
}

// ngBlock builds a big-endian pcapng block.
func ngBlock(typ uint32, body []byte) []byte {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	b := binary.BigEndian.AppendUint32(nil, typ)
	b = binary.BigEndian.AppendUint32(b, uint32(12+len(body)))
	b = append(b, body...)
	return binary.BigEndian.AppendUint32(b, uint32(12+len(body)))
}

// TestCaptureBigEndianPcapngResolution reads a big-endian pcapng whose interface counts time in
// nanoseconds (if_tsresol 9), with a block the reader must skip.
func TestCaptureBigEndianPcapngResolution(t *testing.T) {
	shb := []byte{0x1a, 0x2b, 0x3c, 0x4d, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	idb := []byte{0, 101, 0, 0, 0, 0, 0xff, 0xff, 0, 9, 0, 1, 9, 0, 0, 0, 0, 0, 0, 0} // raw IP, if_tsresol=9
	ns := uint64(1_700_000_000_123_456_789)
	epb := binary.BigEndian.AppendUint32(nil, 0)
	epb = binary.BigEndian.AppendUint32(epb, uint32(ns>>32))
	epb = binary.BigEndian.AppendUint32(epb, uint32(ns))
	epb = binary.BigEndian.AppendUint32(epb, 3)
	epb = binary.BigEndian.AppendUint32(epb, 3)
	epb = append(epb, 0x45, 1, 2)
	var file []byte
	file = append(file, ngBlock(ngSectionHeader, shb)...)
	file = append(file, ngBlock(ngInterface, idb)...)
	file = append(file, ngBlock(5, []byte("interface statistics"))...)
	file = append(file, ngBlock(ngEnhancedPacket, epb)...)
	got := readAll(t, file)
	if len(got) != 1 || got[0].link != 101 || got[0].ms != 1_700_000_000_123 || !bytes.Equal(got[0].data, []byte{0x45, 1, 2}) {
		t.Fatalf("got %+v; want one raw-IP packet at 1700000000123 ms of 3 bytes", got)
	}
}

// TestCaptureRefusesHugeLengths checks that a length no flow export can have is an error, found
// before the reader allocates it.
func TestCaptureRefusesHugeLengths(t *testing.T) {
	classic := []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0xff, 0xff, 0xff, 0xf0, 0xff, 0xff, 0xff, 1, 2, 3}
	shb := []byte{0x1a, 0x2b, 0x3c, 0x4d, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	ng := ngBlock(ngSectionHeader, shb)
	ng = append(ng, ngBlock(ngInterface, []byte{0, 1, 0, 0, 0, 0, 0, 0})...)
	ng = append(ng, 0, 0, 0, 6, 0xf0, 0, 0, 0, 1, 2, 3) // an enhanced packet block announcing 4 GB
	for name, data := range map[string][]byte{"pcap": classic, "pcapng": ng} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		c, err := newCapture(bytes.NewReader(data))
		if err == nil {
			_, err = c.next()
		}
		runtime.ReadMemStats(&after)
		if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: err %v; want the length refused", name, err)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
			t.Errorf("%s: allocated %d bytes for a damaged length", name, grew)
		}
	}
}
