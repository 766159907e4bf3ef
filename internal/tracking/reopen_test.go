package tracking

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An outside rotation (logrotate: the file renamed, a new one created or
// not, the renamed one compressed and removed) is followed: the next
// event goes to a file at the configured path, not to the moved one
// (rt58 F3). Reopen (SIGHUP) does it at once.
func TestOutsideRotationFollowed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tracking.log")
	l, err := Open(path, 1<<20, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	has := func(p, id string) bool { b, _ := os.ReadFile(p); return strings.Contains(string(b), `"`+id+`"`) }

	l.Write(Entry{Event: "receive", ID: "A1"})
	// dateext without create: moved, no new file.
	os.Rename(path, path+"-1")
	l.Write(Entry{Event: "receive", ID: "B2"})
	if !has(path, "B2") || has(path+"-1", "B2") {
		t.Error("an event after the log was moved went to the moved file")
	}
	// create: moved, a new empty file made by the rotation.
	os.Rename(path, path+"-2")
	os.WriteFile(path, nil, 0o640)
	l.Write(Entry{Event: "receive", ID: "C3"})
	if !has(path, "C3") || has(path+"-2", "C3") {
		t.Error("an event after the log was replaced went to the moved file")
	}
	// Reopen (postrotate kill -HUP), then removed (compressed away).
	os.Rename(path, path+"-3")
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	os.Remove(path + "-3")
	l.Write(Entry{Event: "receive", ID: "D4"})
	if !has(path, "D4") {
		t.Error("an event after Reopen is not in the log")
	}
}
