package config

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// TokenEnv is the environment variable that gives the HTTP API's bearer token; it wins over the
// file's http.token and http.token_file.
const TokenEnv = "YOCHO_HTTP_TOKEN"

// HTTP is the access control of the HTTP API and /metrics (listen.http says where they listen).
// When listen.http is not loopback a bearer token is required: from http.token, from the file
// http.token_file, or from the environment variable YOCHO_HTTP_TOKEN.
type HTTP struct {
	// Token is the bearer token clients send ("Authorization: Bearer TOKEN").
	Token Secret `yaml:"token"`
	// TokenFile is a file that holds the token (whitespace around it is ignored), so that the
	// secret need not sit in the configuration. A relative path is read from the directory of
	// the configuration file.
	TokenFile TokenFile `yaml:"token_file"`
}

// Secret is a bearer token: 16 to 4096 characters of the token alphabet of RFC 6750 (letters,
// digits and - . _ ~ + /, then optional = padding). Its String hides it, so that a log line or an
// error message never shows it.
type Secret string

// UnmarshalYAML reads a token, naming the line when it is malformed.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return lineError(n, "http.token: want a string")
	}
	if err := checkToken(n.Value); err != nil {
		return lineError(n, "http.token: %v", err)
	}
	*s = Secret(n.Value)
	return nil
}

// String is "<redacted>" for a token that is set, "" otherwise.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "<redacted>"
}

// Value is the token itself.
func (s Secret) Value() string { return string(s) }

// TokenFile is the path of a file that holds the token, with the line it is on in the file.
type TokenFile struct {
	Path string
	line int
}

// UnmarshalYAML reads the path and remembers its line, for the errors of reading the file.
func (f *TokenFile) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || strings.TrimSpace(n.Value) == "" {
		return lineError(n, "http.token_file: want a file name")
	}
	f.Path, f.line = n.Value, n.Line
	return nil
}

// MarshalYAML writes the path.
func (f TokenFile) MarshalYAML() (any, error) { return f.Path, nil }

// checkToken says what is wrong with a token, if anything.
func checkToken(t string) error {
	if len(t) < 16 {
		return fmt.Errorf("a token of %d characters is too short (at least 16; e.g. `openssl rand -hex 24`)", len(t))
	}
	if len(t) > 4096 {
		return fmt.Errorf("a token of %d characters is too long (at most 4096)", len(t))
	}
	body := strings.TrimRight(t, "=")
	if body == "" {
		return errors.New("a token cannot be only padding (=)")
	}
	for i, r := range body {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~+/", r)
		if !ok {
			return fmt.Errorf("character %d (%q) is not allowed in a bearer token (letters, digits, - . _ ~ + / and = at the end)", i+1, r)
		}
	}
	return nil
}

func (h *HTTP) validate() error {
	if h.Token != "" && h.TokenFile.Path != "" {
		return fmt.Errorf("line %d: http.token_file: set http.token or http.token_file, not both", h.TokenFile.line)
	}
	return nil
}

// resolveHTTP completes the token from http.token_file (a relative path is read from dir) or
// from the environment (getenv(TokenEnv) wins), then requires one when listen.http is not
// loopback.
func (c *Config) resolveHTTP(getenv func(string) string, readFile func(string) ([]byte, error), dir string) error {
	h := &c.HTTP
	if p := h.TokenFile.Path; p != "" {
		if !filepath.IsAbs(p) && dir != "" {
			p = filepath.Join(dir, p)
		}
		data, err := readFile(p)
		if err != nil {
			return fmt.Errorf("line %d: http.token_file: %w", h.TokenFile.line, err)
		}
		t := strings.TrimSpace(string(data))
		if err := checkToken(t); err != nil {
			return fmt.Errorf("line %d: http.token_file %s: %v", h.TokenFile.line, p, err)
		}
		h.Token = Secret(t)
	}
	if t := getenv(TokenEnv); t != "" {
		if err := checkToken(t); err != nil {
			return fmt.Errorf("%s: %v", TokenEnv, err)
		}
		h.Token = Secret(t)
	}
	if l := c.Listen.HTTP; l != "" && h.Token == "" && !IsLoopback(string(l)) {
		return fmt.Errorf("listen.http: %s is reachable beyond loopback, so the API needs a bearer token: set http.token, http.token_file or %s", l, TokenEnv)
	}
	return nil
}

// IsLoopback reports whether a host:port listen address is on loopback only (127.0.0.0/8, ::1).
func IsLoopback(listen string) bool {
	ap, err := netip.ParseAddrPort(listen)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}
