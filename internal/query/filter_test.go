package query

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestFilterSQL(t *testing.T) {
	v4 := func(s string) uint64 { _, lo := EncodeAddr(netip.MustParseAddr(s)); return lo }
	for _, tc := range []struct {
		in   string
		sql  string
		args []any
	}{
		{"", "TRUE", nil},
		{"dst_addr in 203.0.113.0/24 and proto = udp and src_port in (53, 123, 11211) and not exporter = 192.0.2.1",
			"(((dst_addr_hi = ? AND dst_addr_lo BETWEEN ? AND ?)) AND proto = ? AND src_port IN (?, ?, ?) AND (NOT ((exporter_hi = ? AND exporter_lo = ?))))",
			[]any{uint64(0), v4("203.0.113.0"), v4("203.0.113.255"), uint64(17), uint64(53), uint64(123), uint64(11211), uint64(0), v4("192.0.2.1")}},
		{"PROTO = TCP OR (dst_port >= 1024 AND dst_port < 2048)",
			"(proto = ? OR (dst_port >= ? AND dst_port < ?))", []any{uint64(6), uint64(1024), uint64(2048)}},
		{"src_addr in 2001:db8::/32", "((src_addr_hi BETWEEN ? AND ?))", []any{uint64(0x20010db800000000), uint64(0x20010db8ffffffff)}},
		{"src_addr not in (10.0.0.1, fe80::/64)", "NOT ((src_addr_hi = ? AND src_addr_lo = ?) OR (src_addr_hi = ? AND src_addr_lo BETWEEN ? AND ?))",
			[]any{uint64(0), v4("10.0.0.1"), uint64(0xfe80000000000000), uint64(0), ^uint64(0)}},
		{"src_as = AS64500 and direction = ingress", "(src_as = ? AND direction = ?)", []any{uint64(64500), uint64(1)}},
		{"next_hop > 10.0.0.1", "(next_hop_hi > ? OR (next_hop_hi = ? AND next_hop_lo > ?))", []any{uint64(0), uint64(0), v4("10.0.0.1")}},
		{"not not vlan != 0x10", "(NOT (NOT vlan != ?))", []any{uint64(16)}},
		{"dst_country = jp", "dst_country = ?", []any{"JP"}},
		{`dst_hostgroup in (customer-a, "lab 2", "") and src_country != US`, "(dst_hostgroup IN (?, ?, ?) AND src_country != ?)",
			[]any{"customer-a", "lab 2", "", "US"}},
		{`src_hostgroup not in ("and")`, "NOT src_hostgroup IN (?)", []any{"and"}},
	} {
		f, err := ParseFilter(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		sql, args := f.SQL()
		if sql != tc.sql || !reflect.DeepEqual(args, tc.args) {
			t.Errorf("%q:\n got %s %v\nwant %s %v", tc.in, sql, args, tc.sql, tc.args)
		}
		if strings.Count(sql, "?") != len(args) {
			t.Errorf("%q: %d placeholders for %d args", tc.in, strings.Count(sql, "?"), len(args))
		}
	}
}

func TestFilterErrors(t *testing.T) {
	for _, tc := range []struct {
		in       string
		col      int
		contains string
	}{
		{"proto = ", 9, "expected a protocol number (0-255) or name"},
		{"dst_addr in 203.0.113.0/33", 13, "expected an address or a prefix for dst_addr, found \"203.0.113.0/33\""},
		{"dst in 10.0.0.0/8", 1, "unknown field \"dst\"; known fields: bytes, "},
		{"proto = udp and", 16, "expected a field name, \"not\" or \"(\", found the end of the filter"},
		{"(proto = udp", 13, "expected \")\""},
		{"proto = udp )", 13, "expected \"and\", \"or\" or the end of the filter, found \")\""},
		{"src_port in (53 123)", 17, "expected \",\" or \")\", found \"123\""},
		{"src_port = 70000", 12, "a number from 0 to 65535 for src_port"},
		{"src_country = JPN", 15, `expected a two-letter country code (JP, US, ...) or "" for src_country, found "JPN"`},
		{`dst_hostgroup > "a"`, 17, "dst_hostgroup cannot be compared with >; use =, !=, in or not in"},
		{`dst_hostgroup = "lab`, 17, "unterminated string"},
		{`proto = "udp"`, 9, `expected a protocol number (0-255) or name (tcp, udp, icmp, ...) for proto, found the string "udp"`},
		{"src_port ~ 5", 10, "unexpected character \"~\""},
		{"src_port 5", 10, "expected an operator"},
		{"dst_addr < 10.0.0.0/8", 12, "a prefix cannot be compared with <"},
		{"src_port in 53", 13, "expected \"(\" and a list of values"},
		{"proto = é", 9, "unexpected character \"é\""},
	} {
		_, err := ParseFilter(tc.in)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%q: error %v, want a ParseError", tc.in, err)
			continue
		}
		if pe.Column != tc.col || pe.Pos != tc.col-1 || !strings.Contains(err.Error(), tc.contains) {
			t.Errorf("%q: column %d, %q; want column %d containing %q", tc.in, pe.Column, err, tc.col, tc.contains)
		}
	}
	_, err := ParseFilter("dst in 10.0.0.0/8")
	for _, f := range Fields() {
		if !strings.Contains(err.Error(), f.Name) {
			t.Errorf("unknown-field error does not list %s", f.Name)
		}
	}
	deep := strings.Repeat("(", 500) + "proto = 6" + strings.Repeat(")", 500)
	if _, err := ParseFilter(deep); err == nil || !strings.Contains(err.Error(), "nested too deeply") {
		t.Errorf("deep nesting: %v", err)
	}
}

