package tracking

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-4: the log is opened without following a symbolic link at its
// path: a dangling one made Open create its target elsewhere, one that
// resolves wrote there and rotated the link. Both are refused, in one
// sentence naming the link and its target, by Open and CheckPath alike,
// and nothing is created.
func TestOPS4OpenRefusesASymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere.log")
	link := filepath.Join(dir, "track.log")
	os.Symlink(target, link)
	for _, what := range []string{"dangling", "resolving"} {
		if what == "resolving" {
			os.WriteFile(target, nil, 0o600)
		}
		l, err := Open(link, 1<<20, 3)
		if err == nil {
			l.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "tracking log "+link+" is a symbolic link (to "+target+")") {
			t.Errorf("Open of a %s link: %v", what, err)
		}
		if err := CheckPath(link, 3); err == nil || !strings.Contains(err.Error(), "is a symbolic link") {
			t.Errorf("CheckPath of a %s link: %v", what, err)
		}
		if what == "dangling" {
			if _, err := os.Lstat(target); err == nil {
				t.Errorf("Open created the dangling link's target")
			}
		}
	}
}
