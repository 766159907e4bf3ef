package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// OPS-3 (rr27 F1): a symlink planted BEFORE db restore starts, in a
// directory another user can write, is the first existing name the walk
// up from the data directory met: root made the data directory through
// it, inside the link's target. And the data directory's own name
// planted as a link to an existing directory (/etc) was followed, and
// with --owner given to the daemon's user. As the kernel's
// protected_symlinks rule: a link in a directory another user can
// write is followed only where that user cannot have put it there — a
// sticky directory (/tmp) and a link of root's or of the user running
// the command — and never in one that other users may write without
// the sticky bit; the missing directories are made from a descriptor of
// the checked prefix. An operator's own symlink (made by root in a
// directory of root's) keeps working.
func TestRestoreParentsNotMadeThroughALinkPlantedBefore(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the planted link belongs to another user")
	}
	const nobody = 65534
	shared := func(mode os.FileMode) string { // a directory like /tmp
		d := t.TempDir()
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, c := range []struct {
		name  string
		mode  os.FileMode
		owner int
	}{
		{"sticky, another user's link", 0o777 | os.ModeSticky, nobody},
		{"not sticky, root's link", 0o777, 0},
	} {
		dir, victim := shared(c.mode), t.TempDir()
		parent := filepath.Join(dir, "umbra")
		data := filepath.Join(parent, "data")
		if err := os.Symlink(victim, parent); err != nil { // planted before the restore
			t.Fatal(err)
		}
		if err := os.Lchown(parent, c.owner, c.owner); err != nil {
			t.Fatal(err)
		}
		rd := &restoreDir{dir: data}
		err := rd.mkdir()
		if _, lerr := os.Lstat(filepath.Join(victim, "data")); lerr == nil {
			t.Errorf("%s: the data directory was made inside the target of a symlink planted above it (mkdir err %v, made %v)", c.name, err, rd.made)
		}
		if err == nil {
			t.Errorf("%s: made through a planted link without an error", c.name)
		}
		if _, err := prepareRestoreDir(data, "nobody"); err == nil {
			t.Errorf("%s: prepareRestoreDir --owner took the data directory under a planted link", c.name)
		}
	}

	// The data directory's own name planted as a link to an existing
	// directory: --owner must not give that directory away.
	dir, victim := shared(0o777|os.ModeSticky), t.TempDir()
	data := filepath.Join(dir, "data")
	os.Symlink(victim, data)
	os.Lchown(data, nobody, nobody)
	if rd, err := prepareRestoreDir(data, "nobody"); err == nil {
		t.Errorf("the data directory, a link planted by another user, was taken (made %v)", rd.made)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(victim, &st); err != nil || st.Uid != 0 {
		t.Errorf("the link's target: uid %d (%v), want root's kept", st.Uid, err)
	}

	// The operator's own link, made by root in a directory of root's
	// (/var/lib/umbra -> /srv/umbra): followed, the data directory made
	// in its target.
	varlib, srv := t.TempDir(), t.TempDir()
	os.Chmod(varlib, 0o755)
	link := filepath.Join(varlib, "umbra")
	if err := os.Symlink(srv, link); err != nil {
		t.Fatal(err)
	}
	rd, err := prepareRestoreDir(filepath.Join(link, "data"), "nobody")
	if err != nil {
		t.Fatalf("the operator's own link refused: %v", err)
	}
	if fi, err := os.Lstat(filepath.Join(srv, "data")); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o750 {
		t.Errorf("the data directory under the operator's link: %v %v, want a directory of mode 0750", fi, err)
	}
	rd.undo()
	if _, err := os.Lstat(filepath.Join(srv, "data")); err == nil {
		t.Errorf("undo left the directory made")
	}
	// And an existing data directory reached through it.
	os.Mkdir(filepath.Join(srv, "data"), 0o750)
	if _, err := prepareRestoreDir(filepath.Join(link, "data"), "nobody"); err != nil {
		t.Errorf("an existing data directory behind the operator's link refused: %v", err)
	}
}
