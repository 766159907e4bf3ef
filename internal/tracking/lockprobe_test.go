package tracking

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SPEC OPS-4: a log whose rotation names (path.1 … path.max_files)
// include another daemon's live, locked tracking log never renames or
// deletes it: the rotation is skipped (the log keeps writing its file);
// Open and CheckPath refuse such a path, and a path that is a rotation
// name of a path another log holds.
func TestRotationSparesAnotherLogsLockedFile(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(filepath.Join(dir, "trk.1"), 1<<20, 3) // the other daemon's
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.Write(Entry{Time: time.Now(), Event: "receive", ID: "A"})
	held, err := os.Stat(filepath.Join(dir, "trk.1"))
	if err != nil {
		t.Fatal(err)
	}

	// config check cannot tell this from its own daemon's file moved
	// aside (TestOPS4CheckPathOwnMovedFileIsNotAnotherDaemons): it says
	// nothing; the start refuses.
	if err := CheckPath(filepath.Join(dir, "trk"), 3); err != nil {
		t.Errorf("CheckPath of a path whose rotation name another log holds: %v, want left to the start", err)
	}
	if b, err := Open(filepath.Join(dir, "trk"), 4<<10, 3); err == nil {
		b.Close()
		t.Errorf("Open of a path whose rotation name another log holds: accepted")
	}

	// A log opened before the other took its name (a file made after
	// the check): its rotation leaves the held file alone.
	a.Close()
	b, err := Open(filepath.Join(dir, "trk"), 4<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// The other daemon's file, held as its log holds it (Open refuses
	// the name now that trk is held: lock it by hand).
	af, err := os.OpenFile(filepath.Join(dir, "trk.1"), os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer af.Close()
	if err := lock(af.Name(), af); err != nil {
		t.Fatal(err)
	}
	for i := range 200 { // bounded: well past several rotations of 4 KiB
		b.Write(Entry{Time: time.Now(), Event: "receive", ID: "B", Sender: strings.Repeat("s", 40) + string(rune('a'+i%26))})
	}
	now, err := os.Stat(filepath.Join(dir, "trk.1"))
	if err != nil || !os.SameFile(held, now) {
		t.Fatalf("the other log's file was renamed or deleted by the rotation (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "trk.2")); err == nil {
		t.Errorf("trk.2 exists: the rotation renamed the other log's file")
	}

	// A path that is a rotation name of a path another log holds.
	if err := CheckPath(filepath.Join(dir, "trk.2"), 3); err == nil || !strings.Contains(err.Error(), "trk") {
		t.Errorf("CheckPath of trk.2 while another log holds trk: %v, want refused", err)
	}
}
