package config

import "fmt"

// CnC is the botnet C&C server detector: the score that raises an alert, the bounds of its
// memory, and the indicator feeds that raise scores.
type CnC struct {
	Enabled bool `yaml:"enabled"`
	// AlertScore (0–100) is the score at or above which an endpoint raises a cnc alert.
	AlertScore float64 `yaml:"alert_score"`
	// MaxEndpoints bounds the external endpoints tracked at once (about 300 bytes each).
	MaxEndpoints int `yaml:"max_endpoints"`
	// MaxPairs bounds the (client, server) pairs scored for beaconing on unsampled flows.
	MaxPairs int `yaml:"max_pairs"`
	// PairMaxSamplingRate is the highest sampling rate (1 in N) at which pair beaconing runs.
	PairMaxSamplingRate SamplingRate `yaml:"pair_max_sampling_rate"`
	// Feeds are indicator files of C&C addresses and domains, reloaded when they change.
	Feeds []CnCFeed `yaml:"feeds"`
	// FeedCheckInterval is how often feed files are checked for changes.
	FeedCheckInterval Duration `yaml:"feed_check_interval"`
}

// CnCFeed is one indicator file.
type CnCFeed struct {
	Name string `yaml:"name"`
	Path string `yaml:"path"`
	// Format is list, csv, stix or honeypot.
	Format string `yaml:"format"`
	// Confidence (0–100) is given to the feed's indicators that carry none.
	Confidence int `yaml:"confidence"`
}

// DefaultCnC detects with an alert score of 50, 1 M endpoints and 64 k pairs, pair beaconing on
// unsampled flows, no feeds.
func DefaultCnC() CnC {
	return CnC{Enabled: true, AlertScore: 50, MaxEndpoints: 1 << 20, MaxPairs: 1 << 16,
		PairMaxSamplingRate: 1, FeedCheckInterval: Duration(30e9)}
}

func (c *CnC) validate() error {
	switch {
	case c.AlertScore < 0 || c.AlertScore > 100:
		return fmt.Errorf("cnc.alert_score: %v is outside 0..100", c.AlertScore)
	case c.MaxEndpoints < 16:
		return fmt.Errorf("cnc.max_endpoints: %d is below 16", c.MaxEndpoints)
	case c.MaxPairs < 1:
		return fmt.Errorf("cnc.max_pairs: %d is below 1", c.MaxPairs)
	case c.FeedCheckInterval <= 0:
		return fmt.Errorf("cnc.feed_check_interval: must be positive")
	}
	names := map[string]int{}
	for i, f := range c.Feeds {
		key := fmt.Sprintf("cnc.feeds[%d]", i)
		switch {
		case f.Name == "":
			return fmt.Errorf("%s.name: missing", key)
		case f.Path == "":
			return fmt.Errorf("%s.path: missing", key)
		case f.Format != "list" && f.Format != "csv" && f.Format != "stix" && f.Format != "honeypot":
			return fmt.Errorf("%s.format: %q is not one of list, csv, stix, honeypot", key, f.Format)
		case f.Confidence < 0 || f.Confidence > 100:
			return fmt.Errorf("%s.confidence: %d is outside 0..100", key, f.Confidence)
		}
		if j, dup := names[f.Name]; dup {
			return fmt.Errorf("%s.name: %q is already cnc.feeds[%d]", key, f.Name, j)
		}
		names[f.Name] = i
	}
	return nil
}
