package netflow_test

import (
	"errors"
	"path/filepath"
	"testing"

	"yocho/internal/flow"
	"yocho/internal/flow/netflow"
	"yocho/internal/flow/netflow/netflowtest"
)

// fuzzSeeds are the synthetic datagrams and, when the corpus is present, its real ones.
func fuzzSeeds(f *testing.F, version uint16) {
	tpl9, data9 := netflowtest.SyntheticV9(3)
	tplX, dataX := netflowtest.SyntheticIPFIX(3)
	seeds := [][]byte{tpl9, data9, cat(tpl9, data9[20:]), tplX, dataX, v5Packet(1, 100, 2),
		ipfixPacket(0, 1, ipfixTemplate(300, fs{8, 4, 0}, fs{82, 0xFFFF, 0}, fs{100, 0xFFFF, 29305}),
			set(300, ip4("10.0.0.1"), u8(2), []byte("ab"), u8(0))),
		v9Packet(1, 0, v9OptionsTemplate(257, fs{48, 1, 0}, fs{34, 4, 0}), set(257, u32(0), u8(1), u32(100)))}
	for _, dir := range []string{"akvorado/netflow/*.pcap", "pmacct/*/traffic-0*.pcap"} {
		files, _ := filepath.Glob(filepath.Join(corpusDir, dir))
		for _, file := range files {
			for _, d := range readPcap(f, file) {
				seeds = append(seeds, d.payload)
			}
		}
	}
	for _, s := range seeds {
		if len(s) >= 2 && (version == 0 || uint16(s[0])<<8|uint16(s[1]) == version) {
			f.Add(s)
		}
	}
}

// fuzzDecode decodes a datagram twice with one decoder (so that its templates apply to its
// data) and checks the invariants: no panic, errors are DecodeErrors, columns stay aligned.
func fuzzDecode(t *testing.T, p []byte) {
	cfg := netflow.DefaultConfig()
	cfg.PendingMax = 4
	dec := netflow.New(cfg, nil)
	b := flow.NewBatch(8)
	for range 2 {
		if err := dec.Decode(exporterA, nowMs, p, b); err != nil {
			var de *flow.DecodeError
			if !errors.As(err, &de) || de.Reason == "" {
				t.Fatalf("error %v is not a DecodeError with a reason", err)
			}
		}
	}
	if len(b.SrcAddr) != b.Len() || len(b.MPLSLabel) != b.Len() {
		t.Fatalf("columns out of step")
	}
	if b.Len() > 2*len(p) {
		t.Fatalf("%d records from %d bytes", b.Len(), len(p))
	}
	st := dec.ExporterState(exporterA)
	if st.Pending > cfg.PendingMax {
		t.Fatalf("%d sets held, bound %d", st.Pending, cfg.PendingMax)
	}
}

// FuzzDecode feeds any datagram to Decode.
func FuzzDecode(f *testing.F) {
	fuzzSeeds(f, 0)
	f.Fuzz(fuzzDecode)
}

// withVersion makes the fuzzer's bytes a datagram of one version, to reach its parser.
func withVersion(version uint16, p []byte) []byte {
	return append([]byte{byte(version >> 8), byte(version)}, p...)
}

// FuzzDecodeV5 fuzzes the NetFlow v5 parser.
func FuzzDecodeV5(f *testing.F) {
	fuzzSeeds(f, 5)
	f.Fuzz(func(t *testing.T, p []byte) { fuzzDecode(t, withVersion(5, trimVersion(p))) })
}

// FuzzDecodeV9 fuzzes the NetFlow v9 parser: templates, options, data.
func FuzzDecodeV9(f *testing.F) {
	fuzzSeeds(f, 9)
	f.Fuzz(func(t *testing.T, p []byte) { fuzzDecode(t, withVersion(9, trimVersion(p))) })
}

// FuzzDecodeIPFIX fuzzes the IPFIX parser: templates, withdrawals, options, variable lengths.
func FuzzDecodeIPFIX(f *testing.F) {
	fuzzSeeds(f, 10)
	f.Fuzz(func(t *testing.T, p []byte) { fuzzDecode(t, withVersion(10, trimVersion(p))) })
}

func trimVersion(p []byte) []byte {
	if len(p) < 2 {
		return nil
	}
	return p[2:]
}
