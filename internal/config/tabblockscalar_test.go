package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3 (config check): atTab takes the first line at or after yaml.v3's line
// whose leading white space holds a tab — but a tab after a block
// scalar's indentation is the scalar's content (legal), so a literal
// line "    \tb" is taken for the tab that violates indentation and the
// error stays a line before the tab's own line.
func TestTabAfterABlockScalarsTabbedContent(t *testing.T) {
	f := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(f, []byte("server:\n  name: x\n  banner: |\n    a\n    \tb\n\trole: hub\n"), 0o600)
	_, err := Load(f)
	if err == nil || !strings.Contains(err.Error(), "c.yaml:6: ") {
		t.Errorf("%v; want the tab's error at c.yaml:6", err)
	}
}
