package config

// Storage is the embedded flow store. Its owner fills this in (issue 3).
type Storage struct {
	Path string `yaml:"path"`
}

// DefaultStorage keeps data in ./yocho-data.
func DefaultStorage() Storage { return Storage{Path: "./yocho-data"} }

func (s *Storage) validate() error { return nil }
