package intel

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const sampleBundle = `{
  "type": "bundle", "id": "bundle--1",
  "objects": [
    {"type": "indicator", "spec_version": "2.1", "id": "indicator--1", "name": "njRAT C2",
     "pattern": "[ipv4-addr:value = '41.108.179.197']", "pattern_type": "stix", "confidence": 85},
    {"type": "indicator", "id": "indicator--2", "name": "bulletproof range",
     "pattern": "[ipv4-addr:value ISSUBSET '198.18.10.0/24'] OR [ipv6-addr:value = '2001:db8::66']", "pattern_type": "stix"},
    {"type": "indicator", "id": "indicator--3", "name": "dga", "pattern": "[domain-name:value = 'Evil-C2.example']", "pattern_type": "stix", "confidence": 60},
    {"type": "indicator", "id": "indicator--4", "pattern": "[ipv4-addr:value = '1.2.3.4' AND network-traffic:dst_port = 80]", "pattern_type": "stix"},
    {"type": "indicator", "id": "indicator--5", "pattern": "alert tcp any any", "pattern_type": "snort"},
    {"type": "indicator", "id": "indicator--6", "pattern": "[ipv4-addr:value = '5.6.7.8']", "pattern_type": "stix", "revoked": true},
    {"type": "malware", "id": "malware--1", "name": "njRAT"}
  ]
}`

func TestParseFormats(t *testing.T) {
	for _, tc := range []struct {
		name     string
		format   Format
		data     string
		want     []Indicator
		rejected map[string]int
	}{
		{"list", FormatList, "# C2 list\n41.108.179.197\n198.18.0.0/16 # range\nevil.example.com\n2001:db8::1\nhxxp://bad[.]example.net/x.sh\nnot an indicator!\n1.2.3.4:1177\n",
			[]Indicator{{KindAddr, "41.108.179.197", 50, ""}, {KindPrefix, "198.18.0.0/16", 50, ""}, {KindDomain, "evil.example.com", 50, ""},
				{KindAddr, "2001:db8::1", 50, ""}, {KindDomain, "bad.example.net", 50, ""}, {KindAddr, "1.2.3.4", 50, ""}},
			map[string]int{"not_an_indicator": 1}},
		{"csv with header (feodo style)", FormatCSV, "# Feodo Tracker\n\"first_seen_utc\",\"dst_ip\",\"dst_port\",\"c2_status\",\"last_online\",\"malware\"\n" +
			"\"2026-11-01 10:00:00\",\"41.108.179.197\",\"1177\",\"online\",\"2026-11-24\",\"njRAT\"\n\"2026-11-01\",\"bogus\",\"1\",\"x\",\"y\",\"z\"\n",
			[]Indicator{{KindAddr, "41.108.179.197", 50, "njRAT"}}, map[string]int{"not_an_indicator": 1}},
		{"csv with confidence", FormatCSV, "indicator,confidence\nevil.example.com,90\n198.51.100.7,\n",
			[]Indicator{{KindDomain, "evil.example.com", 90, ""}, {KindAddr, "198.51.100.7", 50, ""}}, map[string]int{}},
		{"csv without header", FormatCSV, "198.51.100.7,whatever\n",
			[]Indicator{{KindAddr, "198.51.100.7", 50, ""}}, map[string]int{}},
		{"stix", FormatSTIX, sampleBundle,
			[]Indicator{{KindAddr, "41.108.179.197", 85, "njRAT C2"}, {KindPrefix, "198.18.10.0/24", 50, "bulletproof range"},
				{KindAddr, "2001:db8::66", 50, "bulletproof range"}, {KindDomain, "evil-c2.example", 60, "dga"}},
			map[string]int{"complex_pattern": 1, "pattern_type": 1, "revoked": 1}},
		{"honeypot", FormatHoneypot, `{"eventid":"cowrie.session.connect","src_ip":"203.0.113.9"}` + "\n" +
			`{"eventid":"cowrie.session.file_download","src_ip":"203.0.113.9","url":"http://198.18.10.1/bins/mirai.arm7"}` + "\n" +
			`{"eventid":"cowrie.command.input","input":"wget http://x"}` + "\n{broken\n" +
			`{"eventid":"cowrie.session.file_download","url":"http://loader.example.org:8080/a.sh"}` + "\n",
			[]Indicator{{KindAddr, "198.18.10.1", 50, "cowrie.session.file_download"}, {KindDomain, "loader.example.org", 50, "cowrie.session.file_download"}},
			map[string]int{"bad_json_line": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, rej, err := Parse(tc.format, []byte(tc.data), 50)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d indicators %v, want %v", len(got), got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("indicator %d: %+v, want %+v", i, got[i], tc.want[i])
				}
			}
			for k, v := range tc.rejected {
				if rej[k] != v {
					t.Errorf("rejected[%s] = %d, want %d (all: %v)", k, rej[k], v, rej)
				}
			}
		})
	}
}

