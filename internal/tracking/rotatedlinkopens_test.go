package tracking

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// OPS-4: Search (umbra track) opens with O_NOFOLLOW; openRegular is what the daemon's own checks open the rotated
// names with (checkFile via checkRotated: Open at a start, CheckPath at
// config check and reload, mayRotate at each rotation). A symbolic link
// at a rotation name (tracking.log.1, to a file of tracking lines) was
// followed and accepted, and must stay so: refusing it would refuse the start
// and every rotation, the current file growing past max_size for good. The
// rotation renames and deletes names, never through a link, so the link
// endangers nothing there; only Search's reads refuse links.
func TestOPS4LinkAtRotationNameStillOpens(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tracking.log")
	elsewhere := filepath.Join(t.TempDir(), "archived.log")
	// A file of tracking lines: what the log writes.
	seed, err := Open(elsewhere, 1<<20, 1)
	if err != nil {
		t.Fatal(err)
	}
	seed.Write(Entry{Time: time.Now(), Event: "receive", ID: "0000000000000001"})
	seed.Close()
	if err := os.Symlink(elsewhere, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := CheckPath(path, 3); err != nil {
		t.Errorf("CheckPath (config check, reload) with a link at %s.1 to a tracking log: %v", path, err)
	}
	if l, err := Open(path, 1<<20, 3); err != nil {
		t.Errorf("Open (the daemon's start) with a link at %s.1 to a tracking log: %v", path, err)
	} else {
		l.Close()
	}
	// A running log: the link made after its start refuses its rotation.
	os.Remove(path + ".1")
	l, err := Open(path, 1<<20, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	os.Symlink(elsewhere, path+".1")
	l.mu.Lock()
	err = l.mayRotate()
	l.mu.Unlock()
	if err != nil && strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("rotation with a link at %s.1: refused: %v", path, err)
	}
}
