package pickup

import (
	"os"
	"path/filepath"
	"testing"

	"umbra/internal/queue"
)

// SR-12: the queue forgets a pickup message's recorded end only when
// this says its NAME.<id>.queued file is gone; a directory that is not
// there (an unmounted file system) says nothing is gone, nor does one no
// watcher used (no lock file: an unmounted file system's mount point).
func TestSR12QueuedFileGone(t *testing.T) {
	dir := t.TempDir()
	if QueuedFileGone(dir)(queue.ID(0x1234), "report.eml") {
		t.Errorf("a directory no watcher used (no lock file): gone")
	}
	release, err := Lock(dir) // the watcher's: its lock file stays in the directory
	if err != nil {
		t.Fatal(err)
	}
	release()
	id := queue.ID(0x1234)
	gone := QueuedFileGone(dir)
	f := filepath.Join(dir, "report."+id.String()+".queued")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if gone(id, "report.eml") {
		t.Errorf("%s is there: gone", filepath.Base(f))
	}
	if !gone(id+1, "report.eml") || !gone(id, "other.eml") {
		t.Errorf("another id's or name's file: not gone")
	}
	if err := os.Remove(f); err != nil {
		t.Fatal(err)
	}
	if !gone(id, "report.eml") {
		t.Errorf("removed: not gone")
	}
	if QueuedFileGone(filepath.Join(dir, "unmounted"))(id, "report.eml") {
		t.Errorf("a directory not there: gone")
	}
}
