package cnc

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"yocho/internal/flow"
)

func FuzzParseEndpoint(f *testing.F) {
	for _, s := range []string{"41.108.179.197:1177/tcp", "[2001:db8::1]:53/udp", "1.2.3.4:0/47", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, port, proto, err := ParseEndpoint(s)
		if err != nil {
			return
		}
		back := netip.AddrPortFrom(a, port).String() + "/" + ProtoName(proto)
		a2, p2, pr2, err := ParseEndpoint(back)
		if err != nil || a2 != a || p2 != port || pr2 != proto {
			t.Fatalf("%q → %q does not read back: %v", s, back, err)
		}
	})
}

// FuzzConsume feeds arbitrary records (times, addresses, ports, flags, counts) to the engine:
// it must not panic, and scores must stay within 0..100.
func FuzzConsume(f *testing.F) {
	f.Add(make([]byte, 40))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, _ := New(DefaultConfig(), Deps{})
		b := flow.NewBatch(64)
		for len(data) >= 40 {
			r := flow.Record{
				StartMs:      int64(binary.BigEndian.Uint64(data[0:])),
				EndMs:        int64(binary.BigEndian.Uint64(data[8:])),
				SrcAddr:      netip.AddrFrom4([4]byte(data[16:20])),
				DstAddr:      netip.AddrFrom4([4]byte(data[20:24])),
				SrcPort:      binary.BigEndian.Uint16(data[24:]),
				DstPort:      binary.BigEndian.Uint16(data[26:]),
				Proto:        data[28],
				TCPFlags:     data[29],
				Packets:      uint64(binary.BigEndian.Uint32(data[30:])),
				Bytes:        uint64(binary.BigEndian.Uint32(data[34:])),
				SamplingRate: uint32(binary.BigEndian.Uint16(data[38:])),
			}
			for range 10 { // repeated, so that details and pairs form
				b.Append(&r)
				r.StartMs += 60000
				r.EndMs += 60000
			}
			data = data[40:]
		}
		e.Consume(b)
		for _, c := range e.Candidates(0, 0) {
			if c.Score < 0 || c.Score > 100 {
				t.Fatalf("score %v", c.Score)
			}
		}
	})
}
