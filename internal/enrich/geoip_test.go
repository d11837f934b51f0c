package enrich

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"yocho/internal/flow"
)

// writeCountryDB writes a GeoLite2-Country-shaped database mapping each prefix to its record:
// "JP" gives country.iso_code JP; "reg:AU" only registered_country.iso_code AU (how GeoLite2
// marks some anycast blocks).
func writeCountryDB(t testing.TB, dbType string, nets [][2]string) string {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, RecordSize: 24, IPVersion: 6,
		IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, pc := range nets {
		p, code := pc[0], pc[1]
		_, n, err := net.ParseCIDR(p)
		if err != nil {
			t.Fatal(err)
		}
		key := "country"
		if c, ok := strings.CutPrefix(code, "reg:"); ok {
			key, code = "registered_country", c
		}
		rec := mmdbtype.Map{mmdbtype.String(key): mmdbtype.Map{"iso_code": mmdbtype.String(code),
			"names": mmdbtype.Map{"en": mmdbtype.String("country " + code)}}}
		if dbType == "GeoLite2-ASN" {
			rec = mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(64500)}
		}
		if err := w.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), dbType+".mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// testCountries are inserted in order: a later, more specific network overrides its part of an
// earlier one.
var testCountries = [][2]string{
	{"203.0.113.0/24", "JP"},
	{"198.51.100.0/25", "US"}, // two countries in one /24: the cache must not mix them
	{"198.51.100.128/25", "DE"},
	{"192.0.2.0/24", "reg:AU"},
	{"10.0.0.0/8", "FR"},
	{"2001:db8::/32", "NL"},
	{"2001:db8:1::/48", "BE"},
}

func TestCountriesLookup(t *testing.T) {
	c, err := OpenCountries(writeCountryDB(t, "GeoLite2-Country", testCountries))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cases := []struct{ addr, want string }{
		{"203.0.113.7", "JP"},
		{"203.0.113.200", "JP"},
		{"198.51.100.1", "US"},
		{"198.51.100.200", "DE"},
		{"198.51.100.2", "US"},
		{"192.0.2.9", "AU"}, // registered country only
		{"10.200.3.4", "FR"},
		{"::ffff:203.0.113.9", "JP"}, // IPv4-mapped
		{"2001:db8:5::1", "NL"},
		{"2001:db8:1:ff::1", "BE"},
		{"8.8.8.8", ""},
		{"2001:db9::1", ""},
	}
	for round := range 2 { // the second round answers from the cache
		for _, tc := range cases {
			var a netip.Addr
			if tc.addr != "" {
				a = netip.MustParseAddr(tc.addr)
			}
			if got := c.Lookup(a); got != tc.want {
				t.Errorf("round %d: Lookup(%s) = %q, want %q", round, tc.addr, got, tc.want)
			}
		}
	}
	if got := c.Lookup(netip.Addr{}); got != "" {
		t.Errorf("Lookup(invalid) = %q", got)
	}
	a := netip.MustParseAddr("203.0.113.7")
	if n := testing.AllocsPerRun(100, func() { c.Lookup(a) }); n != 0 {
		t.Errorf("cached lookup allocates %v times", n)
	}
}

func TestOpenCountriesRefuses(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.mmdb")
	if err := os.WriteFile(junk, []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, path, want string }{
		{"missing", filepath.Join(dir, "none.mmdb"), "no such file"},
		{"not mmdb", junk, "junk.mmdb"},
		{"ASN database", writeCountryDB(t, "GeoLite2-ASN", [][2]string{{"203.0.113.0/24", "JP"}}), "not a country database"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := OpenCountries(tc.path)
			if err == nil {
				c.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "geoip country database") {
				t.Errorf("error %q, want it to name the database and say %q", err, tc.want)
			}
		})
	}
}

type batchRecorder struct{ got []flow.Record }

func (r *batchRecorder) Consume(b *flow.Batch) {
	for i := range b.Len() {
		r.got = append(r.got, b.Record(i))
	}
}

func TestEnricher(t *testing.T) {
	cfg := mustParse(t, hostgroupsYAML)
	nets, err := NewNetworks(cfg.Networks, cfg.Detection.DDoS)
	if err != nil {
		t.Fatal(err)
	}
	countries, err := OpenCountries(writeCountryDB(t, "GeoLite2-Country", testCountries))
	if err != nil {
		t.Fatal(err)
	}
	defer countries.Close()
	flows := []struct{ src, dst, srcGroup, dstGroup, srcCountry, dstCountry string }{
		{"203.0.113.5", "198.51.100.200", "named-child", "customer-a-dc", "JP", "DE"},
		{"203.0.113.5", "198.51.100.200", "named-child", "customer-a-dc", "JP", "DE"}, // a run of one address
		{"10.1.2.3", "198.51.100.20", "", "customer-a", "FR", "US"},
		{"198.51.7.1", "8.8.8.8", "region", "", "", ""},
		{"2001:db8:42::9", "2001:db8:1::1", "v6-customer", "v6-region", "NL", "BE"},
	}
	b := flow.NewBatch(8)
	for _, f := range flows {
		// Stale values in the batch are overwritten.
		b.Append(&flow.Record{SrcAddr: netip.MustParseAddr(f.src), DstAddr: netip.MustParseAddr(f.dst),
			SrcHostgroup: "stale", DstCountry: "XX"})
	}
	for _, withCountries := range []bool{true, false} {
		var rec batchRecorder
		c := countries
		if !withCountries {
			c = nil
		}
		NewEnricher(nets, c).To([]flow.Consumer{&rec}).Consume(b)
		for i, f := range flows {
			g := rec.got[i]
			wantSC, wantDC := f.srcCountry, f.dstCountry
			if !withCountries {
				wantSC, wantDC = "", ""
			}
			if g.SrcHostgroup != f.srcGroup || g.DstHostgroup != f.dstGroup || g.SrcCountry != wantSC || g.DstCountry != wantDC {
				t.Errorf("countries %v, flow %d (%s -> %s): got %q %q %q %q, want %q %q %q %q", withCountries, i, f.src, f.dst,
					g.SrcHostgroup, g.DstHostgroup, g.SrcCountry, g.DstCountry, f.srcGroup, f.dstGroup, wantSC, wantDC)
			}
		}
	}
	// The detectors' indexes name the same hostgroups, of these networks.
	name := func(idx int32) string {
		if idx == 0 {
			return ""
		}
		return nets.Groups()[idx-1].Name
	}
	if b.Groups != any(nets) || len(b.SrcGroup) != len(flows) || len(b.DstGroup) != len(flows) {
		t.Fatalf("hostgroup indexes: %d, %d, of %v", len(b.SrcGroup), len(b.DstGroup), b.Groups)
	}
	for i, f := range flows {
		if got, want := name(b.SrcGroup[i])+" -> "+name(b.DstGroup[i]), f.srcGroup+" -> "+f.dstGroup; got != want {
			t.Errorf("flow %d: indexes name %s, want %s", i, got, want)
		}
	}
	e := NewEnricher(nets, countries)
	if n := testing.AllocsPerRun(20, func() { e.Enrich(b) }); n != 0 {
		t.Errorf("Enrich allocates %v times per batch", n)
	}
}
