package ddos

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"yocho/internal/config"
	"yocho/internal/enrich"
)

// TestNetTableAgreesWithNetworks: the detector's fast table names the same hostgroup as
// enrich.Networks for any address, with nested networks down to /28 and IPv6 /64 or longer.
func TestNetTableAgreesWithNetworks(t *testing.T) {
	for _, tc := range []struct{ name, yaml string }{
		{"nested", `
networks:
  - {prefix: 10.0.0.0/8, name: big}
  - {prefix: 10.1.0.0/16, name: sixteen}
  - {prefix: 10.1.2.0/24, name: twentyfour}
  - {prefix: 10.1.2.128/25, name: half}
  - {prefix: 10.1.2.240/28, name: small}
  - {prefix: 198.51.100.0/22, name: hosting}
  - {prefix: "2001:db8::/32", name: v6}
  - {prefix: "2001:db8:1::/48", name: v6-48}
  - {prefix: "2001:db8:1:2::/64", name: v6-64}
`},
		{"v6 longer than /64", `
networks:
  - {prefix: 192.0.2.0/24, name: c}
  - {prefix: "2001:db8::/48", name: v6}
  - {prefix: "2001:db8::100/120", name: v6-120}
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			nets, err := enrich.NewNetworks(cfg.Networks, cfg.Detection.DDoS)
			if err != nil {
				t.Fatal(err)
			}
			tab := newNetTable(nets)
			r := rand.New(rand.NewPCG(1, 1))
			near := []netip.Addr{netip.MustParseAddr("10.1.2.0"), netip.MustParseAddr("198.51.100.0"),
				netip.MustParseAddr("192.0.2.0"), netip.MustParseAddr("2001:db8::"), netip.MustParseAddr("2001:db8:1:2::")}
			for i := 0; i < 200_000; i++ {
				var a netip.Addr
				switch base := near[r.IntN(len(near))]; {
				case i%4 == 0:
					a = netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())})
				case base.Is4():
					b := base.As4()
					a = netip.AddrFrom4([4]byte{b[0], b[1] + byte(r.IntN(3)), b[2] + byte(r.IntN(5)), byte(r.Uint32())})
				default:
					b := base.As16()
					b[5] += byte(r.IntN(3))
					b[7] += byte(r.IntN(3))
					b[14], b[15] = byte(r.IntN(3)), byte(r.Uint32())
					a = netip.AddrFrom16(b)
				}
				want := int32(-1)
				if g := nets.Lookup(a); g != nil {
					want = int32(g.Index)
				}
				if got := tab.lookup(a); got != want {
					t.Fatalf("%s: table says group %d, networks say %d", a, got, want)
				}
			}
		})
	}
}
