package queue

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// OPS-3 (ops26 2): the holder of a database's lock is named from
// /proc/locks by the file's device (major:minor) and inode together.
// A lock on another file of the same inode on another filesystem —
// another mount's queue.db, any file — is not the database's, and its
// holder was named by inode alone (lockDB's refusal, LockHolder).
func TestLockHolderMatchesDeviceAndInode(t *testing.T) {
	db := filepath.Join(t.TempDir(), "queue.db")
	if err := os.WriteFile(db, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(db, &st); err != nil {
		t.Fatal(err)
	}
	file := lockedFileAt(db, &st)
	other := file.major + 1
	locks := filepath.Join(t.TempDir(), "locks")
	line := func(n, kind string, pid int, major, minor, ino uint64) string {
		return fmt.Sprintf("%s: FLOCK  ADVISORY  %s %d %02x:%02x:%d 0 EOF\n", n, kind, pid, major, minor, ino)
	}
	cases := []struct {
		name   string
		text   string
		kinds  []string
		pid    int
		listed bool
	}{
		{"another device's file of the same inode only", line("1", "WRITE", 111, other, file.minor, file.ino), []string{"WRITE"}, 0, false},
		{"another device's first, then the database's", line("1", "WRITE", 111, other, file.minor, file.ino) +
			line("2", "WRITE", 222, file.major, file.minor, file.ino), []string{"WRITE"}, 222, true},
		{"a read lock when no write lock", line("1", "WRITE", 111, other, file.minor, file.ino) +
			line("2", "READ", 333, file.major, file.minor, file.ino), []string{"WRITE", "READ"}, 333, true},
		{"a write lock before a read lock", line("1", "READ", 333, file.major, file.minor, file.ino) +
			line("2", "WRITE", 222, file.major, file.minor, file.ino), []string{"WRITE", "READ"}, 222, true},
		{"a POSIX lock is not bbolt's", fmt.Sprintf("1: POSIX  ADVISORY  WRITE 444 %02x:%02x:%d 0 EOF\n", file.major, file.minor, file.ino),
			[]string{"WRITE"}, 0, false},
	}
	for _, c := range cases {
		if err := os.WriteFile(locks, []byte(c.text), 0o644); err != nil {
			t.Fatal(err)
		}
		pid, listed, err := listedLock(locks, file, c.kinds...)
		if err != nil || pid != c.pid || listed != c.listed {
			t.Errorf("%s: listedLock = %d, %v, %v; want %d, %v", c.name, pid, listed, err, c.pid, c.listed)
		}
	}
	// Every reader of the list goes through it: lockDB's refusal names
	// no holder of another device's file.
	old := procLocks
	procLocks = locks
	defer func() { procLocks = old }()
	if err := os.WriteFile(locks, []byte(line("1", "WRITE", 111, other, file.minor, file.ino)), 0o644); err != nil {
		t.Fatal(err)
	}
	if pid := flockHolderOf(db, &st); pid != 0 {
		t.Errorf("flockHolderOf named pid %d, the holder of another device's file of the same inode", pid)
	}
	if pid, listed := flockListed(db, st.Ino); listed || pid != 0 {
		t.Errorf("flockListed = %d, %v for another device's file", pid, listed)
	}
	// The list not readable (ProcSubset=pid): an error, not "not listed".
	if _, _, err := listedLock(filepath.Join(t.TempDir(), "none"), file, "WRITE"); err == nil {
		t.Error("listedLock of a missing list: no error")
	}
}
