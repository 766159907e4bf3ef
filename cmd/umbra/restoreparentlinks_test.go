package main

import (
	"os"
	"path/filepath"
	"testing"
)

// OPS-3 (ops27 4): db restore, run as root into a missing data
// directory, makes it and the directories missing above it, then sets
// their modes. A directory above the data directory may lie in one
// another user can write (/tmp, a shared mount): a name planted there
// between the look and the mkdir — a symlink to a directory elsewhere —
// was taken as made (EEXIST passed), chmod'ed through the link (the
// target's mode changed, here 0700 to 0755) and the data directory made
// inside the target. As with every file made in the data directory
// (datadirfiles.go), a directory the restore makes is made by it or the
// restore is refused, and its mode is set on the directory opened
// without following a link: nothing outside is changed or made.
func TestRestoreParentsNotMadeThroughAPlantedLink(t *testing.T) {
	dir := t.TempDir()
	victim := t.TempDir()
	if err := os.Chmod(victim, 0o700); err != nil {
		t.Fatal(err)
	}
	parent := filepath.Join(dir, "umbra")
	data := filepath.Join(parent, "data")
	restoreMkdirStep = func(p string) {
		if p == parent {
			os.Symlink(victim, parent) // planted between the look and the mkdir
		}
	}
	defer func() { restoreMkdirStep = nil }()
	rd := &restoreDir{dir: data}
	err := rd.mkdir()
	if err == nil {
		t.Errorf("the data directory was made under a planted symlink")
	}
	if fi, _ := os.Stat(victim); fi.Mode().Perm() != 0o700 {
		t.Errorf("the symlink's target: mode %v, want 0700 kept", fi.Mode().Perm())
	}
	if _, err := os.Lstat(filepath.Join(victim, "data")); err == nil {
		t.Errorf("the data directory was made inside the symlink's target")
	}
	if len(rd.made) != 0 {
		t.Errorf("made %v, want nothing left recorded as made", rd.made)
	}

	// Without a plant the directories are made, with their modes.
	restoreMkdirStep = nil
	os.Remove(parent)
	rd = &restoreDir{dir: data}
	if err := rd.mkdir(); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{parent: 0o755, data: 0o750} {
		if fi, err := os.Lstat(p); err != nil || !fi.IsDir() || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want a directory of mode %v", p, fi, err, want)
		}
	}
}
