package queue

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// fullDisk mounts a small tmpfs of its own and fills it: a real full
// disk, nothing else on it. The test is skipped where it cannot mount
// (not root, no tmpfs). free removes the filler.
func fullDisk(t *testing.T) (dir string, free func()) {
	t.Helper()
	dir = smallDisk(t, "256k")
	return dir, fillDisk(t, dir)
}

// smallDisk mounts a tmpfs of size of its own (unmounted when the test
// ends). The test is skipped where it cannot mount (not root, no tmpfs).
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk fills the file system of dir (a smallDisk: bounded at 64 MiB
// written) with a filler file; free removes it.
func fillDisk(t *testing.T, dir string) (free func()) {
	t.Helper()
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for range 16 << 10 { // bounded: 64 MiB at most, the mounts hold a few MiB
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	for _, n := range []int{512, 1} { // the last bytes of the last page
		for range 4096 / n {
			if _, err := f.Write(buf[:n]); err != nil {
				break
			}
		}
	}
	f.Close()
	return func() {
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
	}
}

// rt51 F13: a first start on a full disk was refused as a damaged
// database (sending the operator to the damaged-database procedure) and
// left a 0-byte queue.db. It is refused as a full disk, leaves no file,
// and the start once space returns makes the database.
func TestOpenOnFullDiskSaysNoSpaceAndLeavesNoFile(t *testing.T) {
	dir, free := fullDisk(t)
	path := filepath.Join(dir, "queue.db")
	s, err := Open(path, Options{})
	if err == nil {
		s.Close()
		t.Fatal("a new database opened on a full disk")
	}
	if errors.Is(err, ErrDamaged) {
		t.Fatalf("a full disk diagnosed as a damaged database: %v", err)
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("the refusal does not say the disk is full: %v", err)
	}
	if _, serr := os.Lstat(path); !errors.Is(serr, os.ErrNotExist) {
		t.Fatalf("the refused open left %s behind (%v)", path, serr)
	}
	free()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("once space returned: %v", err)
	}
	s.Close()
}
