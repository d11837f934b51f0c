// Package testenv is what tests share to face a machine that lacks something they need (a Debian
// tool, the third-party corpus): they skip with a clear message, except under CI=true, where the
// CI script has installed everything and a lack is a failure.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// CI reports whether the tests run under CI (CI=true), where nothing may be missing.
func CI() bool { return os.Getenv("CI") == "true" }

// Missing ends the test for something absent: a skip, or a failure under CI=true.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if CI() {
		tb.Fatalf("%s (CI=true: `make test` installs it)", msg)
	}
	tb.Skip(msg)
}

// Tool returns the path of a command, or ends the test as Missing when it is not installed.
func Tool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(tb, "%s is not installed: skipping", name)
	}
	return p
}
