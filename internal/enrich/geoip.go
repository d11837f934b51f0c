package enrich

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/oschwald/maxminddb-golang/v2"
)

// Countries tells which country an address is in, from a MaxMind-format database (GeoLite2-Country,
// GeoIP2-Country, DB-IP country lite, or any .mmdb whose records hold country.iso_code). Lookups
// are cached per IPv4 /24 and IPv6 /48 when the database gives the whole block one answer, so
// most flows cost one load. Safe for concurrent use.
type Countries struct {
	db *maxminddb.Reader
	// v4 and v6 are direct-mapped caches. An entry packs the block (the /24's 24 bits, or the
	// /48's 48 bits) above a 16-bit answer: the two letters of the code, or noCountry; 0 is empty.
	v4, v6 []atomic.Uint64

	// byRecord caches the packed answer of each database record (by its offset): a database
	// holds a few thousand, so an address of a block split between countries costs a walk of
	// the tree but no decoding.
	mu       sync.RWMutex
	byRecord map[uintptr]uint16
}

const (
	cacheBits = 16
	noCountry = 0xFFFF // the database has no country for the block
)

// countryRecord is the part of a country database's record read: the country the address is in
// (GeoLite2 and DB-IP), else the one it is registered in (GeoLite2 anycast and satellite blocks).
type countryRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	Registered struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
}

// OpenCountries opens and checks the database at path: it must be a MaxMind DB whose records
// carry a country's ISO code (its type names "Country", or a lookup of a well-known address
// finds one).
func OpenCountries(path string) (*Countries, error) {
	db, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geoip country database %s: %w", path, err)
	}
	if err := checkCountryDB(db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("geoip country database %s: %w", path, err)
	}
	return &Countries{db: db, v4: make([]atomic.Uint64, 1<<cacheBits), v6: make([]atomic.Uint64, 1<<cacheBits),
		byRecord: map[uintptr]uint16{}}, nil
}

// checkCountryDB refuses a database that is not a country database (a city or ASN database
// given by mistake gives no country codes, or other fields entirely).
func checkCountryDB(db *maxminddb.Reader) error {
	if db.Metadata.NodeCount == 0 {
		return errors.New("the database holds no networks")
	}
	var firstErr error
	for r := range db.Networks() {
		var rec countryRecord
		if err := r.Decode(&rec); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if len(rec.Country.ISOCode) == 2 || len(rec.Registered.ISOCode) == 2 {
			return nil
		}
	}
	if firstErr != nil {
		return fmt.Errorf("records do not decode as a country database's (%s): %w", db.Metadata.DatabaseType, firstErr)
	}
	return fmt.Errorf("no record holds country.iso_code: not a country database (type %q)", db.Metadata.DatabaseType)
}

// Close releases the database.
func (c *Countries) Close() error { return c.db.Close() }

// Lookup is the ISO 3166 alpha-2 code of the country of a, "" when the database has none.
func (c *Countries) Lookup(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	a = a.Unmap()
	var block uint64
	var cache []atomic.Uint64
	if a.Is4() {
		v := a.As4()
		block, cache = uint64(v[0])<<16|uint64(v[1])<<8|uint64(v[2]), c.v4
	} else {
		v := a.As16()
		block, cache = uint64(v[0])<<40|uint64(v[1])<<32|uint64(v[2])<<24|uint64(v[3])<<16|uint64(v[4])<<8|uint64(v[5]), c.v6
	}
	slot := &cache[(block*0x9E3779B97F4A7C15)>>(64-cacheBits)]
	if e := slot.Load(); e != 0 && e>>16 == block {
		return codeString(uint16(e))
	}
	res := c.db.Lookup(a)
	packed, ok := uint16(noCountry), true
	if res.Found() {
		packed, ok = c.record(res)
	}
	blockBits := 24
	if !a.Is4() {
		blockBits = 48
	}
	// Cache only when the answer holds for the whole block.
	if ok && res.Prefix().IsValid() && res.Prefix().Bits() <= blockBits {
		slot.Store(block<<16 | uint64(packed))
	}
	if ok {
		return codeString(packed)
	}
	return c.decode(res)
}

// record is the packed answer of a found record; false when its code is not two capital letters.
func (c *Countries) record(res maxminddb.Result) (uint16, bool) {
	off := res.Offset()
	c.mu.RLock()
	p, ok := c.byRecord[off]
	c.mu.RUnlock()
	if ok {
		return p, true
	}
	p, ok = packCode(c.decode(res))
	if ok {
		c.mu.Lock()
		c.byRecord[off] = p
		c.mu.Unlock()
	}
	return p, ok
}

// decode reads the country code of a record: the country's, else the registered country's.
func (c *Countries) decode(res maxminddb.Result) string {
	var rec countryRecord
	if !res.Found() || res.Decode(&rec) != nil {
		return ""
	}
	if rec.Country.ISOCode != "" {
		return rec.Country.ISOCode
	}
	return rec.Registered.ISOCode
}

// packCode packs a code of two capital letters, or "" as noCountry; other codes are not cached.
func packCode(code string) (uint16, bool) {
	if code == "" {
		return noCountry, true
	}
	if len(code) != 2 || code[0] < 'A' || code[0] > 'Z' || code[1] < 'A' || code[1] > 'Z' {
		return 0, false
	}
	return uint16(code[0])<<8 | uint16(code[1]), true
}

// codes holds every two-letter code once, so that flows share their strings.
var codes = func() (t [26 * 26]string) {
	for i := range t {
		t[i] = string([]byte{'A' + byte(i/26), 'A' + byte(i%26)})
	}
	return t
}()

func codeString(p uint16) string {
	if p == noCountry {
		return ""
	}
	return codes[int(p>>8-'A')*26+int(p&0xFF-'A')]
}
