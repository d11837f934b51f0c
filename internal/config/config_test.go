package config

import (
	"strings"
	"testing"
)

func TestParseDefaultsAndOverrides(t *testing.T) {
	cfg, err := Parse([]byte(`
listen:
  netflow: ["127.0.0.1:12055"]
exporters:
  default_sampling_rate: 100
  overrides:
    - exporter: 192.0.2.1
      sampling_rate: 1000
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Listen.NetFlow) != 1 || cfg.Listen.NetFlow[0] != "127.0.0.1:12055" {
		t.Errorf("listen.netflow = %v", cfg.Listen.NetFlow)
	}
	if cfg.Listen.HTTP != DefaultListen().HTTP {
		t.Errorf("omitted listen.http should keep its default, got %q", cfg.Listen.HTTP)
	}
	if cfg.Exporters.DefaultSamplingRate != 100 || cfg.Exporters.Overrides[0].SamplingRate != 1000 ||
		cfg.Exporters.Overrides[0].Exporter.String() != "192.0.2.1" {
		t.Errorf("exporters = %+v", cfg.Exporters)
	}
}

func TestParseErrorsNameKeyAndLine(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown key", "listen:\n  netflw: [\"127.0.0.1:2055\"]\n", "line 2: field netflw not found"},
		{"bad listen", "listen:\n  sflow: [\"nowhere\"]\n", "line 2: bad listen address"},
		{"zero rate", "exporters:\n  default_sampling_rate: 0\n", "line 2: bad sampling rate"},
		{"bad exporter", "exporters:\n  overrides:\n    - exporter: 192.0.2.300\n      sampling_rate: 10\n", "line 3: bad address"},
		{"duplicate exporter", "exporters:\n  overrides:\n    - {exporter: 192.0.2.1, sampling_rate: 10}\n    - {exporter: 192.0.2.1, sampling_rate: 20}\n", "listed twice"},
		{"bad duration", "x: 1\n", "field x not found"},
		{"unknown geoip database", "enrich:\n  geoip:\n    city: GeoLite2-City.mmdb\n", "line 3: field city not found"},
		{"geoip directory", "enrich:\n  geoip:\n    country: /var/lib/GeoIP/\n", "enrich.geoip.country: \"/var/lib/GeoIP/\" is a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParseRateAndDuration(t *testing.T) {
	for in, want := range map[string]float64{"1G": 1e9, "100k": 1e5, "2.5M": 2.5e6, "1500": 1500} {
		if got, err := ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseRate("fast"); err == nil {
		t.Error("ParseRate(fast) accepted")
	}
	if d, err := ParseDuration("15d"); err != nil || d.Hours() != 360 {
		t.Errorf("ParseDuration(15d) = %v, %v", d, err)
	}
	if _, err := ParseDuration("soon"); err == nil {
		t.Error("ParseDuration(soon) accepted")
	}
}