func TestRollupExactAndFields(t *testing.T) {
	for in, want := range map[string]bool{
		"": true,
		"proto = udp and src_port in (53, 123, 11211)": true,
		"dst_port = 12345":                   false, // not kept in the roll-ups
		"dst_port > 1000":                    false,
		"not src_port = 0":                   false, // 0 stands for every other port there
		"exporter = 192.0.2.1 and in_if = 3": true,
		"dst_addr in 10.0.0.0/8":             false,
		"src_as = 1 or bytes > 100":          false,
		`dst_hostgroup in (customer-a, "") and not src_country = JP`: true,
	} {
		f, err := ParseFilter(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.RollupExact(); got != want {
			t.Errorf("%q: RollupExact = %v, want %v", in, got, want)
		}
	}
	f, _ := ParseFilter("proto = 6 and (dst_addr = 10.0.0.1 or proto = 17)")
	if got := f.Fields(); !reflect.DeepEqual(got, []string{"proto", "dst_addr"}) {
		t.Errorf("Fields = %v", got)
	}
}

func TestAddrRoundTrip(t *testing.T) {
	for _, s := range []string{"192.0.2.1", "0.0.0.0", "255.255.255.255", "2001:db8::1", "ff02::1", "::1"} {
		a := netip.MustParseAddr(s)
		if got := DecodeAddr(EncodeAddr(a)); got != a {
			t.Errorf("%s round trip: %s", s, got)
		}
	}
	if DecodeAddr(EncodeAddr(netip.Addr{})).IsValid() {
		t.Error("the zero Addr must stay invalid")
	}
	fhi, flo, lhi, llo := prefixRange(netip.MustParsePrefix("0.0.0.0/0"))
	if fhi != 0 || flo != 0xffff00000000 || lhi != 0 || llo != 0xffffffffffff {
		t.Errorf("0.0.0.0/0 = %x %x %x %x", fhi, flo, lhi, llo)
	}
	fhi, flo, lhi, llo = prefixRange(netip.MustParsePrefix("::/0"))
	if fhi != 0 || flo != 0 || lhi != ^uint64(0) || llo != ^uint64(0) {
		t.Errorf("::/0 = %x %x %x %x", fhi, flo, lhi, llo)
	}
}

func TestChooseTier(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	ret := Retention{"raw": 15 * 24 * time.Hour, "1m": 30 * 24 * time.Hour, "5m": 90 * 24 * time.Hour, "1h": 400 * 24 * time.Hour}
	dims := func(s string) []Field {
		d, err := ParseDims(s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	flt := func(s string) *Filter {
		f, err := ParseFilter(s)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	rg := func(from, to time.Time) Range { return Range{From: from, To: to} }
	for _, tc := range []struct {
		name string
		got  Tier
		want string
	}{
		{"top by address is raw", ChooseTopTier(dims("dst_addr"), nil, rg(now.Add(-time.Hour), now), ret, now), "raw"},
		{"top by proto over 1h: 1m-narrow", ChooseTopTier(dims("proto"), nil, rg(now.Add(-time.Hour).Add(-17*time.Second), now.Add(-17*time.Second)), ret, now), "1m-narrow"},
		{"top by src_as over 1h: 1m (not narrow)", ChooseTopTier(dims("src_as"), nil, rg(now.Add(-time.Hour).Add(-17*time.Second), now.Add(-17*time.Second)), ret, now), "1m"},
		{"top by proto filtered by port over 1h: 1m", ChooseTopTier(dims("proto"), flt("dst_port = 53"), rg(now.Add(-time.Hour).Add(-17*time.Second), now.Add(-17*time.Second)), ret, now), "1m"},
		{"top by src_as over aligned 1h: 1h", ChooseTopTier(dims("src_as"), nil, rg(now.Add(-time.Hour), now), ret, now), "1h"},
		{"top by proto over aligned 1h: 1m-narrow, not 1h", ChooseTopTier(dims("proto"), nil, rg(now.Add(-time.Hour), now), ret, now), "1m-narrow"},
		{"top over 15 unaligned minutes: raw", ChooseTopTier(dims("proto"), nil, rg(now.Add(-15*time.Minute-time.Second), now.Add(-time.Second)), ret, now), "raw"},
		{"top by dst_as over 3 days: 1h", ChooseTopTier(dims("dst_as"), nil, rg(now.Add(-72*time.Hour-time.Second), now.Add(-time.Second)), ret, now), "1h"},
		{"top by dst_as over 10 hours: 5m", ChooseTopTier(dims("dst_as"), nil, rg(now.Add(-10*time.Hour-time.Second), now.Add(-time.Second)), ret, now), "5m"},
		{"top by exporter over 3 days: 1m-narrow", ChooseTopTier(dims("exporter"), nil, rg(now.Add(-72*time.Hour-time.Second), now.Add(-time.Second)), ret, now), "1m-narrow"},
		{"top by exporter over 40 days: 1h (narrow expired)", ChooseTopTier(dims("exporter"), nil, rg(now.Add(-40*24*time.Hour-time.Second), now.Add(-time.Second)), ret, now), "1h"},
		{"top with address filter: raw", ChooseTopTier(dims("proto"), flt("dst_addr in 10.0.0.0/8"), rg(now.Add(-6*time.Hour), now), ret, now), "raw"},
		{"top by dst_port while raw covers: raw", ChooseTopTier(dims("dst_port"), nil, rg(now.Add(-6*time.Hour), now), ret, now), "raw"},
		{"top by dst_port 20 days ago: 1h", ChooseTopTier(dims("dst_port"), nil, rg(now.Add(-20*24*time.Hour-time.Second), now.Add(-time.Second)), ret, now), "1h"},
		{"top over 60 days: 1h", ChooseTopTier(dims("proto"), nil, rg(now.Add(-60*24*time.Hour-time.Second), now.Add(-time.Second)), ret, now), "1h"},
		{"top by address 20 days ago: raw (expired)", ChooseTopTier(dims("dst_addr"), nil, rg(now.Add(-20*24*time.Hour), now), ret, now), "raw"},
		{"series 1m over 24h: 1m-narrow", ChooseSeriesTier(nil, nil, time.Minute, rg(now.Add(-24*time.Hour), now), ret, now), "1m-narrow"},
		{"series 1m by proto, filtered by exporter and interfaces: 1m-narrow", ChooseSeriesTier(dims("proto"), flt("exporter = 192.0.2.1 and (in_if = 3 or out_if != 4) and direction = ingress"), time.Minute, rg(now.Add(-24*time.Hour), now), ret, now), "1m-narrow"},
		{"series 1m by dst_as: 1m", ChooseSeriesTier(dims("dst_as"), nil, time.Minute, rg(now.Add(-24*time.Hour), now), ret, now), "1m"},
		{"series 1m filtered by src_as: 1m", ChooseSeriesTier(nil, flt("src_as = 64500"), time.Minute, rg(now.Add(-24*time.Hour), now), ret, now), "1m"},
		{"series 1m 20 days ago: 1m-narrow (retention of 1m)", ChooseSeriesTier(nil, nil, time.Minute, rg(now.Add(-20*24*time.Hour), now.Add(-19*24*time.Hour)), ret, now), "1m-narrow"},
		{"series 10s: raw", ChooseSeriesTier(nil, nil, 10*time.Second, rg(now.Add(-time.Hour), now), ret, now), "raw"},
		{"series 15m by src_as: 5m", ChooseSeriesTier(dims("src_as"), nil, 15*time.Minute, rg(now.Add(-24*time.Hour), now), ret, now), "5m"},
		{"series 15m by proto: 1m-narrow", ChooseSeriesTier(dims("proto"), nil, 15*time.Minute, rg(now.Add(-24*time.Hour), now), ret, now), "1m-narrow"},
		{"top by src_country over aligned 1h: 1h", ChooseTopTier(dims("src_country"), nil, rg(now.Add(-time.Hour), now), ret, now), "1h"},
		{"top by dst_hostgroup,dst_country over 6h, filtered by hostgroup: 5m", ChooseTopTier(dims("dst_hostgroup,dst_country"),
			flt("src_hostgroup = lab"), rg(now.Add(-6*time.Hour-time.Second), now.Add(-time.Second)), ret, now), "5m"},
		{"series 1m by dst_country: 1m", ChooseSeriesTier(dims("dst_country"), flt("dst_country in (JP, US)"), time.Minute, rg(now.Add(-24*time.Hour), now), ret, now), "1m"},
		{"series 1m 40 days ago: 5m (1m expired)", ChooseSeriesTier(nil, nil, time.Minute, rg(now.Add(-40*24*time.Hour), now), ret, now), "5m"},
	} {
		if tc.got.Name != tc.want {
			t.Errorf("%s: tier %s, want %s", tc.name, tc.got.Name, tc.want)
		}
	}
	if b := AutoBucket(rg(now.Add(-24*time.Hour), now)); b != 5*time.Minute {
		t.Errorf("AutoBucket(24h) = %s", b)
	}
	if b := AutoBucket(rg(now.Add(-6*time.Hour), now)); b != time.Minute {
		t.Errorf("AutoBucket(6h) = %s", b)
	}
}

func TestParseRange(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	r, err := ParseRange("90m", "", now, time.Hour)
	if err != nil || !r.From.Equal(now.Add(-90*time.Minute)) || !r.To.Equal(now) {
		t.Errorf("90m: %v %v", r, err)
	}
	r, err = ParseRange("2026-11-24T00:00:00Z", "1d", now, time.Hour)
	if err != nil || r.From.Day() != 24 || !r.To.Equal(now.Add(-24*time.Hour)) {
		t.Errorf("rfc3339/1d: %v %v", r, err)
	}
	if _, err := ParseRange("1h", "2h", now, time.Hour); err == nil {
		t.Error("since after until accepted")
	}
	if _, err := ParseRange("yesterday", "", now, time.Hour); err == nil || !strings.Contains(err.Error(), "RFC 3339") {
		t.Errorf("bad since: %v", err)
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		"dst_addr in 203.0.113.0/24 and proto = udp and src_port in (53, 123, 11211) and not exporter = 192.0.2.1",
		"(a", "proto = tcp or (bytes > 1000 and not vlan = 3)", "src_addr not in (::1, 10.0.0.0/8)", "", "!=", "dst_as = as1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilter(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Pos < 0 || pe.Pos > len(s) || pe.Column != pe.Pos+1 {
				t.Fatalf("%q: bad error %v", s, err)
			}
			return
		}
		sql, args := flt.SQL()
		if strings.Count(sql, "?") != len(args) {
			t.Fatalf("%q: %d placeholders, %d args", s, strings.Count(sql, "?"), len(args))
		}
		if strings.ContainsAny(sql, "'\";") {
			t.Fatalf("%q: user text in SQL: %s", s, sql)
		}
	})
}
