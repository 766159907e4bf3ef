package queue

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
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
	held, _, pid, cmdline = LockState(path)
	return held, pid, cmdline
}

// LockState is LockHolder that also says whether the answer is known:
// false for a database this user may not open whose lock /proc/locks
// does not list. The kernel lists only the locks whose holder this
// process's pid namespace sees (rr-sockadm25 F2): a daemon run in
// another one (a container, a unit with private pids) holds its lock
// unlisted, so "not listed" may be held as well as free.
func LockState(path string) (held, known bool, pid int, cmdline string) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrPermission) {
		var st syscall.Stat_t
		if syscall.Stat(path, &st) != nil {
			return false, false, 0, ""
		}
		pid, held = flockListed(path, st.Ino)
		if !held {
			return false, false, 0, ""
		}
		if pid == 0 {
			return true, true, 0, ""
		}
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		return true, true, pid, strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
	}
	held, pid, cmdline = lockHolderOpened(f, err)
	return held, true, pid, cmdline
}

// lockHolderOpened is LockHolder for the database opened (f, err).
func lockHolderOpened(f *os.File, err error) (held bool, pid int, cmdline string) {
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
// at path, of inode ino: listed says whether there is one, pid is its
// holder. /proc/locks names the file by its superblock's device, which
// stat does not give on every filesystem (btrfs gives a subvolume's:
// rr-sockadm25 F1): the device is taken from /proc/self/mountinfo for
// the mount holding path, and when that is not found the inode alone
// is matched, on any device. The kernel lists only locks whose holder
// this process's pid namespace sees: a lock held from outside it is
// not listed at all (never "pid 0"), so "not listed" is not "not held".
func flockListed(path string, ino uint64) (pid int, listed bool) {
	dev, devKnown := mountDev(path)
	f, err := os.Open("/proc/locks")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 1: FLOCK  ADVISORY  WRITE 897 fe:00:9994614 0 EOF
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" || fields[3] != "WRITE" {
			continue
		}
		i := strings.LastIndexByte(fields[5], ':')
		if i < 0 || fields[5][i+1:] != strconv.FormatUint(ino, 10) {
			continue
		}
		if devKnown && !sameDev(fields[5][:i], dev) {
			continue
		}
		pid, _ := strconv.Atoi(fields[4])
		return pid, true
	}
	return 0, false
}

// mountDev is the device (major:minor, hex as /proc/locks prints it) of
// the mount holding path, as /proc/self/mountinfo gives it: the
// superblock's, which /proc/locks names.
func mountDev(path string) (string, bool) {
	rp, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", false
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", false
	}
	best, dev := -1, ""
	for _, line := range strings.Split(string(b), "\n") {
		// 36 35 0:31 / /var/lib rw,relatime shared:1 - btrfs /dev/vda2 rw
		fs := strings.Fields(line)
		if len(fs) < 5 {
			continue
		}
		mp := unescapeMount(fs[4])
		if mp != "/" && rp != mp && !strings.HasPrefix(rp, mp+"/") {
			continue
		}
		if len(mp) >= best { // the longest mount point; the last one mounted over it
			best, dev = len(mp), fs[2]
		}
	}
	return dev, best >= 0
}

// sameDev says whether /proc/locks' device (hex major:minor) is
// mountinfo's (decimal major:minor).
func sameDev(locks, mountinfo string) bool {
	lma, lmi, ok1 := strings.Cut(locks, ":")
	mma, mmi, ok2 := strings.Cut(mountinfo, ":")
	if !ok1 || !ok2 {
		return false
	}
	a, e1 := strconv.ParseUint(lma, 16, 32)
	b, e2 := strconv.ParseUint(lmi, 16, 32)
	c, e3 := strconv.ParseUint(mma, 10, 32)
	d, e4 := strconv.ParseUint(mmi, 10, 32)
	return e1 == nil && e2 == nil && e3 == nil && e4 == nil && a == c && b == d
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
