package importer

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestShiftKeepsIntervals imports the same Zeek log as is and shifted: every time moves by the
// shift, intervals stay, Stats.First/Last say where the data lands, and Span finds the last
// record a rebase needs.
func TestShiftKeepsIntervals(t *testing.T) {
	plain, st0 := collect(t, DefaultConfig(), Deps{}, []byte(zeekTSV))
	path := filepath.Join(t.TempDir(), "conn.log")
	if err := os.WriteFile(path, []byte(zeekTSV), 0o644); err != nil {
		t.Fatal(err)
	}
	im, err := New(DefaultConfig(), Deps{})
	if err != nil {
		t.Fatal(err)
	}
	first, last, err := im.Span(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Equal(st0.First) || !last.Equal(st0.Last) || !last.After(first) {
		t.Fatalf("span %s..%s, import saw %s..%s", first, last, st0.First, st0.Last)
	}
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	cfg := DefaultConfig()
	cfg.Shift = ShiftTo(last, at)
	shifted, st := collect(t, cfg, Deps{}, []byte(zeekTSV))
	if !st.Last.Equal(at) {
		t.Errorf("last record lands at %s, want %s", st.Last, at)
	}
	if len(shifted) != len(plain) {
		t.Fatalf("%d records shifted, %d plain", len(shifted), len(plain))
	}
	d := cfg.Shift.Milliseconds()
	for i := range plain {
		p, s := plain[i], shifted[i]
		if s.StartMs-p.StartMs != d || s.EndMs-p.EndMs != d || s.ReceivedMs-p.ReceivedMs != d {
			t.Errorf("record %d: times %d/%d/%d, plain %d/%d/%d, want all moved by %d ms",
				i, s.StartMs, s.EndMs, s.ReceivedMs, p.StartMs, p.EndMs, p.ReceivedMs, d)
		}
	}
}
