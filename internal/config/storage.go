package config

import (
	"fmt"
	"time"
)

// Storage is the embedded flow store (internal/store): where it keeps its files, how long each
// tier keeps flows, and how often staged flows reach the disk.
type Storage struct {
	Path      string           `yaml:"path"`
	Retention StorageRetention `yaml:"retention"`
	// FlushInterval is how often flows are written to disk: the most traffic a crash loses.
	FlushInterval Duration `yaml:"flush_interval"`
	// QueueFlows bounds the flows waiting for the writer; beyond it flows are dropped and counted.
	QueueFlows int `yaml:"queue_flows"`
}

// StorageRetention is how long each tier keeps its data.
type StorageRetention struct {
	Raw Duration `yaml:"raw"` // every flow, every field
	M1  Duration `yaml:"1m"`  // 1-minute roll-ups
	M5  Duration `yaml:"5m"`  // 5-minute roll-ups
	H1  Duration `yaml:"1h"`  // 1-hour roll-ups
}

const day = 24 * time.Hour

// DefaultStorage keeps data in ./yocho-data: raw flows 15 days, 1-minute roll-ups 30 days,
// 5-minute 90 days, hourly 400 days; flushed every 5 seconds.
func DefaultStorage() Storage {
	return Storage{
		Path: "./yocho-data",
		Retention: StorageRetention{
			Raw: Duration(15 * day), M1: Duration(30 * day), M5: Duration(90 * day), H1: Duration(400 * day),
		},
		FlushInterval: Duration(5 * time.Second),
		QueueFlows:    1 << 20,
	}
}

func (s *Storage) validate() error {
	if s.Path == "" {
		return fmt.Errorf("storage.path: empty")
	}
	for _, r := range []struct {
		key string
		d   Duration
	}{{"raw", s.Retention.Raw}, {"1m", s.Retention.M1}, {"5m", s.Retention.M5}, {"1h", s.Retention.H1}} {
		if r.d.D() < time.Hour {
			return fmt.Errorf("storage.retention.%s: %s is too short (at least 1h)", r.key, r.d.D())
		}
	}
	if f := s.FlushInterval.D(); f < 100*time.Millisecond || f > 10*time.Minute {
		return fmt.Errorf("storage.flush_interval: %s is out of range (100ms to 10m)", f)
	}
	if s.QueueFlows < 4096 || s.QueueFlows > 1<<28 {
		return fmt.Errorf("storage.queue_flows: %d is out of range (4096 to %d)", s.QueueFlows, 1<<28)
	}
	return nil
}
