package collect

import (
	"net/netip"
	"testing"

	"yocho/internal/flow"
)

// FuzzHandle feeds arbitrary datagrams through the reader's path (version dispatch, sFlow agent,
// decoder, sampling policy): it must never panic, and every datagram must be counted.
func FuzzHandle(f *testing.F) {
	f.Add([]byte{0, 9, 0, 1, 0, 0, 0, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4})
	f.Add([]byte{0, 0, 0, 5, 0, 0, 0, 2, 1, 2})
	f.Add([]byte{0, 0, 0, 5, 0, 0, 0, 1, 192, 0, 2, 1, 0, 0, 0, 1})
	f.Add([]byte{})
	c, err := New(Config{NetFlow: []string{"127.0.0.1:0"}, SFlow: []string{"127.0.0.1:0"}},
		Deps{NetFlow: &fakeDecoder{}, SFlow: &fakeDecoder{sflow: true}, Logger: quiet})
	if err != nil {
		f.Fatal(err)
	}
	r := &reader{c: c, table: c.reg.newTable(), batch: flow.NewBatch(16)}
	from := netip.MustParseAddrPort("192.0.2.1:9999")
	f.Fuzz(func(t *testing.T, pkt []byte) {
		before := c.Stats().Packets
		r.batch.Reset()
		r.handle(pkt, from, 1)
		if got := c.Stats().Packets; got != before+1 {
			t.Fatalf("datagram counted %d times", got-before)
		}
		for i := range r.batch.Len() {
			if r.batch.SamplingRate[i] == 0 || !r.batch.Exporter[i].IsValid() {
				t.Fatalf("record %d left without a rate or an exporter", i)
			}
		}
	})
}

func FuzzParseProcNetUDP(f *testing.F) {
	f.Add([]byte("sl local rem\n 1: 0100007F:0807 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 41234 2 0000000000000000 17\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out := map[uint64]uint64{}
		parseProcNetUDP(data, map[uint64]bool{41234: true}, out)
		if len(out) > 1 {
			t.Fatalf("found inodes not asked for: %v", out)
		}
	})
}
