package enrich

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"yocho/internal/config"
)

func mustParse(t testing.TB, y string) config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

const hostgroupsYAML = `
networks:
  - prefix: 198.51.0.0/16
    name: region
    criticality: low
    thresholds: {bps: 5G, udp_pps: 70k}
  - prefix: 198.51.100.0/24
    name: customer-a
    customer: a
    criticality: high
    thresholds: {pps: 100k, ntp_bps: 100M}
  - prefix: 198.51.100.128/25
    name: customer-a-dc
    thresholds: {bps: 2G}
  - prefix: 2001:db8::/32
    name: v6-region
    thresholds: {pps: 300k}
  - prefix: 2001:db8:42::/48
    name: v6-customer
    thresholds: {udp_pps: 10k}
  - prefix: 203.0.113.0/24
    name: named-child
    parent: customer-a
`

func TestHostgroupMostSpecificAndInheritance(t *testing.T) {
	cfg := mustParse(t, hostgroupsYAML)
	n, err := NewNetworks(cfg.Networks, cfg.Detection.DDoS)
	if err != nil {
		t.Fatal(err)
	}
	def := cfg.Detection.DDoS.Thresholds
	for _, tc := range []struct {
		addr, group, crit string
		bps, pps, udpPps  float64
		ntpBps, synPps    float64
	}{
		{"198.51.7.7", "region", "low", 5e9, float64(def["pps"]), 70e3, float64(def["ntp_bps"]), float64(def["tcp_syn_pps"])},
		{"198.51.100.1", "customer-a", "high", 5e9, 100e3, 70e3, 100e6, float64(def["tcp_syn_pps"])},
		{"198.51.100.200", "customer-a-dc", "high", 2e9, 100e3, 70e3, 100e6, float64(def["tcp_syn_pps"])},
		{"198.51.100.127", "customer-a", "high", 5e9, 100e3, 70e3, 100e6, float64(def["tcp_syn_pps"])},
		{"::ffff:198.51.100.130", "customer-a-dc", "high", 2e9, 100e3, 70e3, 100e6, float64(def["tcp_syn_pps"])},
		{"2001:db8:1::1", "v6-region", "medium", float64(def["bps"]), 300e3, float64(def["udp_pps"]), float64(def["ntp_bps"]), float64(def["tcp_syn_pps"])},
		{"2001:db8:42::9", "v6-customer", "medium", float64(def["bps"]), 300e3, 10e3, float64(def["ntp_bps"]), float64(def["tcp_syn_pps"])},
		{"203.0.113.5", "named-child", "high", 5e9, 100e3, 70e3, 100e6, float64(def["tcp_syn_pps"])},
	} {
		g := n.Lookup(netip.MustParseAddr(tc.addr))
		if g == nil {
			t.Errorf("%s: no group", tc.addr)
			continue
		}
		if g.Name != tc.group || g.Criticality != tc.crit {
			t.Errorf("%s: group %s (%s), want %s (%s)", tc.addr, g.Name, g.Criticality, tc.group, tc.crit)
		}
		h := g.Host
		got := []float64{h[KindTotal][MetricBps], h[KindTotal][MetricPps], h[KindUDP][MetricPps], h[KindNTP][MetricBps], h[KindTCPSyn][MetricPps]}
		want := []float64{tc.bps, tc.pps, tc.udpPps, tc.ntpBps, tc.synPps}
		if !slices.Equal(got, want) {
			t.Errorf("%s (%s): bps, pps, udp_pps, ntp_bps, tcp_syn_pps = %v, want %v", tc.addr, g.Name, got, want)
		}
	}
	for _, out := range []string{"198.50.255.255", "198.52.0.0", "10.0.0.1", "2001:db9::1", "::1"} {
		if g := n.Lookup(netip.MustParseAddr(out)); g != nil {
			t.Errorf("%s: group %s, want none", out, g.Name)
		}
	}
}

// TestLookupMatchesLinearScan checks the flattened table against the definition: the longest
// prefix that contains the address.
func TestLookupMatchesLinearScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var nets config.Networks
	seen := map[netip.Prefix]bool{}
	for len(nets) < 300 {
		a := netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))})
		p := netip.PrefixFrom(a, 12+r.IntN(20)).Masked()
		if r.IntN(3) == 0 {
			b := [16]byte{0x20, 0x01, 0x0d, 0xb8, byte(r.IntN(4)), byte(r.IntN(256))}
			p = netip.PrefixFrom(netip.AddrFrom16(b), 32+r.IntN(40)).Masked()
		}
		if seen[p] {
			continue
		}
		seen[p] = true
		nets = append(nets, config.Network{Prefix: config.Prefix{Prefix: p}})
	}
	n, err := NewNetworks(nets, config.DefaultDetection().DDoS)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20000; i++ {
		var a netip.Addr
		if i%3 == 0 {
			b := [16]byte{0x20, 0x01, 0x0d, 0xb8, byte(r.IntN(5)), byte(r.IntN(256)), byte(r.IntN(256))}
			a = netip.AddrFrom16(b)
		} else {
			a = netip.AddrFrom4([4]byte{10, byte(r.IntN(5)), byte(r.IntN(256)), byte(r.IntN(256))})
		}
		var want *Hostgroup
		for _, g := range n.Groups() {
			if g.Prefix.Contains(a) && (want == nil || g.Prefix.Bits() > want.Prefix.Bits()) {
				want = g
			}
		}
		if got := n.Lookup(a); got != want {
			t.Fatalf("Lookup(%s) = %v, want %v", a, got, want)
		}
	}
}

func TestKindNamesMatchConfig(t *testing.T) {
	for i, name := range config.ThresholdKinds() {
		if Kind(i+1).String() != name {
			t.Errorf("Kind(%d) = %s, want %s", i+1, Kind(i+1), name)
		}
	}
	if int(NumKinds) != len(config.ThresholdKinds())+1 {
		t.Errorf("NumKinds = %d, config has %d kinds", NumKinds, len(config.ThresholdKinds()))
	}
	if Key(KindTCPSyn, MetricPps) != "tcp_syn_pps" || Key(KindTotal, MetricBps) != "bps" {
		t.Error("Key spelling")
	}
}

func BenchmarkLookup(b *testing.B) {
	cfg := mustParse(b, hostgroupsYAML)
	n, _ := NewNetworks(cfg.Networks, cfg.Detection.DDoS)
	addrs := []netip.Addr{netip.MustParseAddr("198.51.100.200"), netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("2001:db8:42::9"), netip.MustParseAddr("198.51.3.3")}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n.Lookup(addrs[i&3])
	}
}
