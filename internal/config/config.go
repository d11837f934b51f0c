// Package config is yocho's one YAML configuration file: its schema, its defaults and its
// validation. An unknown key or an impossible value stops start-up with an error that names the
// key and the line. Each section lives in a file of its own; components receive their section.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration file.
type Config struct {
	Listen     Listen     `yaml:"listen"`
	HTTP       HTTP       `yaml:"http"` // the API's bearer token (http.go)
	Exporters  Exporters  `yaml:"exporters"`
	Storage    Storage    `yaml:"storage"`
	Networks   Networks   `yaml:"networks"`
	Enrich     Enrich     `yaml:"enrich"`
	Detection  Detection  `yaml:"detection"`
	Alerts     Alerts     `yaml:"alerts"`
	Notify     Notify     `yaml:"notify"`
	Mitigation Mitigation `yaml:"mitigation"`
	CnC        CnC        `yaml:"cnc"`
}

// Default is the configuration used when no file is given: everything on loopback, data in
// ./yocho-data.
func Default() Config {
	return Config{
		Listen:     DefaultListen(),
		Exporters:  DefaultExporters(),
		Storage:    DefaultStorage(),
		Networks:   DefaultNetworks(),
		Enrich:     DefaultEnrich(),
		Detection:  DefaultDetection(),
		Alerts:     DefaultAlerts(),
		Notify:     DefaultNotify(),
		Mitigation: DefaultMitigation(),
		CnC:        DefaultCnC(),
	}
}

// Load reads and validates the file at path; an empty path gives the defaults. It then reads
// the HTTP API's token from http.token_file or the environment (YOCHO_HTTP_TOKEN), and fails when
// HTTP listens beyond loopback without one.
func Load(path string) (Config, error) {
	cfg := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, err
		}
		if cfg, err = Parse(data); err != nil {
			return Config{}, fmt.Errorf("%s: %w", path, err)
		}
	}
	if err := cfg.resolveHTTP(os.Getenv, os.ReadFile, filepath.Dir(path)); err != nil {
		if path != "" {
			err = fmt.Errorf("%s: %w", path, err)
		}
		return Config{}, err
	}
	return cfg, nil
}

// Parse reads a configuration from YAML text over the defaults: keys that the text omits keep
// their default values.
func Parse(data []byte) (Config, error) {
	cfg := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, err
	}
	if err := cfg.validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// validate checks what no single value can check alone.
func (c *Config) validate() error {
	for _, check := range []func() error{c.Listen.validate, c.HTTP.validate, c.Exporters.validate, c.Storage.validate,
		c.Networks.validate, c.Enrich.validate, c.Detection.validate, c.Alerts.validate, c.Notify.validate, c.Mitigation.validate, c.CnC.validate} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// lineError is an invalid value, with the line of the file it is on.
func lineError(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("line %d: %s", n.Line, fmt.Sprintf(format, args...))
}
