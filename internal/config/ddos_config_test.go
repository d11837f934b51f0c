package config

import (
	"strings"
	"testing"
	"time"
)

// contractYAML is the contract, as scripts will write it.
const contractYAML = `
networks:
  - prefix: 198.51.100.0/24          # IPv4 or IPv6
    name: customer-a
    customer: a
    criticality: high                # low | medium | high
    thresholds:                      # per second; an omitted one inherits from the parent or the default
      bps: 1G
      pps: 100k
      udp_pps: 50k
      ntp_bps: 100M
detection:
  ddos:
    min_duration: 2s
    min_sources: 10
    quiet_period: 60s
mitigation:
  mode: dry-run                      # off | dry-run | confirm | auto
  local_asn: 65001
  router_id: 192.0.2.1
  peers: [{address: 127.0.0.2, asn: 65002}]
  rtbh_community: "65535:666"
  hold_time: 10m
  max_routes: 1000
`

func TestParseDDoSContract(t *testing.T) {
	cfg, err := Parse([]byte(contractYAML))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Networks) != 1 {
		t.Fatalf("networks = %+v", cfg.Networks)
	}
	n := cfg.Networks[0]
	if n.Prefix.String() != "198.51.100.0/24" || n.Name != "customer-a" || n.Customer != "a" || n.Criticality != "high" {
		t.Errorf("network = %+v", n)
	}
	for k, want := range map[string]Rate{"bps": 1e9, "pps": 1e5, "udp_pps": 5e4, "ntp_bps": 1e8} {
		if n.Thresholds[k] != want {
			t.Errorf("thresholds[%s] = %v, want %v", k, n.Thresholds[k], want)
		}
	}
	d := cfg.Detection.DDoS
	if d.MinDuration.D() != 2*time.Second || d.MinSources != 10 || d.QuietPeriod.D() != time.Minute {
		t.Errorf("detection.ddos = %+v", d)
	}
	if d.Thresholds["tcp_syn_pps"] != DefaultThresholds()["tcp_syn_pps"] {
		t.Errorf("default thresholds lost: %v", d.Thresholds)
	}
	m := cfg.Mitigation
	if m.Mode != "dry-run" || m.LocalASN != 65001 || m.RouterID.String() != "192.0.2.1" || len(m.Peers) != 1 ||
		m.Peers[0].Address.String() != "127.0.0.2" || m.Peers[0].ASN != 65002 || m.HoldTime.D() != 10*time.Minute ||
		m.MaxRoutes != 1000 || m.RTBHCommunity != "65535:666" {
		t.Errorf("mitigation = %+v", m)
	}
	if c, err := ParseCommunity(m.RTBHCommunity); err != nil || c != 65535<<16|666 {
		t.Errorf("community = %x, %v", c, err)
	}
}

func TestDDoSThresholdsMergeOverDefaults(t *testing.T) {
	cfg, err := Parse([]byte("detection:\n  ddos:\n    thresholds: {bps: 2G, dns_bps: 0}\n"))
	if err != nil {
		t.Fatal(err)
	}
	th := cfg.Detection.DDoS.Thresholds
	if th["bps"] != 2e9 || th["dns_bps"] != 0 || th["pps"] != DefaultThresholds()["pps"] {
		t.Errorf("thresholds = %v", th)
	}
	// The defaults of another Parse are untouched.
	if DefaultThresholds()["bps"] != 100e6 {
		t.Error("defaults changed")
	}
}

func TestDDoSConfigErrorsNameKeyAndLine(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown threshold", "networks:\n  - prefix: 10.0.0.0/8\n    thresholds:\n      udp_bpx: 1G\n", `line 4: unknown threshold "udp_bpx"`},
		{"unknown kind", "networks:\n  - prefix: 10.0.0.0/8\n    thresholds: {quic_pps: 1k}\n", `line 3: unknown threshold "quic_pps"`},
		{"bad rate", "networks:\n  - prefix: 10.0.0.0/8\n    thresholds:\n      bps: lots\n", "line 4: bad rate"},
		{"host bits", "networks:\n  - prefix: 10.0.0.1/8\n", "line 2: prefix \"10.0.0.1/8\" has host bits set"},
		{"bad prefix", "networks:\n  - prefix: 2001:db8::/129\n", "line 2: bad prefix"},
		{"criticality", "networks:\n  - prefix: 10.0.0.0/8\n    criticality: urgent\n", "networks[0].criticality"},
		{"duplicate", "networks:\n  - prefix: 10.0.0.0/8\n  - prefix: 10.0.0.0/8\n", "networks[1].prefix: 10.0.0.0/8 is already networks[0]"},
		{"missing parent", "networks:\n  - prefix: 10.0.0.0/8\n    parent: nope\n", `networks[0].parent: no network is named "nope"`},
		{"cycle", "networks:\n  - {prefix: 10.0.0.0/8, name: a, parent: b}\n  - {prefix: 11.0.0.0/8, name: b, parent: a}\n", "cycle"},
		{"min duration", "detection:\n  ddos:\n    min_duration: 10ms\n", "detection.ddos.min_duration"},
		{"bad duration", "detection:\n  ddos:\n    quiet_period: soon\n", "line 3: bad duration"},
		{"unknown ddos key", "detection:\n  ddos:\n    min_sauces: 3\n", "line 3: field min_sauces not found"},
		{"mode", "mitigation:\n  mode: yolo\n", "mitigation.mode"},
		{"no asn", "mitigation:\n  mode: auto\n  router_id: 192.0.2.1\n  peers: [{address: 127.0.0.2, asn: 65002}]\n", "mitigation.local_asn"},
		{"no peers", "mitigation:\n  mode: confirm\n  local_asn: 65001\n  router_id: 192.0.2.1\n", "mitigation.peers"},
		{"community", "mitigation:\n  rtbh_community: \"65536:666\"\n", "mitigation.rtbh_community"},
		{"peer addr", "mitigation:\n  peers: [{address: 127.0.0.300, asn: 1}]\n", "line 2: bad address"},
		{"webhook url", "notify:\n  webhooks: [{url: \"ftp://x\"}]\n", "notify.webhooks[0].url"},
		{"syslog network", "notify:\n  syslog: [{address: \"127.0.0.1:514\", network: sctp}]\n", "notify.syslog[0].network"},
		{"event", "notify:\n  webhooks: [{url: \"http://127.0.0.1:1/\", events: [begun]}]\n", "notify.webhooks[0].events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestSplitThresholdKey(t *testing.T) {
	for _, tc := range []struct{ key, kind, metric string }{
		{"bps", "", "bps"}, {"flows", "", "flows"}, {"tcp_syn_pps", "tcp_syn", "pps"},
		{"ntp_bps", "ntp", "bps"}, {"fragments_flows", "fragments", "flows"},
	} {
		k, m, ok := SplitThresholdKey(tc.key)
		if !ok || k != tc.kind || m != tc.metric {
			t.Errorf("SplitThresholdKey(%q) = %q, %q, %v", tc.key, k, m, ok)
		}
	}
	for _, bad := range []string{"", "bpss", "syn_pps", "tcp_syn", "_pps"} {
		if _, _, ok := SplitThresholdKey(bad); ok {
			t.Errorf("SplitThresholdKey(%q) accepted", bad)
		}
	}
}
