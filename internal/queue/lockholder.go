package queue

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// LockHolder says whether another process holds the lock a running
// umbra (or an offline db command) holds on the transport database at
// path, and, where the system tells (/proc/locks on Linux), which: its
// pid and command line ("" and 0 when not told). A daemon that has
// opened its database but whose admin socket does not answer yet is
// starting (rt21c L5): the CLI tells that from "not running". The probe
// takes a shared lock for an instant and reads nothing of the file: a
// process opening the database meanwhile waits that instant (lockDB
// retries its lock: openlock.go). A user who may not open the file
// (the daemon's 0600 database, asked by a member of its socket's group:
// rr25 F4) is told from /proc/locks alone, which anyone may read.
func LockHolder(path string) (held bool, pid int, cmdline string) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrPermission) {
		var st syscall.Stat_t
		if syscall.Stat(path, &st) != nil {
			return false, 0, ""
		}
		pid, held = flockListed(uint64(st.Dev), st.Ino)
		if pid == 0 {
			return held, 0, ""
		}
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		return held, pid, strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
	}
	if err != nil {
		return false, 0, ""
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	if err == nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return false, 0, ""
	}
	if !errors.Is(err, syscall.EWOULDBLOCK) {
		return false, 0, ""
	}
	var st syscall.Stat_t
	if syscall.Fstat(int(f.Fd()), &st) != nil {
		return true, 0, ""
	}
	pid = flockHolder(st.Ino)
	if pid == 0 {
		return true, 0, ""
	}
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return true, pid, strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// flockHolder is the pid /proc/locks gives for the FLOCK write lock on
// the file of inode ino, 0 when none is listed.
func flockHolder(ino uint64) int { return flockHolderAs(ino, "WRITE") }

// flockHolderOf is the holder of a write lock on the file of inode ino,
// else of a read lock (a read-only open: db verify, a restore that
// installs its spool), 0 when none is listed.
func flockHolderOf(ino uint64) int {
	if pid := flockHolderAs(ino, "WRITE"); pid != 0 {
		return pid
	}
	return flockHolderAs(ino, "READ")
}

// flockHolderAs is the pid of a FLOCK lock of kind (WRITE, READ) on the
// file of inode ino.
func flockHolderAs(ino uint64, kind string) int {
	f, err := os.Open("/proc/locks")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 1: FLOCK  ADVISORY  WRITE 897 fe:00:9994614 0 EOF
		fs := strings.Fields(sc.Text())
		if len(fs) < 6 || fs[1] != "FLOCK" || fs[3] != kind {
			continue
		}
		dev := strings.Split(fs[5], ":")
		if len(dev) != 3 || dev[2] != strconv.FormatUint(ino, 10) {
			continue
		}
		if pid, err := strconv.Atoi(fs[4]); err == nil {
			return pid
		}
	}
	return 0
}

// flockListed looks in /proc/locks for a FLOCK write lock on the file
// of device dev and inode ino: listed says whether there is one, pid
// is its holder (0: in a pid namespace this process does not see).
func flockListed(dev, ino uint64) (pid int, listed bool) {
	f, err := os.Open("/proc/locks")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	major := (dev>>8)&0xfff | (dev>>32)&^uint64(0xfff)
	minor := dev&0xff | (dev>>12)&^uint64(0xff)
	want := fmt.Sprintf("%02x:%02x:%d", major, minor, ino)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 1: FLOCK  ADVISORY  WRITE 897 fe:00:9994614 0 EOF
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" || fields[3] != "WRITE" || fields[5] != want {
			continue
		}
		pid, _ := strconv.Atoi(fields[4])
		return pid, true
	}
	return 0, false
}