func TestBadFiles(t *testing.T) {
	for _, tc := range []struct {
		f    Format
		data string
	}{{FormatSTIX, "{not json"}, {FormatSTIX, `{"type":"indicator"}`}} {
		if _, _, err := Parse(tc.f, []byte(tc.data), 50); err == nil {
			t.Errorf("%s %q: no error", tc.f, tc.data)
		}
	}
}

func TestStoreLookupAndReload(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "c2.txt")
	stix := filepath.Join(dir, "c2.json")
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(list, "41.108.179.197\nevil.example.com\n")
	write(stix, sampleBundle)
	reg := prometheus.NewRegistry()
	s, err := New(Config{Feeds: []Feed{{Name: "local", Path: list, Format: FormatList, Confidence: 70},
		{Name: "misp", Path: stix, Format: FormatSTIX, Confidence: 50}}, Interval: 20 * time.Millisecond}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	m := s.LookupAddr(netip.MustParseAddr("41.108.179.197"))
	if len(m) != 2 || m[0].Source == m[1].Source {
		t.Errorf("41.108.179.197: %v, want one match from each feed", m)
	}
	if m := s.LookupAddr(netip.MustParseAddr("198.18.10.77")); len(m) != 1 || m[0].Kind != KindPrefix {
		t.Errorf("198.18.10.77 (in a prefix): %v", m)
	}
	if m := s.LookupAddr(netip.MustParseAddr("::ffff:198.18.10.77")); len(m) != 1 {
		t.Errorf("IPv4-mapped address: %v", m)
	}
	if m := s.LookupDomain("www.Evil.example.com."); len(m) != 1 || m[0].Source != "local" || m[0].Confidence != 70 {
		t.Errorf("subdomain of a listed domain: %v", m)
	}
	if m := s.LookupAddr(netip.MustParseAddr("8.8.8.8")); len(m) != 0 {
		t.Errorf("8.8.8.8: %v", m)
	}

	// Change the list: the store picks it up on its own.
	time.Sleep(10 * time.Millisecond) // a different modification time
	write(list, "8.8.4.4\n")
	deadline := time.Now().Add(3 * time.Second)
	for len(s.LookupAddr(netip.MustParseAddr("8.8.4.4"))) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if m := s.LookupAddr(netip.MustParseAddr("8.8.4.4")); len(m) != 1 {
		t.Fatalf("after the change: 8.8.4.4 gives %v", m)
	}
	if m := s.LookupAddr(netip.MustParseAddr("41.108.179.197")); len(m) != 1 || m[0].Source != "misp" {
		t.Errorf("after the change: 41.108.179.197 gives %v, want the STIX feed's only", m)
	}

	// A broken file keeps the last good content and counts an error.
	write(stix, "{broken")
	time.Sleep(200 * time.Millisecond)
	if m := s.LookupAddr(netip.MustParseAddr("41.108.179.197")); len(m) != 1 {
		t.Errorf("after a broken update: %v, want the last good content", m)
	}
	if v := counterValue(t, reg, "yocho_intel_reloads_total", map[string]string{"feed": "misp", "result": "error"}); v < 1 {
		t.Errorf("reload errors of misp: %v", v)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	if _, err := New(Config{Feeds: []Feed{{Name: "x", Path: "/x", Format: "yaml"}}}, nil, nil); err == nil {
		t.Error("unknown format accepted")
	}
}

// counterValue reads one counter from reg by name and labels.
func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
