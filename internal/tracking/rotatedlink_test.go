package tracking

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-4, OPS-5 (rt30c F2): a symbolic link at a rotated name
// (tracking.log.1 -> tracking.log-20261205, an outside rotation's
// naming) is accepted by the daemon, which never writes through it, and
// skipped by umbra track. The skip said "set tracking.path to the file
// itself" — advice about a link at tracking.path, which is right here —
// so the operator was told to fix what was not broken and not where
// the events are. It says the true reason: track follows no link; it
// names the link and the file it leads to, to be read directly.
func TestOPS4SearchSkipsRotatedLinkWithItsReason(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tracking.log")
	os.WriteFile(path, []byte(`{"time":"2026-12-05T03:04:06Z","event":"receive","msg_id":"own","sender":"y@ex.test"}`+"\n"), 0o600)
	rotated := filepath.Join(dir, "tracking.log-20261205")
	os.WriteFile(rotated, []byte(`{"time":"2026-12-04T03:04:05Z","event":"receive","msg_id":"old","sender":"x@ex.test"}`+"\n"), 0o600)
	if err := os.Symlink("tracking.log-20261205", path+".1"); err != nil {
		t.Fatal(err)
	}
	_, err := Search(path, 3, Query{})
	var p *Partial
	if !errors.As(err, &p) || len(p.Skipped) != 1 || p.Skipped[0].Name != path+".1" {
		t.Fatalf("Search with a link at %s.1: %v; want it skipped", path, err)
	}
	msg := p.Skipped[0].Err.Error()
	if strings.Contains(msg, "set tracking.path") {
		t.Errorf("the skip of a link at a rotated name tells to change tracking.path, which is right: %s", msg)
	}
	for _, want := range []string{path + ".1 is a symbolic link (to tracking.log-20261205)", "umbra track follows no symbolic link", rotated} {
		if !strings.Contains(msg, want) {
			t.Errorf("skip %q does not say %q", msg, want)
		}
	}
	// A link at tracking.path itself keeps its advice: the daemon
	// refuses it.
	os.Rename(path, filepath.Join(dir, "real.log"))
	os.Symlink("real.log", path)
	_, err = Search(path, 3, Query{})
	if !errors.As(err, &p) || len(p.Skipped) != 2 || !strings.Contains(p.Skipped[1].Err.Error(), "set tracking.path to the file itself") {
		t.Errorf("Search with a link at tracking.path: %v; want the tracking.path advice", err)
	}
}
