package queue

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
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
// does not list. A db command holding its side lock (cmdlock.go) is
// the holder from its first step. The kernel lists only the locks whose holder this
// process's pid namespace sees (rr-sockadm25 F2): a daemon run in
// another one (a container, a unit with private pids) holds its lock
// unlisted, so "not listed" may be held as well as free.
func LockState(path string) (held, known bool, pid int, cmdline string) {
	// A db command holds its side lock from its first step, before it
	// locks the database (cmdlock.go): it runs, named as it wrote itself.
	if held, pid, cmdline := commandHolder(path); held {
		if cmdline == "" {
			cmdline = cmdlineOf(pid)
		}
		return true, true, pid, cmdline
	}
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
	pid = flockHolder(f.Name(), &st)
	if pid == 0 {
		return true, 0, ""
	}
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return true, pid, strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// flockHolder is the pid /proc/locks gives for the FLOCK write lock on
// the file at path (st its stat), 0 when none is listed.
func flockHolder(path string, st *syscall.Stat_t) int {
	pid, _, _ := listedLock(procLocks, lockedFileAt(path, st), "WRITE")
	return pid
}

// flockHolderOf is the holder of a write lock on the file at path (st
// its stat), else of a read lock (a read-only open: db verify, a
// restore that installs its spool), 0 when none is listed.
func flockHolderOf(path string, st *syscall.Stat_t) int {
	pid, _, _ := listedLock(procLocks, lockedFileAt(path, st), "WRITE", "READ")
	return pid
}

// flockListed looks in /proc/locks for a FLOCK write lock on the file
// at path, of inode ino: listed says whether there is one, pid is its
// holder. The kernel lists only locks whose holder this process's pid
// namespace sees: a lock held from outside it is not listed at all
// (never "pid 0"), so "not listed" is not "not held".
func flockListed(path string, ino uint64) (pid int, listed bool) {
	var st syscall.Stat_t
	if syscall.Stat(path, &st) != nil || st.Ino != ino {
		return 0, false
	}
	pid, listed, _ = listedLock(procLocks, lockedFileAt(path, &st), "WRITE")
	return pid, listed
}

// lockedFile names a file as /proc/locks does: the device of its
// filesystem's superblock (major, minor) and its inode.
type lockedFile struct {
	major, minor uint64
	ino          uint64
	// statMajor, statMinor: the device stat gave, when mountinfo named
	// another (btrfs's subvolume, or a mount looked up wrong): a lock
	// listed on it is the file's too.
	statMajor, statMinor uint64
}

// on says whether /proc/locks's device (ma, mi) is the file's.
func (f lockedFile) on(ma, mi uint64) bool {
	return (ma == f.major && mi == f.minor) || (ma == f.statMajor && mi == f.statMinor)
}

// lockedFileAt is the file at path, st its stat. /proc/locks names the
// superblock's device, which stat does not give on every filesystem
// (btrfs gives a subvolume's: rr-sockadm25 F1): the device is taken
// from /proc/self/mountinfo for the mount holding path, else from st.
func lockedFileAt(path string, st *syscall.Stat_t) lockedFile {
	f := lockedFile{major: uint64(unix.Major(uint64(st.Dev))), minor: uint64(unix.Minor(uint64(st.Dev))), ino: st.Ino}
	f.statMajor, f.statMinor = f.major, f.minor
	if dev, ok := mountDev(path); ok {
		ma, mi, _ := strings.Cut(dev, ":")
		a, e1 := strconv.ParseUint(ma, 10, 32)
		b, e2 := strconv.ParseUint(mi, 10, 32)
		if e1 == nil && e2 == nil {
			f.major, f.minor = a, b
		}
	}
	return f
}

// listedLock is the one reader of the kernel's list of locks (locks:
// /proc/locks): the pid holding a FLOCK lock of one of kinds ("WRITE",
// "READ"; the first kind listed wins) on file, matched by device
// (major:minor) and inode together — a file of the same inode on
// another filesystem is another file. listed says whether one is
// listed (its pid may still be 0: a holder in another pid namespace
// the kernel names so); err that the list cannot be read (a unit's
// ProcSubset=pid hides it): then nothing is known of the lock.
//
// The kernel writes the list a page per read, and starts each read again
// at the line count the last one reached: a lock let go meanwhile by
// another process shifts the rest up, and a line is skipped. Under load
// (many processes taking and dropping locks) the holder's own line was
// missed that way and the holder went unnamed. A lock held throughout is
// in any read that does not skip it, so a lock not found is looked for
// again, up to listReads reads in all.
func listedLock(locks string, file lockedFile, kinds ...string) (pid int, listed bool, err error) {
	return listedLockIn(func() ([]byte, error) { return os.ReadFile(locks) }, file, kinds...)
}

// listedLockIn is listedLock over the reads of the list read gives.
func listedLockIn(read func() ([]byte, error), file lockedFile, kinds ...string) (pid int, listed bool, err error) {
	for range listReads {
		b, err := read()
		if err != nil {
			return 0, false, err
		}
		if pid, listed = lockInList(b, file, kinds...); listed {
			return pid, listed, nil
		}
	}
	return 0, false, nil
}

// listReads is how many times listedLock reads the list before it says
// a lock is not there.
const listReads = 4

// lockInList finds the lock of file in one read of the list, b.
func lockInList(b []byte, file lockedFile, kinds ...string) (pid int, listed bool) {
	best := len(kinds)
	for _, line := range strings.Split(string(b), "\n") {
		// 1: FLOCK  ADVISORY  WRITE 897 fe:00:9994614 0 EOF
		// (a lock waited for: "1: -> FLOCK ..."; not held, skipped)
		fields := strings.Fields(line)
		if len(fields) < 6 || fields[1] != "FLOCK" {
			continue
		}
		k := slices.Index(kinds, fields[3])
		if k < 0 || k >= best {
			continue
		}
		dev := strings.Split(fields[5], ":")
		if len(dev) != 3 || dev[2] != strconv.FormatUint(file.ino, 10) {
			continue
		}
		ma, e1 := strconv.ParseUint(dev[0], 16, 32)
		mi, e2 := strconv.ParseUint(dev[1], 16, 32)
		if e1 != nil || e2 != nil || !file.on(ma, mi) {
			continue
		}
		p, _ := strconv.Atoi(fields[4])
		pid, listed, best = p, true, k
	}
	return pid, listed
}

// mountDev is the device (major:minor, hex as /proc/locks prints it) of
// the mount holding path, as /proc/self/mountinfo gives it: the
// superblock's, which /proc/locks names. A relative path (data_dir: d)
// is made absolute first: mount points are, and only / prefixed it, so
// a database on a tmpfs or a loop mount was looked for under the root
// filesystem's device, its holder never named (lifert39 F3).
func mountDev(path string) (string, bool) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", false
	}
	rp, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", false
	}
	b, err := os.ReadFile(procMountinfo)
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

// procLocks is where the kernel lists the locks held; a test names
// another file.
var procLocks = "/proc/locks"

// procMountinfo is where the kernel lists this process's mounts; a test
// names another file.
var procMountinfo = "/proc/self/mountinfo"
