package queuetest

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// BreakWrites makes the writes to the database file at path fail: the
// process's read-write descriptor of it is replaced (dup2) by a
// read-only one of the same file, so bbolt's writes fail while its reads
// (the mapping) go on. The returned func puts the original back. The test
// is skipped where /proc/self/fd does not show the file.
func BreakWrites(t testing.TB, path string) (restore func()) {
	t.Helper()
	return replaceWriter(t, path, path, syscall.O_RDONLY)
}

// FillDisk makes the writes to the database file at path fail as on a
// full disk (ENOSPC): the process's read-write descriptor of it is
// replaced (dup2) by one of /dev/full, so bbolt's writes and syncs fail
// for want of room while its reads (the mapping) go on. The returned
// func puts the original back. Skipped as BreakWrites is.
func FillDisk(t testing.TB, path string) (restore func()) {
	t.Helper()
	return replaceWriter(t, path, "/dev/full", syscall.O_RDWR)
}

// replaceWriter puts a descriptor of with, opened with flag, in the
// place of the process's read-write descriptor of path.
func replaceWriter(t testing.TB, path, with string, flag int) (restore func()) {
	t.Helper()
	fd := -1
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err != nil || l != path {
			continue
		}
		info, _ := os.ReadFile("/proc/self/fdinfo/" + e.Name())
		for _, line := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(line, "flags:"); ok {
				if flags, err := strconv.ParseInt(strings.TrimSpace(v), 8, 64); err == nil && flags&syscall.O_RDWR != 0 {
					fd, _ = strconv.Atoi(e.Name())
				}
			}
		}
	}
	if fd < 0 {
		t.Skip("no /proc/self/fd view of the database file here")
	}
	saved, err := syscall.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	ro, err := syscall.Open(with, flag, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Dup2(ro, fd); err != nil {
		t.Fatal(err)
	}
	syscall.Close(ro)
	return func() {
		syscall.Dup2(saved, fd)
		syscall.Close(saved)
	}
}
