package filelimit

import (
	"os"
	"path/filepath"
	"testing"
)

// OPS-5 (rt28c F2): a version read within RacyWindow of the file's
// change vouches for nothing (a second write in the same tick keeps
// every stat field): it is read again at the next look. Read later,
// its stat vouches; a changed content differs whatever the stat, and a
// stale version (a reload) is read again but compares by content.
func TestVersionRacyAndContent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	os.WriteFile(path, []byte("one\n"), 0o600)
	_, v, err := ReadVersion(path, 1<<10, "a file")
	if err != nil {
		t.Fatal(err)
	}
	if v.Unchanged(path) {
		t.Error("a version read just after the file's change is taken as unchanged by its stat")
	}
	v.racy = false // as if read RacyWindow later
	if !v.Unchanged(path) {
		t.Error("the same file, its stat unchanged, is taken as changed")
	}
	if v.Stale().Unchanged(path) {
		t.Error("a stale version (a reload) is not read again")
	}
	_, w, _ := ReadVersion(path, 1<<10, "a file")
	if !w.SameContent(v) || !w.Same(v) {
		t.Error("the same file read twice differs")
	}
	os.WriteFile(path, []byte("two\n"), 0o600)
	_, x, _ := ReadVersion(path, 1<<10, "a file")
	if x.SameContent(v) {
		t.Error("another content compares the same")
	}
	if (Version{}).SameContent(Version{}) || (Version{}).Unchanged(path) {
		t.Error("the zero version is of a file")
	}
}
