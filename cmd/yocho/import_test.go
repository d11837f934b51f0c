package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// zeekRelative is a Zeek conn.log whose times are relative to the capture's start, as in some
// public datasets: they land in 1970. A host beacons to a server every 30 s without answer.
func zeekRelative() string {
	var b strings.Builder
	b.WriteString("#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n")
	for i := range 40 {
		b.WriteString(strings.Join([]string{
			strconv.FormatFloat(20+30*float64(i), 'f', 6, 64),
			"C", "192.168.1.115", "49162", "41.108.179.197", "1177", "tcp", "-", "3.0", "0", "0", "S0", "T", "F", "0", "S", "2", "104", "0", "0", "(empty)",
		}, "\t") + "\n")
	}
	return b.String()
}

// TestImportRebase imports a Zeek log with 1970 times: without --rebase the command warns that
// the raw retention will drop them; with --rebase now the last record lands now, intervals kept,
// no warning, and `query cnc` sees the server with times of today.
func TestImportRebase(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "conn.log")
	if err := os.WriteFile(log, []byte(zeekRelative()), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if rc := run([]string{"import", "--data", filepath.Join(dir, "old"), "--format", "zeek-conn", log}, &out, &errb); rc != 0 {
		t.Fatalf("import: %d\n%s%s", rc, out.String(), errb.String())
	}
	if !strings.Contains(errb.String(), "older than the raw retention (15d)") || !strings.Contains(errb.String(), "--rebase now") {
		t.Errorf("no retention warning for flows of 1970:\n%s", errb.String())
	}

	out.Reset()
	errb.Reset()
	before := time.Now()
	if rc := run([]string{"import", "--data", filepath.Join(dir, "now"), "--rebase", "now", "--format", "zeek-conn", log}, &out, &errb); rc != 0 {
		t.Fatalf("import --rebase now: %d\n%s%s", rc, out.String(), errb.String())
	}
	if strings.Contains(errb.String(), "retention") {
		t.Errorf("rebased flows still warned about:\n%s", errb.String())
	}
	if !strings.Contains(out.String(), "times shifted by") {
		t.Errorf("the shift is not reported:\n%s", out.String())
	}
	out.Reset()
	if rc := run([]string{"query", "cnc", "--data", filepath.Join(dir, "now"), "--format", "json"}, &out, &errb); rc != 0 {
		t.Fatalf("query cnc: %d\n%s", rc, errb.String())
	}
	var cands []struct {
		Address   string    `json:"address"`
		Port      int       `json:"port"`
		FirstSeen time.Time `json:"first_seen"`
		LastSeen  time.Time `json:"last_seen"`
	}
	if err := json.Unmarshal(out.Bytes(), &cands); err != nil || len(cands) == 0 {
		t.Fatalf("query cnc output %q: %v", out.String(), err)
	}
	c := cands[0]
	if c.Address != "41.108.179.197" || c.Port != 1177 {
		t.Fatalf("top candidate %+v, want 41.108.179.197:1177", c)
	}
	// The last connection starts at 20+39×30 s and lasts 3 s: it now ends at the import's time.
	if d := c.LastSeen.Sub(before); d < -time.Second || d > time.Minute {
		t.Errorf("last seen %s, want about %s (the time of the import)", c.LastSeen, before)
	}
	if span := c.LastSeen.Sub(c.FirstSeen); span < 39*30*time.Second || span > 39*30*time.Second+4*time.Second {
		t.Errorf("first to last seen %s, want the file's 19m30s (+3 s duration): intervals kept", span)
	}
}
