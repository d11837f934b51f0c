package cnc_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"yocho/internal/detect/cnc"
	"yocho/internal/flow"
	"yocho/internal/importer"
	"yocho/internal/testenv"
)

// corpusDir is ../shared/corpus/cnc/stratosphere relative to the repository root.
func corpusDir(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "shared", "corpus", "cnc", "stratosphere")
	if _, err := os.Stat(dir); err != nil {
		testenv.Missing(t, "corpus %s is missing: %v", dir, err)
	}
	return dir
}

// runZeek imports a Zeek conn.log through the engine and returns the ranked candidates.
func runZeek(t *testing.T, path string, subs cnc.Subscribers) ([]cnc.Candidate, *cnc.Engine) {
	t.Helper()
	e, err := cnc.New(cnc.DefaultConfig(), cnc.Deps{Subscribers: subs})
	if err != nil {
		t.Fatal(err)
	}
	im, err := importer.New(importer.DefaultConfig(), importer.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := im.ReadFile(context.Background(), path, func(b *flow.Batch) error { e.Consume(b); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if st.Records == 0 {
		t.Fatalf("%s: no records imported (%+v)", path, st)
	}
	return e.Candidates(0, 0), e
}

func TestStratosphereNjRATIsTop(t *testing.T) {
	dir := corpusDir(t)
	cands, _ := runZeek(t, filepath.Join(dir, "001-zeek-scenario-malicious", "labeled-conn.log"), nil)
	if len(cands) == 0 {
		t.Fatal("no candidates")
	}
	for i, c := range cands[:min(5, len(cands))] {
		t.Logf("#%d %s score %.1f alert %v parts %v", i+1, c.Endpoint(), c.Score, c.Alert, c.Parts)
		for _, w := range c.Evidence {
			t.Logf("    %s", w)
		}
	}
	top := cands[0]
	if top.Address != netip.MustParseAddr("41.108.179.197") || top.Port != 1177 || top.Proto != "tcp" {
		t.Errorf("top candidate is %s, want the NjRAT C&C 41.108.179.197:1177/tcp", top.Endpoint())
	}
}

func TestStratosphereBenignDaysNoAlert(t *testing.T) {
	dir := corpusDir(t)
	for _, tc := range []struct {
		name, file string
		subs       cnc.Subscribers
	}{
		// The contract's default (private ranges) and the capture's own network as subscribers.
		{"008 default", "008-zeek-mixed/data/conn.log.labeled", nil},
		{"008 own network", "008-zeek-mixed/data/conn.log.labeled", cnc.NewPrefixes([]cnc.Network{{Prefix: netip.MustParsePrefix("147.32.0.0/16")}})},
		{"010 default", "010-zeek-mixed/data/conn.log.labeled", nil},
		{"010 own network", "010-zeek-mixed/data/conn.log.labeled", cnc.NewPrefixes([]cnc.Network{{Prefix: netip.MustParsePrefix("147.32.0.0/16")}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cands, _ := runZeek(t, filepath.Join(dir, tc.file), tc.subs)
			for i, c := range cands[:min(3, len(cands))] {
				t.Logf("#%d %s score %.1f parts %v", i+1, c.Endpoint(), c.Score, c.Parts)
			}
			for _, c := range cands {
				if c.Alert {
					t.Errorf("benign day: %s raised a cnc alert, score %.1f: %v", c.Endpoint(), c.Score, c.Evidence)
				}
			}
		})
	}
}
