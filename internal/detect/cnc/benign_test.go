package cnc_test

import (
	"hash/maphash"
	"os"
	"strconv"
	"testing"
	"time"

	"yocho/internal/flow"
)

// TestBenignDay plays scenarios/benign-day.yaml (a day of benign traffic with a flash crowd and
// long flows, sampled 1:100 to 1:2048 like a backbone) into the engine and counts the cnc alerts:
// every one is false. The rate is per million distinct external endpoints that subscribers
// contacted (the external side of subscriber ↔ external records, where its port is the server's)
// per day; the target is at most 1. Set YOCHO_LONG=1 to run it (minutes);
// YOCHO_LONG_HOURS shortens the day.
func TestBenignDay(t *testing.T) {
	if os.Getenv("YOCHO_LONG") == "" {
		t.Skip("set YOCHO_LONG=1 to play a simulated benign day (minutes)")
	}
	hours := 24.0
	if h, err := strconv.ParseFloat(os.Getenv("YOCHO_LONG_HOURS"), 64); err == nil && h > 0 {
		hours = h
	}
	seed := maphash.MakeSeed()
	seen := map[uint64]struct{}{}
	tap := func(r *flow.Record) {
		src, dst := r.SrcAddr.Unmap(), r.DstAddr.Unmap()
		ext, port, other := dst, r.DstPort, r.SrcPort
		switch {
		case src.IsPrivate() && !dst.IsPrivate():
		case dst.IsPrivate() && !src.IsPrivate():
			ext, port, other = src, r.SrcPort, r.DstPort
		default:
			return
		}
		if port > other && port >= 1024 {
			return // the external side is the client
		}
		var h maphash.Hash
		h.SetSeed(seed)
		b := ext.As16()
		h.Write(b[:])
		h.Write([]byte{byte(port >> 8), byte(port), r.Proto})
		seen[h.Sum64()] = struct{}{}
	}
	res := runScenarioTap(t, "benign-day.yaml", time.Duration(hours*float64(time.Hour)), tap)
	perMillionDay := float64(len(res.alerts)) / float64(max(len(seen), 1)) * 1e6 * 24 / hours
	t.Logf("%.0f h of benign-day: %d records in %s (%.2f M records/s with the generator); %d distinct external endpoints, %d tracked at the end; %d cnc alerts: %.2f per million endpoints per day",
		hours, res.records, res.elapsed.Round(time.Second), float64(res.records)/res.elapsed.Seconds()/1e6,
		len(seen), len(res.cands), len(res.alerts), perMillionDay)
	for ep := range res.alerts {
		for _, c := range res.cands {
			if c.Endpoint() == ep {
				t.Logf("false alert %s: %.1f %v", ep, c.Score, c.Evidence)
			}
		}
	}
	if perMillionDay > 1 {
		t.Errorf("false alerts: %.2f per million endpoints per day, want ≤ 1", perMillionDay)
	}
}
