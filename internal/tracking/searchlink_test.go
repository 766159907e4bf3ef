package tracking

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-4, OPS-5 (umbra track): the daemon never writes its log through a
// symbolic link at tracking.path or a rotated name (Open refuses it,
// linkRefused), but Search opened every name following a link: a link
// at the path, or at tracking.log.1, had track show another file's
// lines as the log's — a file anywhere the link led, read as the user
// running track (root). Search opens each name by the daemon's rule
// (O_NOFOLLOW, the opened file's one stat): a link is skipped, named
// in linkRefused's words, and the other files answer.
func TestOPS4SearchFollowsNoLink(t *testing.T) {
	dir := t.TempDir()
	elsewhere := filepath.Join(t.TempDir(), "other.log")
	os.WriteFile(elsewhere, []byte(`{"time":"2026-01-02T03:04:05Z","event":"receive","msg_id":"other","sender":"x@ex.test"}`+"\n"), 0o600)
	path := filepath.Join(dir, "tracking.log")
	for _, at := range []string{path, path + ".1"} {
		t.Run(filepath.Base(at), func(t *testing.T) {
			os.Remove(path)
			os.Remove(path + ".1")
			if at != path {
				os.WriteFile(path, []byte(`{"time":"2026-01-02T03:04:06Z","event":"receive","msg_id":"own","sender":"y@ex.test"}`+"\n"), 0o600)
			}
			if err := os.Symlink(elsewhere, at); err != nil {
				t.Fatal(err)
			}
			es, err := Search(path, 3, Query{})
			for _, e := range es {
				if e.ID == "other" {
					t.Errorf("Search read the file the link %s leads to: %+v", at, e)
				}
			}
			var p *Partial
			if !errors.As(err, &p) || len(p.Skipped) != 1 || p.Skipped[0].Name != at ||
				!strings.Contains(p.Skipped[0].Err.Error(), "is a symbolic link (to "+elsewhere+")") {
				t.Errorf("Search with a link at %s: %v; want it skipped as a symbolic link", at, err)
			}
			if at != path && (len(es) != 1 || es[0].ID != "own") {
				t.Errorf("Search with a link at %s: entries %+v, want the log's own", at, es)
			}
		})
	}
}
