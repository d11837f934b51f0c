package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goodToken = "3f9c2a7d8e1b4c6a9f0e2d5b7c8a1e3f"

func TestHTTPTokenValues(t *testing.T) {
	cfg, err := Parse([]byte("listen:\n  http: 0.0.0.0:8080\nhttp:\n  token: " + goodToken + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Token.Value() != goodToken {
		t.Errorf("token = %q", cfg.HTTP.Token.Value())
	}
	if s := fmt.Sprint(cfg.HTTP.Token); strings.Contains(s, goodToken) {
		t.Errorf("the token prints as %q: it must not show in logs", s)
	}
	if Default().HTTP.Token != "" {
		t.Error("the default configuration has a token")
	}
	for _, tc := range []struct{ yaml, want string }{
		{"http:\n  token: short\n", "line 2: http.token: a token of 5 characters is too short"},
		{"http:\n  token: \"3f9c2a7d 8e1b4c6a9f0e\"\n", "line 2: http.token: character 9 (' ')"},
		{"listen:\n  http: 127.0.0.1:8080\nhttp:\n\n  token: \"abcdefghijklmnop\\n\"\n", "line 5: http.token: character 17 ('\\n')"},
		{"http:\n  token: [a, b]\n", "line 2: http.token: want a string"},
		{"http:\n  token: " + goodToken + "\n  token_file: /etc/yocho/token\n", "line 3: http.token_file: set http.token or http.token_file, not both"},
		{"http:\n  tokn: " + goodToken + "\n", "line 2"},
	} {
		if _, err := Parse([]byte(tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", tc.yaml, err, tc.want)
		}
	}
}

func TestHTTPTokenResolve(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("  "+goodToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad"), []byte("tiny\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const envToken = "from-the-environment-0123456789"
	noEnv := func(string) string { return "" }
	env := func(k string) string {
		if k == TokenEnv {
			return envToken
		}
		return ""
	}
	for _, tc := range []struct {
		name, yaml string
		getenv     func(string) string
		want, err  string
	}{
		{name: "loopback needs no token", yaml: "listen:\n  http: 127.0.0.1:8080\n", getenv: noEnv},
		{name: "IPv6 loopback", yaml: "listen:\n  http: \"[::1]:8080\"\n", getenv: noEnv},
		{name: "beyond loopback without token", yaml: "listen:\n  http: 0.0.0.0:8080\n", getenv: noEnv,
			err: "listen.http: 0.0.0.0:8080 is reachable beyond loopback, so the API needs a bearer token"},
		{name: "beyond loopback, token in the file", yaml: "listen:\n  http: 192.0.2.1:8080\nhttp:\n  token: " + goodToken + "\n", getenv: noEnv, want: goodToken},
		{name: "token file, relative to the config", yaml: "listen:\n  http: \"[2001:db8::1]:8080\"\nhttp:\n  token_file: token\n", getenv: noEnv, want: goodToken},
		{name: "token file missing", yaml: "http:\n  token_file: nope\n", getenv: noEnv, err: "line 2: http.token_file: open"},
		{name: "token file with a bad token", yaml: "http:\n  token_file: bad\n", getenv: noEnv, err: "line 2: http.token_file " + filepath.Join(dir, "bad") + ": a token of 4 characters is too short"},
		{name: "environment wins", yaml: "listen:\n  http: 0.0.0.0:8080\nhttp:\n  token: " + goodToken + "\n", getenv: env, want: envToken},
		{name: "environment alone", yaml: "listen:\n  http: 0.0.0.0:8080\n", getenv: env, want: envToken},
		{name: "bad environment", yaml: "", getenv: func(string) string { return "x y" }, err: TokenEnv + ": a token of 3 characters is too short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.resolveHTTP(tc.getenv, os.ReadFile, dir)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.HTTP.Token.Value(); got != tc.want {
				t.Errorf("token %q, want %q", got, tc.want)
			}
		})
	}
}

// Load is what `yocho serve` and `yocho serve --check` call: the token's errors name the file
// and the line.
func TestLoadHTTPToken(t *testing.T) {
	t.Setenv(TokenEnv, "")
	dir := t.TempDir()
	path := filepath.Join(dir, "yocho.yaml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("listen:\n  http: 0.0.0.0:8080\n")
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path+": listen.http: 0.0.0.0:8080 is reachable beyond loopback") {
		t.Errorf("Load without a token = %v", err)
	}
	write("listen:\n  http: 0.0.0.0:8080\nhttp:\n  token: not a token\n")
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path+": line 4: http.token") {
		t.Errorf("Load with a bad token = %v", err)
	}
	t.Setenv(TokenEnv, goodToken)
	write("listen:\n  http: 0.0.0.0:8080\n")
	cfg, err := Load(path)
	if err != nil || cfg.HTTP.Token.Value() != goodToken {
		t.Errorf("Load with %s set = %v, token %q", TokenEnv, err, cfg.HTTP.Token.Value())
	}
	if cfg, err := Load(""); err != nil || cfg.HTTP.Token.Value() != goodToken {
		t.Errorf("Load(\"\") with %s set = %v, token %q", TokenEnv, err, cfg.HTTP.Token.Value())
	}
}
