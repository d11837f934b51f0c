package config

import "fmt"

// Enrich is what yocho adds to each flow before storing it (internal/enrich): hostgroups come
// from networks; countries from a geolocation database, when one is given.
type Enrich struct {
	GeoIP GeoIP `yaml:"geoip"`
}

// GeoIP names the geolocation databases, MaxMind DB files (.mmdb).
type GeoIP struct {
	// Country is a country database (GeoLite2-Country, GeoIP2-Country or DB-IP's country lite);
	// empty: flows carry no country. A missing or unreadable file stops start-up.
	Country string `yaml:"country"`
}

// DefaultEnrich has no geolocation database.
func DefaultEnrich() Enrich { return Enrich{} }

func (e *Enrich) validate() error {
	if c := e.GeoIP.Country; c != "" && c[len(c)-1] == '/' {
		return fmt.Errorf("enrich.geoip.country: %q is a directory, not a .mmdb file", c)
	}
	return nil
}
