package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3 (rt33c F2): a tab in a line's indentation was reported at the
// last content line before it (yaml.v3's context), not at the tab's own
// line: after blank lines, line 4 for a tab on line 8.
func TestOPS3TabIndentationAtItsLine(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		text string
		line string
	}{
		{"server:\n  name: x\n  role: hub\n  data_dir: d\n\n\n\n\tfoo: 1\n", "c.yaml:8: "},
		{"server:\n  name: x\n\trole: hub\n", "c.yaml:3: "},
		{"server:\n  name: x\n  role: hub\n  # note\n\n \tdata_dir: d\n", "c.yaml:6: "},
	} {
		f := filepath.Join(dir, "c.yaml")
		os.WriteFile(f, []byte(tc.text), 0o600)
		_, err := Load(f)
		if err == nil || !strings.Contains(err.Error(), tc.line) {
			t.Errorf("%q: %v; want the tab's error at %s", tc.text, err, tc.line)
		}
	}
}
