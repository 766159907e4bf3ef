package queue

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// OPS-3 (rr-dbfix30 F3): the place of a command's file is judged on
// the directory it holds, by device and inode up its own parents, not
// by a path: a directory the path leads into since (a link put at its
// name) is not the one the file is written in.
func TestOPS3HeldDepthJudgesTheDirectoryHeld(t *testing.T) {
	base := t.TempDir()
	spool := filepath.Join(base, "spool")
	deep := filepath.Join(spool, "a", "b")
	out := filepath.Join(base, "out")
	for _, d := range []string{deep, out} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	hold := func(d string) *os.File {
		f, err := os.Open(d)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	if d := HeldDepth(hold(deep), spool); d != 2 {
		t.Errorf("a directory two levels inside the spool: depth %d, want 2", d)
	}
	if d := HeldDepth(hold(spool), spool); d != 0 {
		t.Errorf("the spool itself: depth %d, want 0", d)
	}
	if d := HeldDepth(hold(out), spool); d != -1 {
		t.Errorf("a directory outside the spool: depth %d, want -1", d)
	}
	if d := HeldDepth(hold(out), filepath.Join(base, "none")); d != -1 {
		t.Errorf("a place that does not exist: depth %d, want -1", d)
	}
	// Held, then moved and a link into the spool put at its name: the
	// path now leads into the spool, the directory held does not lie
	// there.
	held := hold(out)
	if err := os.Rename(out, out+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(deep, out); err != nil {
		t.Fatal(err)
	}
	if d := HeldDepth(held, spool); d != -1 {
		t.Errorf("the held directory, its name now a link into the spool: depth %d, want -1", d)
	}
	if d := HeldDepth(hold(out), spool); d != 2 {
		t.Errorf("the directory the link leads to, held: depth %d, want 2", d)
	}
}

// Q-4 (rr-dbfix30 F2): CreateTempIn's copy is linked in the directory
// held; a directory its path no longer names refuses the link, and Close
// removes the copy from the directory held.
func TestQ4TempInRefusesALinkThroughAReplacedDirectory(t *testing.T) {
	base := t.TempDir()
	dir, other := filepath.Join(base, "d"), filepath.Join(base, "other")
	os.Mkdir(dir, 0o750)
	os.Mkdir(other, 0o750)
	tmp, err := CreateTempIn(dir, TempInOptions{Prefix: ".x-", Suffix: ".eml"})
	if err != nil {
		t.Fatal(err)
	}
	tmp.WriteString("body")
	os.Rename(dir, dir+".moved")
	os.Symlink(other, dir)
	if err := tmp.Link("m.eml"); !errors.Is(err, ErrDirReplaced) {
		t.Errorf("link through a replaced directory: %v, want ErrDirReplaced", err)
	}
	tmp.Close()
	for _, d := range []string{dir + ".moved", other} {
		if ents, _ := os.ReadDir(d); len(ents) != 0 {
			t.Errorf("%s holds %s after the refused link", d, ents[0].Name())
		}
	}
}
