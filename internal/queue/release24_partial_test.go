package queue

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// OPS-3 (rr-sockadm25 F3): a release-24 `umbra db backup` (or message export)
// still running when the package is upgraded names its partial copy
// with its pid and takes no lock (os.CreateTemp). A release-25 backup
// to the same file then removes that live copy: its lock is free. The
// release-24 writer fails at its mark or link (ENOENT), and the
// operator's backup is lost. Here the "release-24 writer" is this
// process, alive, holding the file open without a lock.
func TestLiveRelease24PartialKept(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "x.db")
	f, err := os.CreateTemp(dir, partialPrefix(target)+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("pages of a backup being written by release 24")
	// A release-24 copy whose writer is gone (its pid names no process)
	// is still removed, as release 24 removed it.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead := partialPrefix(target) + strconv.Itoa(gone.Process.Pid) + "-1"
	if err := os.WriteFile(filepath.Join(dir, dead), []byte("left"), 0o600); err != nil {
		t.Fatal(err)
	}
	st := RemoveStalePartials(target)
	if len(st.Removed) != 1 || filepath.Base(st.Removed[0].Path) != dead {
		t.Errorf("removed %+v, want %s alone (its release-24 writer is gone)", st.Removed, dead)
	}
	if _, err := os.Stat(f.Name()); err != nil {
		t.Errorf("the partial copy of a live release-24 backup (pid %d, alive) was removed: %v (removed %+v)", os.Getpid(), err, st.Removed)
	}
}
