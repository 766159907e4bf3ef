package queue

import (
	"errors"
	"path/filepath"
	"testing"
)

// OPS-3: the kernel's list of locks is written a page per read, and a
// line is skipped when another process lets go of a lock between two
// reads; the holder of a database went unnamed ("in use by another
// process") under load. A lock missing from one read of the list is
// looked for in the next: here the first read lacks the holder's line,
// as a skipped read does, and the second has it. (The reads were once a
// FIFO's; its writer could write the second list into the first reader's
// pipe just before that reader closed it, and the second read then waited
// for a writer forever.)
func TestOPS3LockHolderFoundWhenOneReadSkipsItsLine(t *testing.T) {
	file := lockedFile{major: 0xfe, minor: 0, ino: 9994614}
	other := "1: FLOCK  ADVISORY  WRITE 555 fe:00:1234 0 EOF\n"
	holder := "2: FLOCK  ADVISORY  WRITE 897 fe:00:9994614 0 EOF\n"
	reads := []string{other, other + holder}
	n := 0
	read := func() ([]byte, error) {
		if n >= len(reads) {
			return nil, errors.New("read past the lists")
		}
		n++
		return []byte(reads[n-1]), nil
	}
	pid, listed, err := listedLockIn(read, file, "WRITE")
	if err != nil || !listed || pid != 897 || n != 2 {
		t.Errorf("listedLock over a list whose first read skipped the holder: pid %d, listed %v, err %v after %d reads; want pid 897 at the second", pid, listed, err, n)
	}
	// A file that cannot be read says so, as before.
	if _, _, err := listedLock(filepath.Join(t.TempDir(), "none"), file, "WRITE"); err == nil {
		t.Error("listedLock of a missing list: no error")
	}
}
