package cnc

import (
	"fmt"
	"time"
)

// Config is the C&C detector's configuration. Its maxima bound the memory the engine uses; see
// MemoryBound.
type Config struct {
	// AlertScore is the score (0–100) at or above which a candidate raises a cnc alert.
	AlertScore float64
	// MaxEndpoints bounds the external endpoints tracked at once; when full, the least valuable
	// of a random sample of eight is evicted.
	MaxEndpoints int
	// MaxDetailed bounds the endpoints with detailed state (client counter, per-hour and
	// per-minute profiles, first clients): those contacted by a second client or a third time.
	MaxDetailed int
	// MaxListed bounds the endpoints whose clients are listed one by one (for the API's clients
	// list): those whose score reached ListScore. MaxListedClients bounds each list.
	MaxListed        int
	MaxListedClients int
	// ListScore is the score from which an endpoint's clients are listed one by one.
	ListScore float64
	// MaxPairs bounds the (client, server) pairs whose beaconing is scored; PairSamples bounds
	// the contacts kept per pair (older ones are thinned to every other one when full). When
	// more pairs are active than MaxPairs, a share of pairs chosen by hash keeps state (down to
	// 1/64), so that the pairs kept keep whole series; pairs of listed endpoints are always kept.
	MaxPairs    int
	PairSamples int
	// PairMaxSamplingRate is the highest sampling rate (1 in N) at which pair beaconing runs:
	// it needs every connection, so by default only unsampled flows feed it.
	PairMaxSamplingRate uint32
	// MinPairContacts is the number of contacts a pair needs before its beaconing is scored.
	MinPairContacts int
	// MaxIoTHosts bounds the subscriber hosts remembered as IoT-looking (telnet); a host may be
	// forgotten earlier when a newer one takes its place in the table.
	MaxIoTHosts int
	// Warmup is how long after the first flow an endpoint must first appear to count as new.
	Warmup time.Duration
	// Tick is how often, in flow time, touched endpoints are scored for alerts.
	Tick time.Duration
}

// DefaultConfig alerts at 50, tracks 1 M endpoints (of which 128 k in detail and 1 k with their
// clients listed) and 64 k pairs of 128 contacts each, with pair beaconing on unsampled flows
// only.
func DefaultConfig() Config {
	return Config{
		AlertScore:          50,
		MaxEndpoints:        1 << 20,
		MaxDetailed:         1 << 17,
		MaxListed:           1024,
		MaxListedClients:    4096,
		ListScore:           30,
		MaxPairs:            1 << 16,
		PairSamples:         128,
		PairMaxSamplingRate: 1,
		MinPairContacts:     8,
		MaxIoTHosts:         1 << 20,
		Warmup:              time.Hour,
		Tick:                10 * time.Second,
	}
}

// Validate reports the first impossible value.
func (c Config) Validate() error {
	switch {
	case c.AlertScore < 0 || c.AlertScore > 100:
		return fmt.Errorf("alert score %v is outside 0..100", c.AlertScore)
	case c.MaxEndpoints < 16:
		return fmt.Errorf("max endpoints %d is below 16", c.MaxEndpoints)
	case c.MaxDetailed < 1 || c.MaxListed < 1 || c.MaxListedClients < 1:
		return fmt.Errorf("max detailed, listed and listed clients must be at least 1")
	case c.MaxPairs < 1 || c.PairSamples < 8:
		return fmt.Errorf("max pairs must be at least 1 and pair samples at least 8")
	case c.MinPairContacts < 4:
		return fmt.Errorf("min pair contacts %d is below 4", c.MinPairContacts)
	case c.Tick <= 0:
		return fmt.Errorf("tick must be positive")
	}
	return nil
}

// Approximate sizes, in bytes, of each kind of state, index overhead included (an endpoint is
// 128 bytes and up to four 8-byte index words; a detail 336 and its 16-byte meta and 64-byte
// client counter; an IoT host a 4-byte tag in a table of up to twice MaxIoTHosts); checked by
// TestMemoryTenMillionEndpoints.
const (
	bytesPerEndpoint     = 160
	bytesPerDetail       = 420
	bytesPerListedClient = 80
	bytesPerPairSample   = 12
	bytesPerPair         = 160
	bytesPerIoTHost      = 8
	bytesPerConn         = 8 // an entry of the connection table (conn.go)
)

// MemoryBound is the most memory, in bytes, that the engine's state can take with c, whatever
// the traffic.
func (c Config) MemoryBound() int64 {
	return int64(c.MaxEndpoints)*bytesPerEndpoint +
		int64(c.MaxDetailed)*bytesPerDetail +
		int64(c.MaxListed)*int64(c.MaxListedClients)*bytesPerListedClient +
		int64(c.MaxPairs)*(bytesPerPair+int64(c.PairSamples)*bytesPerPairSample) +
		int64(c.MaxIoTHosts)*bytesPerIoTHost +
		int64(connEntries(c))*bytesPerConn
}
