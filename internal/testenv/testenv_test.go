package testenv

import "testing"

func TestMissingSkipsOutsideCIAndFailsUnderCI(t *testing.T) {
	t.Setenv("CI", "")
	var skipped bool
	t.Run("absent", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		Tool(t, "no-such-tool-yocho")
	})
	if !skipped {
		t.Error("a missing tool did not skip the test outside CI")
	}
	t.Setenv("CI", "true")
	if !CI() {
		t.Error("CI=true not seen")
	}
	if p := Tool(t, "sh"); p == "" {
		t.Error("Tool(sh) gave no path")
	}
}
